import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { asStrataError, ERRORS, isStrataError, StrataError } from "../../src/common/errors.ts";

describe("error catalogue", () => {
  it("carries Milvus codes the SDK relies on", () => {
    const nf = new StrataError("CollectionNotFound", "collection x not found");
    assert.equal(nf.milvusCode, 100);
    assert.equal(nf.legacyCode, 4);
    assert.equal(nf.kind, "input");
    assert.equal(nf.retriable, false);
    assert.equal(new StrataError("IndexNotFound", "x").legacyCode, 25);
    assert.equal(new StrataError("ParameterInvalid", "x").milvusCode, 1100);
  });

  it("never reports success for a failure: every legacy code is non-zero", () => {
    for (const [name, e] of Object.entries(ERRORS)) assert.notEqual(e.legacyCode, 0, name);
    for (const [name, e] of Object.entries(ERRORS)) assert.notEqual(e.milvusCode, 0, name);
  });

  it("wraps foreign errors as system errors and keeps StrataErrors", () => {
    const own = new StrataError("KeyNotFound", "k");
    assert.equal(asStrataError(own, "IoFailed", "ctx"), own);
    const w = asStrataError(new Error("disk on fire"), "IoFailed", "writing x");
    assert.ok(isStrataError(w, "IoFailed"));
    assert.equal(w.message, "writing x: disk on fire");
    assert.equal(w.retriable, true);
    assert.ok(w.cause instanceof Error);
  });
});

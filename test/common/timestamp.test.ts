import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { composeTs, logicalOf, MAX_LOGICAL, physicalOf, subtractMs } from "../../src/common/timestamp.ts";
import { rng } from "../helpers/env.ts";

describe("hybrid timestamps", () => {
  it("pack physical ms above 18 logical bits and unpack exactly", () => {
    const r = rng(7);
    for (let i = 0; i < 1000; i++) {
      const p = Math.floor(r() * 2 ** 44);
      const l = Math.floor(r() * (MAX_LOGICAL + 1));
      const ts = composeTs(p, l);
      assert.equal(ts, BigInt(p) * 262144n + BigInt(l));
      assert.equal(physicalOf(ts), p);
      assert.equal(logicalOf(ts), l);
    }
  });

  it("order by physical, then logical", () => {
    assert.ok(composeTs(10, MAX_LOGICAL) < composeTs(11, 0));
    assert.ok(composeTs(10, 1) > composeTs(10, 0));
  });

  it("reject out-of-range parts", () => {
    assert.throws(() => composeTs(-1, 0), RangeError);
    assert.throws(() => composeTs(1, MAX_LOGICAL + 1), RangeError);
    assert.throws(() => composeTs(1.5, 0), RangeError);
  });

  it("subtract milliseconds for bounded staleness", () => {
    assert.equal(subtractMs(composeTs(10_000, 55), 5000), composeTs(5000, 0));
    assert.equal(subtractMs(composeTs(100, 0), 5000), 0n);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isStrataError } from "../../src/common/errors.ts";
import { compileFilter, evaluate } from "../../src/expr/index.ts";
import { predArb, rowArb, schema, toColumns } from "./gen.ts";
import { refPred, renderPred } from "./reference.ts";

const SEED = 20240611;

describe("evaluate agrees with a row-by-row reference interpreter", () => {
  it("on random expressions over random tables (fixed seed, 6000 runs)", () => {
    let checkedRows = 0;
    fc.assert(
      fc.property(predArb(3), fc.array(rowArb, { maxLength: 12 }), (pred, rows) => {
        const text = renderPred(pred);
        const plan = compileFilter(text, schema);
        const got = evaluate(plan, toColumns(rows), rows.length);
        assert.equal(got.length, rows.length);
        for (let i = 0; i < rows.length; i++) {
          const want = refPred(pred, rows[i]!) ? 1 : 0;
          if (got[i] !== want) {
            assert.fail(`seed ${SEED}: row ${i} of ${text}: evaluate=${got[i]} reference=${want}`);
          }
        }
        checkedRows += rows.length;
      }),
      { seed: SEED, numRuns: 6000 },
    );
    assert.ok(checkedRows > 20000, `only ${checkedRows} rows checked`);
  });

  it("every generated expression also matches when the table is empty", () => {
    fc.assert(
      fc.property(predArb(2), (pred) => {
        const plan = compileFilter(renderPred(pred), schema);
        assert.equal(evaluate(plan, toColumns([]), 0).length, 0);
      }),
      { seed: SEED + 1, numRuns: 200 },
    );
  });
});

describe("robustness on arbitrary text", () => {
  const alphabet = fc.constantFrom(
    ..."()[]{},+-*/%<>=!&|\"' \\.0123456789eEx_".split(""),
    "a",
    "i32",
    "s",
    "meta",
    "arr",
    " and ",
    " or ",
    " not ",
    " in ",
    " like ",
    " is null",
    "exists ",
    "array_contains(",
    "json_contains_all(",
    "array_length(",
    "true",
    "😀",
  );
  it("parse+plan either succeed or throw a StrataError input error; evaluation of a plan never throws", () => {
    const rowsArb = fc.array(rowArb, { maxLength: 4 });
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 30 }), rowsArb, (parts, rows) => {
        const text = parts.join("");
        let plan: ReturnType<typeof compileFilter>;
        try {
          plan = compileFilter(text, schema);
        } catch (e) {
          if (!isStrataError(e, "ParameterInvalid") && !isStrataError(e, "ParameterTooLarge")) {
            assert.fail(`seed ${SEED + 2}: ${JSON.stringify(text)} threw ${String(e)}`);
          }
          return;
        }
        evaluate(plan, toColumns(rows), rows.length);
      }),
      { seed: SEED + 2, numRuns: 3000 },
    );
  });
});

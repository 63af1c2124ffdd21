import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseJson, RawJson, stringifyJson } from "../../../src/api/rest/json.ts";
import { float32Out, Int64Out } from "../../../src/api/rest/values.ts";

const SEED = Number(process.env.STRATA_TEST_SEED ?? 424242);

describe("REST JSON codec", () => {
  it("keeps integers beyond 2^53 exact, everything else as JSON.parse reads it", () => {
    assert.equal(parseJson("9007199254740993"), 9007199254740993n);
    assert.deepEqual(parseJson('{"id":[-9223372036854775808, 9223372036854775807]}'), {
      id: [-9223372036854775808n, 9223372036854775807n],
    });
    assert.deepEqual(parseJson("[9007199254740991, 1]"), [9007199254740991, 1], "safe 16 digits: a number");
    assert.deepEqual(parseJson("[12345678901234567890, 1234567890123456.5, 1.2345678901234567e30]"), [
      12345678901234567890n,
      1234567890123456.5,
      1.2345678901234567e30,
    ]);
    // A long fraction is not an integer: the native parser handles such bodies.
    assert.deepEqual(parseJson("[0.84231587321487981234]"), [0.8423158732148798]);
    const obj = parseJson('{"__proto__": {"x": 1}, "n": 12345678901234567890}') as Record<string, unknown>;
    assert.ok(Object.hasOwn(obj, "__proto__"), "__proto__ stays an own key");
    assert.equal(Object.getPrototypeOf(obj), Object.prototype);
  });

  it("the lossless parser agrees with JSON.parse on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        // The leading long integer forces the hand-written parser for the whole document.
        const got = parseJson(`[12345678901234567890, ${text}]`) as unknown[];
        assert.equal(got[0], 12345678901234567890n);
        // Unsafe integers are bigints here; as numbers they round exactly as JSON.parse rounds them.
        const asNumbers = (v: unknown): unknown => {
          if (typeof v === "bigint") {
            assert.ok(!Number.isSafeInteger(Number(v)), `${v} is outside the safe range`);
            return Number(v);
          }
          if (Array.isArray(v)) return v.map(asNumbers);
          if (v !== null && typeof v === "object")
            return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asNumbers(x)]));
          return v;
        };
        assert.deepEqual(asNumbers(got[1]), JSON.parse(text));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("refuses malformed JSON on both paths", () => {
    for (const text of [
      '{"a": 1',
      "[12345678901234567890,",
      '{"a": 12345678901234567890,}',
      "[12345678901234567890] x",
      '["12345678901234567890',
      "[12345678901234567890, tru]",
      `${"[".repeat(2000)}12345678901234567890${"]".repeat(2000)}`,
    ]) {
      assert.throws(() => parseJson(text), SyntaxError, text.slice(0, 40));
    }
  });

  it("serialises as JSON.stringify does, plus exact bigints and raw fragments", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        assert.equal(stringifyJson(v), JSON.stringify(v));
      }),
      { seed: SEED, numRuns: 500 },
    );
    assert.equal(
      stringifyJson({
        a: 12345678901234567890n,
        b: new RawJson("1.5"),
        c: undefined,
        d: [undefined, Number.NaN],
      }),
      '{"a":12345678901234567890,"b":1.5,"d":[null,null]}',
    );
  });

  it("writes a float32 as its shortest decimal", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (f) => {
        const x = float32Out(f);
        assert.equal(Math.fround(x), Math.fround(f), "reads back to the same float32");
        if (!Number.isInteger(x)) {
          const digits = (x.toExponential().split("e")[0] ?? "").replace(/[-.]/g, "").length;
          assert.ok(digits <= 9, `${x} has ${digits} digits`);
          if (digits > 1)
            assert.notEqual(
              Math.fround(Number(x.toPrecision(digits - 1))),
              Math.fround(f),
              `${x} is not the shortest`,
            );
        }
      }),
      { seed: SEED, numRuns: 2000 },
    );
    assert.equal(float32Out(Math.fround(0.1)), 0.1);
    assert.equal(float32Out(0.99399906), 0.99399906);
  });

  it("reads Accept-Type-Allow-Int64 as Go's ParseBool, defaulting to numbers", () => {
    for (const h of ["false", "0", "f", "F", "FALSE", "False"])
      assert.equal(Int64Out.fromHeader(h).value(5n), "5");
    for (const h of ["true", "1", "T", undefined, "maybe"]) {
      const v = Int64Out.fromHeader(h).value(1n << 60n);
      assert.ok(v instanceof RawJson);
      assert.equal(stringifyJson({ id: v }), `{"id":${1n << 60n}}`);
    }
  });
});

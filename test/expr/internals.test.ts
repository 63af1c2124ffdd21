import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseJson, parseJsonExact, walkPath } from "../../src/expr/json.ts";
import { compileLike } from "../../src/expr/like.ts";
import { cmpNum, cmpStr, deepEqual, ValueIndex } from "../../src/expr/values.ts";

const SEED = 4242;

describe("cmpStr orders strings by code point (UTF-8 bytes), not UTF-16 units", () => {
  it("puts U+E000 before an astral character, unlike JS <", () => {
    assert.ok("😀" < "\uE000");
    assert.equal(cmpStr("\uE000", "😀"), -1);
    assert.equal(cmpStr("😀", "\uE000"), 1);
    assert.equal(cmpStr("a😀", "a\uFFFF"), 1);
    assert.equal(cmpStr("", "a"), -1);
    assert.equal(cmpStr("ab", "ab"), 0);
  });

  it("agrees with Buffer.compare on random strings", () => {
    const unit = fc.constantFrom("a", "z", "é", "\u07FF", "\uD7FF", "\uE000", "\uFFFF", "😀", "𝄞", "\u0000");
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 6 }), fc.string({ unit, maxLength: 6 }), (a, b) => {
        assert.equal(cmpStr(a, b), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });
});

describe("cmpNum compares doubles and int64s exactly", () => {
  it("handles the cases a double round trip gets wrong", () => {
    assert.equal(cmpNum(2 ** 53, 2n ** 53n + 1n), -1);
    assert.equal(cmpNum(2n ** 53n + 1n, 2 ** 53), 1);
    assert.equal(cmpNum(2 ** 63, 2n ** 63n - 1n), 1);
    assert.equal(cmpNum(-(2 ** 63), -(2n ** 63n)), 0);
    assert.equal(cmpNum(1.5, 1n), 1);
    assert.equal(cmpNum(Number.NaN, 1n), 2);
    assert.equal(cmpNum(Number.NaN, Number.NaN), 2);
    assert.equal(cmpNum(Number.POSITIVE_INFINITY, 2n ** 63n - 1n), 1);
    assert.equal(cmpNum(-0, 0n), 0);
  });

  it("agrees with exact rational comparison on random pairs", () => {
    const big = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    const dbl = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      big.map((b) => Number(b)),
      big.map((b) => Number(b) + 0.5),
    );
    const exact = (x: number | bigint): [bigint, bigint] => {
      if (typeof x === "bigint") return [x, 1n];
      let den = 1n;
      let y = x;
      while (!Number.isInteger(y)) {
        y *= 2;
        den *= 2n;
      }
      return [BigInt(y), den];
    };
    fc.assert(
      fc.property(fc.oneof(dbl, big), fc.oneof(dbl, big), (a, b) => {
        const [an, ad] = exact(a);
        const [bn, bd] = exact(b);
        const want = an * bd < bn * ad ? -1 : an * bd > bn * ad ? 1 : 0;
        assert.equal(cmpNum(a, b), want);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });
});

describe("ValueIndex", () => {
  it("matches numbers by value across doubles and bigints, and dedupes", () => {
    const idx = new ValueIndex([1n, 1, 2.5, "1", true, [1, 2], 2n ** 60n + 1n, 2 ** 60]);
    assert.equal(idx.size, 7);
    assert.equal(idx.indexOf(1), idx.indexOf(1n));
    assert.equal(idx.indexOf(2.5), 1);
    assert.equal(idx.indexOf("1"), 2);
    assert.equal(idx.indexOf(true), 3);
    assert.equal(idx.indexOf(false), -1);
    assert.equal(idx.indexOf([1n, 2]), 4);
    assert.equal(idx.indexOfInt(2n ** 60n + 1n), 5);
    assert.equal(idx.indexOfInt(2n ** 60n), 6);
    assert.equal(idx.indexOfNumber(2 ** 60), 6);
    assert.equal(idx.indexOf(null), -1);
  });

  it("deepEqual compares structure with numeric values", () => {
    assert.ok(deepEqual({ a: [1, { b: 2n }] }, { a: [1n, { b: 2 }] }));
    assert.ok(!deepEqual({ a: 1 }, { a: 1, b: 2 }));
    assert.ok(!deepEqual([1], ["1"]));
    assert.ok(!deepEqual(null, {}));
  });
});

describe("JSON parsing keeps int64 precision", () => {
  it("returns bigints for integers beyond 2^53 and numbers otherwise", () => {
    const doc = parseJson('{"a":9007199254740993,"b":[-9223372036854775808],"c":1.5,"d":12}');
    assert.deepEqual(
      { ...(doc as object) },
      { a: 9007199254740993n, b: [-9223372036854775808n], c: 1.5, d: 12 },
    );
    assert.equal(parseJson("1234567890123456789012345"), 1.2345678901234568e24);
    assert.equal(parseJson("9007199254740991"), 9007199254740991);
    assert.equal(parseJson('"1234567890123456789"'), "1234567890123456789");
  });

  it("agrees with JSON.parse on random documents", () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        const want: unknown = JSON.parse(text);
        const got = parseJsonExact(text);
        // Integers beyond 2^53 legitimately differ (bigint); compare by value.
        assert.ok(deepEqual(got, want) || /\d{16}/.test(text), text);
        if (!/\d{16}/.test(text)) assert.deepEqual(JSON.stringify(got), JSON.stringify(want));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("rejects malformed documents", () => {
    for (const bad of [
      "",
      "{",
      "[1,]",
      '{"a":1,}',
      "01",
      "1.",
      "-",
      '"\u0001"',
      '"abc',
      "[1] 2",
      "{a:1}",
      "tru",
      "[1 2]",
      '{"a" 1}',
      "1234567890123456789x",
    ]) {
      assert.throws(() => parseJsonExact(bad), SyntaxError, JSON.stringify(bad));
    }
  });

  it("parses 100,000 levels of nesting without recursion", () => {
    const deep = `${"[".repeat(100_000)}12345678901234567${"]".repeat(100_000)}`;
    let v = parseJsonExact(deep);
    for (let i = 0; i < 100_000; i++) v = (v as unknown[])[0];
    assert.equal(v, 12345678901234567n);
  });

  it("keeps __proto__ as data and walks paths by own keys only", () => {
    const doc = parseJsonExact(
      '{"__proto__":{"x":1},"arr":[10,20],"o":{"0":"zero"},"pad":12345678901234567}',
    );
    assert.equal(walkPath(doc, ["__proto__", "x"]), 1);
    assert.equal(walkPath(doc, ["arr", 1]), 20);
    assert.equal(walkPath(doc, ["arr", 2]), undefined);
    assert.equal(walkPath(doc, ["o", 0]), "zero");
    assert.equal(walkPath(doc, ["arr", "0"]), undefined);
    assert.equal(walkPath(JSON.parse('{"a":1}'), ["toString"]), undefined);
    assert.equal(walkPath(JSON.parse('{"a":1}'), ["constructor"]), undefined);
  });
});

describe("like patterns", () => {
  const cases: readonly [string, string, boolean][] = [
    ["abc%", "abcdef", true],
    ["abc%", "xabc", false],
    ["%abc", "xxabc", true],
    ["%abc%", "xabcx", true],
    ["abc", "abc", true],
    ["abc", "abcd", false],
    ["a_c", "abc", true],
    ["a_c", "a😀c", true],
    ["a__c", "a😀c", false],
    ["%", "", true],
    ["_", "", false],
    ["a\\%", "a%", true],
    ["a\\%", "ab", false],
    ["a\\_", "a_", true],
    ["a\\_", "ab", false],
    ["a\\\\%", "a\\bc", true],
    ["\\a", "a", true],
    ["%a%b%", "xaybz", true],
    ["%a%b%", "xbya", false],
    ["a%a", "a", false],
    ["a%a", "aa", true],
    ["%😀_", "x😀y", true],
  ];
  for (const [pattern, text, want] of cases) {
    it(`${JSON.stringify(text)} like ${JSON.stringify(pattern)} is ${want}`, () => {
      assert.equal(compileLike(pattern)(text), want);
    });
  }

  it("stays fast on patterns that make backtracking regexes explode", () => {
    const text = "a".repeat(20_000);
    const m = compileLike("%a%a%a%a%a%a%a%a%b");
    const t0 = performance.now();
    assert.equal(m(text), false);
    assert.ok(performance.now() - t0 < 500);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import { compileFilter, type ExprAst, evaluate, MAX_EXPR_BYTES, parseExpr } from "../../src/expr/index.ts";
import { columns, N, schema } from "./table.ts";

/** The AST without positions, for compact structural assertions. */
function shape(e: ExprAst): unknown {
  return JSON.parse(
    JSON.stringify(e, (k, v: unknown) => (k === "pos" ? undefined : typeof v === "bigint" ? `${v}n` : v)),
  );
}

const F = (name: string, ...path: (string | number)[]) => ({ kind: "field", name, path });
const I = (v: number) => ({ kind: "int", value: `${v}n` });

function syntaxError(text: string, message: RegExp | string): void {
  assert.throws(
    () => parseExpr(text),
    (e: unknown) => {
      if (!isStrataError(e, "ParameterInvalid")) return false;
      if (typeof message === "string")
        assert.ok(e.message.includes(message), `${JSON.stringify(text)}: ${e.message}`);
      else assert.match(e.message, message, JSON.stringify(text));
      return true;
    },
    JSON.stringify(text),
  );
}

describe("parseExpr: structure and precedence", () => {
  it("binds * over +, + over comparisons, comparisons over not, not over and, and over or", () => {
    assert.deepEqual(shape(parseExpr("a + b * c > 1")), {
      kind: "compare",
      op: ">",
      left: {
        kind: "arith",
        op: "+",
        left: F("a"),
        right: { kind: "arith", op: "*", left: F("b"), right: F("c") },
      },
      right: I(1),
    });
    assert.deepEqual(shape(parseExpr("a > 1 and b < 2 or not c")), {
      kind: "or",
      items: [
        {
          kind: "and",
          items: [
            { kind: "compare", op: ">", left: F("a"), right: I(1) },
            { kind: "compare", op: "<", left: F("b"), right: I(2) },
          ],
        },
        { kind: "not", operand: F("c") },
      ],
    });
    assert.deepEqual(shape(parseExpr("not a > 1")), {
      kind: "not",
      operand: { kind: "compare", op: ">", left: F("a"), right: I(1) },
    });
    assert.deepEqual(shape(parseExpr("-a * b")), {
      kind: "arith",
      op: "*",
      left: { kind: "neg", operand: F("a") },
      right: F("b"),
    });
    assert.deepEqual(shape(parseExpr("a - b - c")), {
      kind: "arith",
      op: "-",
      left: { kind: "arith", op: "-", left: F("a"), right: F("b") },
      right: F("c"),
    });
    assert.deepEqual(shape(parseExpr("+a")), F("a"));
  });

  it("flattens and/or chains, with any keyword spelling", () => {
    const e = parseExpr("a or b || c OR d Or e");
    assert.equal(e.kind, "or");
    assert.equal(e.kind === "or" && e.items.length, 5);
    const a = parseExpr("a and b && c AND d aNd e");
    assert.equal(a.kind === "and" && a.items.length, 5);
    assert.equal(parseExpr("!a").kind, "not");
    assert.equal(parseExpr("NOT a").kind, "not");
  });

  it("normalises chained ranges to ascending order", () => {
    const want = { kind: "range", lower: I(1), lowerOp: "<", operand: F("a"), upperOp: "<=", upper: I(5) };
    assert.deepEqual(shape(parseExpr("1 < a <= 5")), want);
    assert.deepEqual(shape(parseExpr("5 >= a > 1")), want);
  });

  it("parses in, not in, like, not like, is [not] null, exists, calls, templates and lists", () => {
    assert.deepEqual(shape(parseExpr("a not in [1, -2, 'x',]")), {
      kind: "in",
      negated: true,
      operand: F("a"),
      list: { kind: "list", items: [I(1), { kind: "neg", operand: I(2) }, { kind: "string", value: "x" }] },
    });
    assert.deepEqual(shape(parseExpr("a IN []")), {
      kind: "in",
      negated: false,
      operand: F("a"),
      list: { kind: "list", items: [] },
    });
    assert.deepEqual(shape(parseExpr('s NOT LIKE "a%"')), {
      kind: "like",
      negated: true,
      operand: F("s"),
      pattern: { kind: "string", value: "a%" },
    });
    assert.deepEqual(shape(parseExpr('m["a"] IS NOT NULL')), {
      kind: "isNull",
      negated: true,
      operand: F("m", "a"),
    });
    assert.deepEqual(shape(parseExpr("x is null")), { kind: "isNull", negated: false, operand: F("x") });
    assert.deepEqual(shape(parseExpr('exists m["a"][0]')), { kind: "exists", operand: F("m", "a", 0) });
    assert.deepEqual(shape(parseExpr("ARRAY_CONTAINS_ANY(arr, [1, [2]])")), {
      kind: "call",
      name: "array_contains_any",
      args: [F("arr"), { kind: "list", items: [I(1), { kind: "list", items: [I(2)] }] }],
    });
    assert.deepEqual(shape(parseExpr("a in {vals}")), {
      kind: "in",
      negated: false,
      operand: F("a"),
      list: { kind: "template", name: "vals" },
    });
    assert.deepEqual(shape(parseExpr('$meta["k"] == 1')), {
      kind: "compare",
      op: "==",
      left: F("$meta", "k"),
      right: I(1),
    });
  });

  it("reads integer, float, string and boolean literals", () => {
    const lit = (t: string) => shape(parseExpr(t));
    assert.deepEqual(lit("0x1F"), I(31));
    assert.deepEqual(lit("010"), I(8));
    assert.deepEqual(lit("0b101"), I(5));
    assert.deepEqual(lit("0"), I(0));
    assert.deepEqual(lit("9223372036854775808"), { kind: "int", value: "9223372036854775808n" });
    for (const [t, v] of [
      ["1.5", 1.5],
      ["1e-3", 0.001],
      [".5", 0.5],
      ["1.", 1],
      ["1E+2", 100],
      ["2.5e2", 250],
    ] as const) {
      assert.deepEqual(lit(t), { kind: "float", value: v }, t);
    }
    for (const [t, v] of [
      ['"a\\"b"', 'a"b'],
      ["'a\\'b'", "a'b"],
      ["'say \"hi\"'", 'say "hi"'],
      ['"\\n\\t\\r\\\\"', "\n\t\r\\"],
      ['"\\x41\\101"', "AA"],
      ['"\\u00e9\\U0001F600"', "é😀"],
      ['"\\%\\_"', "\\%\\_"],
      ['r"a\\b"', "a\\b"],
      ["R'x\\'y'", "x\\'y"],
      ['""', ""],
      ['"😀 ü"', "😀 ü"],
    ] as const) {
      assert.deepEqual(lit(t), { kind: "string", value: v }, t);
    }
    for (const t of ["true", "True", "TRUE"]) assert.deepEqual(lit(t), { kind: "bool", value: true });
    for (const t of ["false", "False", "FALSE"]) assert.deepEqual(lit(t), { kind: "bool", value: false });
  });

  it("records 0-based positions", () => {
    const e = parseExpr("  a >= 1");
    assert.equal(e.kind === "compare" && e.pos, 4);
    assert.equal(e.kind === "compare" && e.left.pos, 2);
    assert.equal(e.kind === "compare" && e.right.pos, 7);
  });

  it("accepts any whitespace between tokens, including newlines and tabs", () => {
    assert.deepEqual(shape(parseExpr("\n\ta\r\n>\t1 ")), shape(parseExpr("a > 1")));
  });
});

describe("parseExpr: syntax errors name the position", () => {
  const cases: readonly [string, RegExp | string][] = [
    ["a > 1)", 'unexpected token ")" at 5'],
    ["(a > 1", 'expected ")" but reached the end at 6'],
    ["((a > 1)", 'expected ")" but reached the end at 8'],
    ["(a > 1]", 'expected ")" but found "]" at 6'],
    ['s == "abc', "unterminated string literal at 5"],
    ["s == 'abc", "unterminated string literal at 5"],
    ["s == 'abc\\'", "unterminated string literal at 5"],
    ["a > 1 b", 'unexpected token "b" at 6'],
    ["a > 1 and", "unexpected end of expression at 9"],
    ["", "empty expression at 0"],
    ["   \n ", "empty expression at 0"],
    ["a = 1", 'unexpected character "=" (use == for equality) at 2'],
    ["a & b", 'unexpected character "&" at 2'],
    ["a | b", 'unexpected character "|" at 2'],
    ["a ^ 2", 'unexpected character "^" at 2'],
    ["~a", 'unexpected character "~" at 0'],
    ["a ** 2", 'unexpected token "*" at 3'],
    ["a > 09", 'invalid number "09" at 4'],
    ["a > 1e", 'invalid number "1e" at 4'],
    ["a > 12abc", 'invalid number "12abc" at 4'],
    ["a > 0x", 'invalid number "0x" at 4'],
    ["a > 1.2.3", 'invalid number "1.2.3" at 4'],
    ["a > 99999999999999999999999999", "integer literal out of range at 4"],
    ["a in", "unexpected end of expression at 4"],
    ["a in [1, 2", 'unclosed "[" opened at 5'],
    ["a in [1 2]", 'unexpected token "2" at 8'],
    ["foo(1)", 'unknown function "foo" at 0'],
    ["array_contains(a 1)", 'unexpected token "1" at 17'],
    ["a[", "unexpected end of expression at 2"],
    ["a[-1] > 0", 'a path step must be a string or a non-negative integer, found "-" at 2'],
    ["a[b] > 0", 'found "b" at 2'],
    ['a["x" > 0', 'expected "]" but found ">" at 6'],
    ["1 < a > 2", 'chained comparison ">" is not a range'],
    ["a == b == c", 'chained comparison "==" is not a range'],
    ["1 < a < b < c", "is not a range"],
    ["a is 5", 'expected "null" after "is" but found "5" at 5'],
    ["and a", 'unexpected token "and" at 0'],
    ["a > 1 or or b", 'unexpected token "or" at 9'],
    ["a in [1] in [2]", 'unexpected token "in" at 9'],
    ['"\\x4" == s', "invalid escape sequence \\x (needs 2 hex digits) at 1"],
    ['"\\u12" == s', "invalid escape sequence \\u (needs 4 hex digits) at 1"],
    ['"\\U00110000" == s', "invalid escape sequence \\U00110000 at 1"],
    ["{}", 'unexpected token "}" at 1'],
    ["a > @", 'unexpected character "@" at 4'],
    ["a > é", 'unexpected character "é" at 4'],
    ["exists", "unexpected end of expression at 6"],
    ["()", 'unexpected token ")" at 1'],
  ];
  for (const [text, message] of cases) {
    it(JSON.stringify(text), () => syntaxError(text, message));
  }

  it("rejects a non-string", () => {
    assert.throws(
      () => parseExpr(42 as unknown as string),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
  });
});

describe("parseExpr: limits", () => {
  const tooDeep = /nested more than 100 levels deep/;

  it("refuses text over 64 KiB of UTF-8 with ParameterTooLarge, and accepts 64 KiB", () => {
    const ok = `s == "${"x".repeat(MAX_EXPR_BYTES - 7)}"`;
    assert.equal(Buffer.byteLength(ok), MAX_EXPR_BYTES);
    assert.equal(parseExpr(ok).kind, "compare");
    const big = `s == "${"x".repeat(MAX_EXPR_BYTES)}"`;
    assert.throws(
      () => parseExpr(big),
      (e: unknown) => isStrataError(e, "ParameterTooLarge"),
    );
    // 33,000 two-byte characters: fewer than 65,536 UTF-16 units but more than 64 KiB of UTF-8.
    const wide = `s == "${"é".repeat(33_000)}"`;
    assert.ok(wide.length < MAX_EXPR_BYTES);
    assert.throws(
      () => parseExpr(wide),
      (e: unknown) => isStrataError(e, "ParameterTooLarge"),
    );
  });

  it("refuses 10,000 nested parentheses without exhausting the stack", () => {
    const text = `${"(".repeat(10_000)}a > 1${")".repeat(10_000)}`;
    syntaxError(text, tooDeep);
    syntaxError(`${"(".repeat(10_000)}`, tooDeep);
  });

  it("accepts 100 levels and refuses 101", () => {
    assert.equal(parseExpr(`${"(".repeat(99)}a > 1${")".repeat(99)}`).kind, "compare");
    syntaxError(`${"(".repeat(101)}a > 1${")".repeat(101)}`, tooDeep);
  });

  it("refuses long chains of prefix operators", () => {
    syntaxError(`${"not ".repeat(10_000)}a`, tooDeep);
    syntaxError(`${"!".repeat(10_000)}a`, tooDeep);
    syntaxError(`${"-".repeat(10_000)}a > 1`, tooDeep);
    syntaxError(`exists ${"(".repeat(10_000)}`, tooDeep);
  });

  it("refuses deeply nested lists and calls", () => {
    syntaxError(`a in ${"[".repeat(10_000)}`, tooDeep);
    syntaxError(`${"array_length(".repeat(5_000)}a`, tooDeep);
  });

  it("refuses an arithmetic chain whose tree is too deep, but keeps long or-chains flat", () => {
    syntaxError(`${Array.from({ length: 200 }, () => "a").join(" + ")} > 1`, tooDeep);
    assert.equal(parseExpr(`${Array.from({ length: 90 }, () => "a").join(" + ")} > 1`).kind, "compare");
    // 4,000 alternatives: one flat `or` node, planned and evaluated without deep recursion.
    const ors = Array.from({ length: 4000 }, (_, i) => `i32 == ${i}`).join(" or ");
    const e = parseExpr(ors);
    assert.equal(e.kind === "or" && e.items.length, 4000);
    const bits = evaluate(compileFilter(ors, schema), columns(), N);
    assert.deepEqual(Array.from(bits), [1, 1, 0, 1, 0, 1]);
  });

  it("parses a 30,000-item in-list", () => {
    const list = Array.from({ length: 30_000 }, (_, i) => String(i % 10)).join(",");
    const bits = evaluate(compileFilter(`i32 in [${list}]`, schema), columns(), N);
    assert.deepEqual(Array.from(bits), [0, 0, 0, 0, 0, 1]);
  });

  it("parses or rejects every 64 KiB worst case quickly (linear time)", () => {
    const n = MAX_EXPR_BYTES;
    const inputs = [
      `a${" + a".repeat((n - 1) / 4)}`.slice(0, n),
      `a in [${"1,".repeat((n - 8) / 2)}1]`,
      "(".repeat(n),
      "not ".repeat(n / 4),
      '"'.repeat(n),
      `s == "${"\\n".repeat((n - 8) / 2)}"`,
      `${"a == 1 or ".repeat(n / 10 - 1)}a == 1`,
      `s like "${"%_".repeat((n - 10) / 2)}"`,
      "[".repeat(n),
      "1".repeat(n),
    ];
    for (const text of inputs) {
      const t0 = performance.now();
      try {
        parseExpr(text);
      } catch (e) {
        assert.ok(isStrataError(e), `${text.slice(0, 20)}…: ${String(e)}`);
      }
      const ms = performance.now() - t0;
      assert.ok(ms < 500, `${text.slice(0, 20)}… took ${ms.toFixed(0)} ms`);
    }
  });
});

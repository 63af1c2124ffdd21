import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Column } from "../../src/common/column.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { validateSchema } from "../../src/common/schema.ts";
import { DataType } from "../../src/common/types.ts";
import { compileFilter, evaluate, fieldsOf, type PlanOptions } from "../../src/expr/index.ts";
import { columns, fieldId, N, schema } from "./table.ts";

const cols = columns();

function matching(expr: string, options?: PlanOptions): number[] {
  const bits = evaluate(compileFilter(expr, schema, options), cols, N);
  assert.equal(bits.length, N);
  const out: number[] = [];
  bits.forEach((b, i) => {
    assert.ok(b === 0 || b === 1, `bitset byte ${b}`);
    if (b === 1) out.push(i);
  });
  return out;
}

type Case = readonly [expr: string, rows: readonly number[]];

function table(title: string, cases: readonly Case[]): void {
  describe(title, () => {
    for (const [expr, want] of cases) {
      it(expr, () => assert.deepEqual(matching(expr), want, expr));
    }
  });
}

const ALL = [0, 1, 2, 3, 4, 5];

table("comparisons on scalar fields", [
  ["i32 > 10", [1, 3, 4]],
  ["i32 >= 10", [0, 1, 3, 4]],
  ["i32 == 15", [3]],
  ["i32 != 15", [0, 1, 2, 4, 5]],
  ["i32 < 0", [2]],
  ["i32 <= 0", [2, 5]],
  ["10 < i32", [1, 3, 4]],
  ["i8 < 0", [0, 3]],
  ["i16 >= 4", [3, 4, 5]],
  ["d >= 1.5", [0, 4, 5]],
  ["d == 1e-3", [3]],
  ["d < .5e1", [0, 1, 2, 3, 5]],
  ['s == "apple"', [0]],
  ["s != 'apple'", [1, 2, 3, 4, 5]],
  ['s > "b"', [1, 2, 5]],
  ['s < "b"', [0, 3, 4]],
  ['s >= "Ü"', [5]],
  ["b == true", [0, 2, 4]],
  ["b != false", [0, 2, 4]],
  ["b", [0, 2, 4]],
  ["i32 > i8", [0, 1, 3, 4]],
  ["d > f", [0, 2, 4]],
  ["id > i32", [2, 4, 5]],
  ["b == (i32 > 10)", [4, 5]],
  ["(i32 > 10) != b", [0, 1, 2, 3]],
]);

table("int64 exactness beyond 2^53", [
  ["id == 9007199254740993", [2]],
  ["id == 9007199254740992", [5]],
  ["id > 9007199254740992", [2, 4]],
  ["id < 0", [3]],
  ["id == -9223372036854775808", [3]],
  ["id == 9223372036854775807", [4]],
  ["id in [1, 9007199254740993]", [0, 2]],
  ["id == 1.0", [0]],
  ["id < 1.5", [0, 3]],
  ["id > 1.5", [1, 2, 4, 5]],
  ["id == 1.5", []],
  ["id != 1.5", ALL],
  ["id < 1e300", ALL],
  ["id > -1e300", ALL],
  ["id >= 9007199254740992.0", [2, 4, 5]],
]);

table("float32 fields compare against the constant rounded to float32", [
  ["f == 0.1", [0]],
  ["f > 0.1", [1, 3, 4, 5]],
  ["f in [0.1, 0.5]", [0, 4]],
  ["farr[0] == 0.1", [0]],
  ["array_contains(farr, 0.1)", [0]],
  ["f * 1 == 0.1", []],
]);

table("arithmetic", [
  ["i32 + 5 == 15", [0]],
  ["(i32 + 3) == 18", [3]],
  ["i32 * 2 > 30", [1, 4]],
  ["i32 % 2 == 1", [3, 4]],
  ["i32 % 2 == -1", [2]],
  ["i32 / 4 == 2", [0]],
  ["i32 / 4 == -1", [2]],
  ["i32 / 4.0 == 2.5", [0]],
  ["-i32 > 0", [2]],
  ["- -i32 == 10", [0]],
  ["i16 % 2 == 0", [1, 3, 5]],
  ["i32 * i32 == 4611686014132420609", [4]],
  ["i32 * i32 * 4 < 0", [4]],
  ["id + 1 == 9007199254740994", [2]],
  ["id + 1 == -9223372036854775808", [4]],
  ["id * 2 == 4", [1]],
  ["id - 1 < 0", []],
  ["id - 1 > 9223372036854775806", [3]],
  ["-id == -1", [0]],
  ["i32 / i8 == -2", [0]],
  ["i32 / i8 != 100", [0, 2, 3, 4, 5]],
  ["i32 % i8 == 0", [0, 4, 5]],
  ["d * 2 > 3", [4, 5]],
  ["f + d > 3", [3, 4, 5]],
  ["i32 * 2 + 1 > i8", [0, 1, 3, 4]],
  ["a * 2 + 1 > 5", []],
  ['meta["n"] + 1 == 2', [0]],
  ["size * 2 == 6", [0, 5]],
  ["array_length(arr) * 10 == 30", [0, 4]],
  ["arr[0] + arr[0] == 2", [0, 4]],
  ["1 + 2 * 3 == 7", ALL],
  ["(1 + 2) * 3 == 7", []],
  ["7 / 2 == 3", ALL],
  ["7 / 2.0 == 3.5", ALL],
  ["-7 % 3 == -1", ALL],
]);

table("chained ranges", [
  ["10 < i32 <= 20", [1, 3]],
  ["10 <= i32 < 20", [0, 3]],
  ["20 >= i32 > 10", [1, 3]],
  ["1 <= id < 3", [0, 1]],
  ["-1.0 <= f < 1", [0, 2, 4]],
  ['"a" <= s < "b"', [0, 3]],
  ['2 <= meta["a"]["b"] < 5', [1, 2]],
]);

table("in / not in", [
  ["i32 in [10, 15, 99]", [0, 3]],
  ["i32 not in [10, 15]", [1, 2, 4, 5]],
  ["i32 in [10.0, 15.5]", [0]],
  ['s in ["apple", "cherry pie"]', [0, 2]],
  ["s not in ['apple']", [1, 2, 3, 4, 5]],
  ["b in [false]", [1, 3, 5]],
  ["d in [1.5, 2.5]", [0, 5]],
  ["i32 in []", []],
  ["i32 not in []", ALL],
  ['meta["n"] in [1, "1"]', [0, 1]],
  ["i8 in [-5, -128]", [0, 3]],
  ["id in [9223372036854775807, -9223372036854775808]", [3, 4]],
  ["id IN [2, 3,]", [1]],
  ['meta["tags"] in [["y"], []]', [1, 2]],
]);

table("like", [
  ['s like "a%"', [0, 3]],
  ['s like "%e"', [0, 2]],
  ['s like "%an%"', [1]],
  ['s like "banana"', [1]],
  ['s like "_pple"', [0]],
  ['s like "a\\%b%"', [3]],
  ['s like "a\\\\%b%"', [3]],
  ['s like "a_b\\_c"', [3]],
  ['s like "a%b\\_c"', [3]],
  ['s like "%"', ALL],
  ['s like ""', [4]],
  ['s like "Ünïcödé _"', [5]],
  ['s like "%😀"', [5]],
  ['s like "c%e"', [2]],
  ['s like "%a%a%"', [1]],
  ['s not like "%a%"', [2, 4, 5]],
  ['s LIKE "B%"', []],
  ['meta["s"] like "he%"', [0]],
  ['sarr[0] like "a"', [0, 3]],
  ['color like "%e%"', [0, 1, 3, 5]],
]);

table("and / or / not and precedence", [
  ['i32 > 10 and s like "b%"', [1]],
  ["i32 > 10 AND b", [4]],
  ["i32 > 10 && b", [4]],
  ["i32 > 10 aNd b", [4]],
  ['i32 < 0 or s == "apple"', [0, 2]],
  ['i32 < 0 Or s == "apple"', [0, 2]],
  ['i32 < 0 || s == "apple"', [0, 2]],
  ["not (i32 > 10)", [0, 2, 5]],
  ["NOT i32 > 10", [0, 2, 5]],
  ["not b", [1, 3, 5]],
  ["!b", [1, 3, 5]],
  ["not not b", [0, 2, 4]],
  ["!(i32 > 10) && !b", [5]],
  ["i32 == 10 or i32 == 20 and b", [0]],
  ["(i32 == 10 or i32 == 20) and not b", [1]],
  ["not b and i32 > 10", [1, 3]],
  ["((((i32 == 15))))", [3]],
  ["true", ALL],
  ["false", []],
  ["TRUE and i32 == 10", [0]],
  ["false or i32 == 10", [0]],
  ["b == True", [0, 2, 4]],
  ["b == FALSE", [1, 3, 5]],
]);

table("is null / is not null / exists", [
  ['meta["n"] is null', [2, 4, 5]],
  ['meta["n"] is not null', [0, 1, 3]],
  ['meta["n"] IS NOT NULL', [0, 1, 3]],
  ["i32 is null", []],
  ["i32 is not null", ALL],
  ["arr is null", []],
  ["meta is null", [5]],
  ['exists meta["n"]', [0, 1, 2, 3]],
  ['exists meta["a"]["b"]', [0, 1, 2]],
  ['EXISTS(meta["tags"][1])', [0]],
  ["exists color", [0, 1, 3, 5]],
  ["size is null", [1, 2]],
]);

table("JSON paths and the dynamic field", [
  ['meta["a"]["b"] > 3', [0, 2]],
  ['meta["a"]["b"] >= 2 and meta["a"]["b"] < 4', [1, 2]],
  ['meta["tags"][0] == "x"', [0]],
  ['meta["tags"][1] == "y"', [0]],
  ["meta['tags'][0] == 'x'", [0]],
  ['meta["n"] == 1', [0]],
  ['meta["n"] != 1', [3]],
  ['meta["n"] == 9007199254740993', [3]],
  ['meta["n"] == 9007199254740992', []],
  ['meta["n"] == "1"', [1]],
  ['meta["n"] > 0', [0, 3]],
  ['meta["n"] > i8', [0, 3]],
  ['meta["tags"] == ["x", "y"]', [0]],
  ['meta["tags"] != ["x", "y"]', [1, 2]],
  ['meta["a"] == 1', []],
  ['meta["a"]["b"] in [2, 5]', [0, 1]],
  ['color == "red"', [0, 3]],
  ['$meta["color"] == "red"', [0, 3]],
  ["size > 5", [3]],
  ["size == 3", [0, 5]],
  ['color == "red" and size == 3', [0]],
  ['tags[0] == "x"', [5]],
  ['json_contains(meta["tags"], "y")', [0, 1]],
  ['json_contains_all(meta["tags"], ["x", "y"])', [0]],
  ['json_contains_any(meta["tags"], ["x", "z"])', [0]],
  ['JSON_CONTAINS(meta["tags"], "x")', [0]],
  ['json_contains(tags, "x")', [5]],
  ['array_contains(meta["tags"], "x")', [0]],
  ['array_length(meta["tags"]) == 2', [0]],
  ['array_length(meta["tags"]) == 0', [2]],
  ['array_length(meta["a"]) >= 0', []],
  ['meta["missing"]["deeper"] == 1', []],
  ['not (meta["missing"] == 1)', ALL],
]);

table("Array fields", [
  ["array_contains(arr, 1)", [0, 4]],
  ["array_contains(arr, 9007199254740993)", [3]],
  ["array_contains(arr, 9007199254740992)", []],
  ["array_contains_all(arr, [1, 2])", [0]],
  ["array_contains_all(arr, [1, 1])", [0, 4]],
  ["array_contains_any(arr, [3, 5])", [0, 2, 5]],
  ["array_contains_any(arr, [])", []],
  ["array_contains_all(arr, [])", ALL],
  ["array_length(arr) == 3", [0, 4]],
  ["array_length(arr) == 0", [1]],
  ["arr[0] > 1", [2, 3, 5]],
  ["arr[1] == 2", [0]],
  ["arr[5] == 1", []],
  ["arr[0] == 9007199254740993", [3]],
  ['array_contains(sarr, "c")', [1, 3]],
  ['array_contains_any(sarr, ["x", "b"])', [0, 4, 5]],
  ["array_length(sarr) >= 2", [0, 3, 5]],
  ["arr == [1, 2, 3]", [0]],
  ["arr != [1, 2, 3]", [1, 2, 3, 4, 5]],
  ["arr == []", [1]],
  ["ARRAY_CONTAINS(arr, 4)", [2]],
  ["json_contains(arr, 4)", [2]],
  ["array_contains(barr, true)", [0, 3, 5]],
  ["barr[0] == false", [1, 4]],
  ["barr[0]", [0, 3, 5]],
  ["not barr[0]", [1, 2, 4]],
  ["array_contains_all(farr, [0.1, 2.5])", [0]],
  ["farr == [0.1, 2.5]", [0]],
]);

table("literals", [
  ["i32 == 0xA", [0]],
  ["i32 == 012", [0]],
  ["i32 == 0b1111", [3]],
  ["i8 == -128", [3]],
  ["i8 > -6", [0, 1, 2, 4, 5]],
  ["s == 'cherry\\x20pie'", [2]],
  ['s == "cherry\\u0020pie"', [2]],
  ["s == 'a%b_c'", [3]],
  ['s == "\\u00dcn\\u00efc\\u00f6d\\u00e9 \\U0001F600"', [5]],
  ['s == r"a%b_c"', [3]],
  ['s == ""', [4]],
  ["d == 100.", [4]],
  ["d == 1E2", [4]],
]);

describe("template values ({name})", () => {
  it("substitutes lists, strings and int64s", () => {
    assert.deepEqual(matching("i32 in {vals}", { templateValues: { vals: [10n, 20n] } }), [0, 1]);
    assert.deepEqual(matching("s == {name}", { templateValues: { name: "apple" } }), [0]);
    assert.deepEqual(matching("id > {x}", { templateValues: { x: 9007199254740992n } }), [2, 4]);
    assert.deepEqual(matching("d > {x}", { templateValues: { x: 2 } }), [4, 5]);
  });
});

describe("evaluate contract", () => {
  it("fieldsOf lists the field IDs a plan reads, ascending", () => {
    const plan = compileFilter('s like "a%" and i32 > 1 or color == "red" or array_length(arr) > 0', schema);
    assert.deepEqual(
      fieldsOf(plan),
      [fieldId("i32"), fieldId("s"), fieldId("arr"), fieldId("$meta")].sort((a, b) => a - b),
    );
    assert.deepEqual(fieldsOf(compileFilter("1 < 2", schema)), []);
  });

  it("only the columns of fieldsOf are needed", () => {
    const plan = compileFilter("i32 > 10 and b", schema);
    const only = new Map<number, Column>(fieldsOf(plan).map((id) => [id, cols.get(id) as Column]));
    assert.deepEqual(Array.from(evaluate(plan, only, N)), [0, 0, 0, 0, 1, 0]);
  });

  it("returns a fresh bitset: changing it does not change the data or later results", () => {
    const plan = compileFilter("b", schema);
    const first = evaluate(plan, cols, N);
    first.fill(7);
    assert.deepEqual(Array.from(evaluate(plan, cols, N)), [1, 0, 1, 0, 1, 0]);
  });

  it("handles zero rows", () => {
    const empty = new Map<number, Column>([
      [fieldId("i32"), { type: DataType.Int32, data: new Int32Array(0) }],
      [fieldId("meta"), { type: DataType.JSON, data: [] }],
    ]);
    assert.equal(evaluate(compileFilter('i32 > 1 or meta["a"] == 1', schema), empty, 0).length, 0);
  });

  it("rejects a missing column, a column of the wrong type or length, and a bad rowCount", () => {
    const plan = compileFilter("i32 > 1", schema);
    const bad = (m: Map<number, Column>, rows = N) =>
      assert.throws(
        () => evaluate(plan, m, rows),
        (e: unknown) => isStrataError(e, "ParameterInvalid"),
      );
    bad(new Map());
    bad(new Map<number, Column>([[fieldId("i32"), { type: DataType.Int64, data: new BigInt64Array(N) }]]));
    bad(new Map<number, Column>([[fieldId("i32"), { type: DataType.Int32, data: new Int32Array(N - 1) }]]));
    bad(cols, -1);
    bad(cols, 1.5);
  });

  it("reports a corrupt JSON cell as Corrupted, naming the row", () => {
    const plan = compileFilter('meta["a"] == 1', schema);
    const m = new Map<number, Column>([
      [
        fieldId("meta"),
        {
          type: DataType.JSON,
          data: [new TextEncoder().encode('{"a":1}'), new TextEncoder().encode("{oops")],
        },
      ],
    ]);
    assert.throws(
      () => evaluate(plan, m, 2),
      (e: unknown) => isStrataError(e, "Corrupted") && /row 1/.test(e.message),
    );
    const badUtf8 = new Map<number, Column>([
      [fieldId("meta"), { type: DataType.JSON, data: [Uint8Array.from([0x22, 0xff, 0x22])] }],
    ]);
    assert.throws(
      () => evaluate(plan, badUtf8, 1),
      (e: unknown) => isStrataError(e, "Corrupted"),
    );
  });

  it("keeps int64 precision in JSON documents, including deeply nested ones", () => {
    const deep = `${"[".repeat(5000)}9223372036854775807${"]".repeat(5000)}`;
    const m = new Map<number, Column>([
      [
        fieldId("meta"),
        {
          type: DataType.JSON,
          data: [
            new TextEncoder().encode('{"a":9223372036854775807,"b":[-9223372036854775808]}'),
            new TextEncoder().encode(`{"a":9223372036854775806,"deep":${deep}}`),
          ],
        },
      ],
    ]);
    const run = (e: string) => Array.from(evaluate(compileFilter(e, schema), m, 2));
    assert.deepEqual(run('meta["a"] == 9223372036854775807'), [1, 0]);
    assert.deepEqual(run('meta["a"] < 9223372036854775807'), [0, 1]);
    assert.deepEqual(run('meta["b"][0] == -9223372036854775808'), [1, 0]);
    assert.deepEqual(run('exists meta["deep"][0][0][0]'), [0, 1]);
  });

  it("treats keys such as __proto__ and constructor as plain data", () => {
    const m = new Map<number, Column>([
      [
        fieldId("meta"),
        {
          type: DataType.JSON,
          data: [
            new TextEncoder().encode('{"__proto__":{"x":1}}'),
            new TextEncoder().encode('{"a":12345678901234567}'),
          ],
        },
      ],
    ]);
    const run = (e: string) => Array.from(evaluate(compileFilter(e, schema), m, 2));
    assert.deepEqual(run('meta["__proto__"]["x"] == 1'), [1, 0]);
    assert.deepEqual(run('exists meta["constructor"]'), [0, 0]);
    assert.deepEqual(run('exists meta["toString"]'), [0, 0]);
  });

  it("parses JSON once per evaluation even when many nodes read the field", () => {
    // 20k rows, 30 predicates over the same JSON field: well under a second if parsing is shared.
    const rows = 20_000;
    const enc = new TextEncoder();
    const data = Array.from({ length: rows }, (_, i) =>
      enc.encode(JSON.stringify({ a: i % 50, t: `x${i % 7}` })),
    );
    const m = new Map<number, Column>([[fieldId("meta"), { type: DataType.JSON, data }]]);
    const expr = Array.from({ length: 30 }, (_, k) => `meta["a"] == ${k}`).join(" or ");
    const t0 = performance.now();
    const bits = evaluate(compileFilter(expr, schema), m, rows);
    const ms = performance.now() - t0;
    assert.equal(
      bits.reduce((a, b) => a + b, 0),
      rows * (30 / 50),
    );
    assert.ok(ms < 1500, `took ${ms} ms`);
  });
});

describe("Int64 comparisons against constants at the word boundaries", () => {
  const edges = [
    -(1n << 63n),
    -(1n << 63n) + 1n,
    -(1n << 32n) - 1n,
    -(1n << 32n),
    -(1n << 31n) - 1n,
    -(1n << 31n),
    -2n,
    -1n,
    0n,
    1n,
    (1n << 31n) - 1n,
    1n << 31n,
    (1n << 32n) - 1n,
    1n << 32n,
    (1n << 32n) + 1n,
    (1n << 63n) - 2n,
    (1n << 63n) - 1n,
  ];
  const data = BigInt64Array.from(edges);
  const cmp = {
    "==": (a: bigint, b: bigint) => a === b,
    "!=": (a: bigint, b: bigint) => a !== b,
    "<": (a: bigint, b: bigint) => a < b,
    "<=": (a: bigint, b: bigint) => a <= b,
    ">": (a: bigint, b: bigint) => a > b,
    ">=": (a: bigint, b: bigint) => a >= b,
  } as const;
  it("every operator agrees with bigint order for every pair", () => {
    const s = validateSchema({
      name: "t",
      fields: [
        { name: "id", dataType: "Int64", isPrimaryKey: true },
        { name: "v", dataType: "FloatVector", dim: 2 },
        { name: "x", dataType: "Int64" },
      ],
    });
    const xid = s.fields.find((f) => f.name === "x")?.fieldId ?? -1;
    const cs = new Map<number, Column>([[xid, { type: DataType.Int64, data }]]);
    for (const c of edges) {
      for (const [op, f] of Object.entries(cmp)) {
        const plan = compileFilter(`x ${op} ${c}`, s);
        const bits = evaluate(plan, cs, data.length);
        const want = edges.map((v) => (f(v, c) ? 1 : 0));
        assert.deepEqual(Array.from(bits), want, `x ${op} ${c}`);
      }
    }
  });
});

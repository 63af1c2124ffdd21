import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import { validateSchema } from "../../src/common/schema.ts";
import {
  compileFilter,
  type ExprPlan,
  evaluate,
  fieldsOf,
  MAX_LIST_ITEMS,
  type PlanOptions,
  parseExpr,
  planExpr,
} from "../../src/expr/index.ts";
import { columns, fieldId, N, schema } from "./table.ts";

const noDynamic = validateSchema({
  name: "plain",
  fields: [
    { name: "id", dataType: "Int64", isPrimaryKey: true },
    { name: "s", dataType: "VarChar", maxLength: 10 },
    { name: "vec", dataType: "FloatVector", dim: 4 },
    { name: "bin", dataType: "BinaryVector", dim: 8 },
  ],
});

function planError(text: string, message: RegExp | string, s = schema, options?: PlanOptions): void {
  assert.throws(
    () => compileFilter(text, s, options),
    (e: unknown) => {
      if (!isStrataError(e, "ParameterInvalid")) return false;
      if (typeof message === "string") assert.ok(e.message.includes(message), `${text}: ${e.message}`);
      else assert.match(e.message, message, text);
      return true;
    },
    text,
  );
}

describe("planExpr: name resolution", () => {
  it("names an unknown field, with its position", () => {
    planError("nope > 1", 'field "nope" not found in collection plain at 0', noDynamic);
    planError('id > 1 and other == "x"', 'field "other" not found in collection plain at 11', noDynamic);
    planError('$meta["x"] == 1', 'field "$meta" not found', noDynamic);
  });

  it("resolves an unknown name to the dynamic field when the schema has one", () => {
    const plan = compileFilter('color["shade"] == "dark"', schema);
    assert.deepEqual(fieldsOf(plan), [fieldId("$meta")]);
    assert.equal(plan.root.op, "cmp");
    if (plan.root.op === "cmp") {
      assert.deepEqual(plan.root.left, {
        op: "json",
        fieldId: fieldId("$meta"),
        path: ["color", "shade"],
        type: { kind: "json" },
      });
    }
  });

  it("refuses vector fields", () => {
    planError("vec > 1", 'vector field "vec" cannot be used in a filter at 0', noDynamic);
    planError("bin[0] == 1", 'vector field "bin"', noDynamic);
    planError("vec is null", 'vector field "vec"', schema);
  });

  it("refuses indexing into scalars and non-integer or nested Array indexes", () => {
    planError("i32[0] > 1", 'field "i32" is Int32, not JSON or Array, and cannot be indexed at 0');
    planError('arr["x"] == 1', 'Array field "arr" takes one integer index, such as arr[0]');
    planError("arr[0][1] == 1", 'Array field "arr" takes one integer index');
  });
});

describe("planExpr: type checking", () => {
  const cases: readonly [string, string][] = [
    ["s > 1", 'cannot compare VarChar field "s" with integer 1 at 2'],
    ["1 == s", 'cannot compare integer 1 with VarChar field "s" at 2'],
    ['i32 == "a"', 'cannot compare Int32 field "i32" with string "a" at 4'],
    ["id == true", 'cannot compare Int64 field "id" with boolean true'],
    ["b == 1", 'cannot compare Bool field "b" with integer 1'],
    ["s == i32", 'cannot compare VarChar field "s" with Int32 field "i32"'],
    ['arr[0] == "x"', 'cannot compare Int64 element arr[0] with string "x"'],
    ["arr == 1", 'cannot compare Array<Int64> field "arr" with integer 1'],
    ["b < true", "booleans can only be compared with == or !=, not < at 2"],
    ["arr < [1]", "arrays can only be compared with == or !=, not < at 4"],
    ['meta["a"] < [1]', 'cannot compare JSON path meta["a"] with list [1]'],
    ['i32 like "1%"', 'like needs a VarChar or JSON operand, got Int32 field "i32" at 4'],
    ["arr like 'x'", "like needs a VarChar or JSON operand"],
    ["s like 1", "like needs a string pattern, got integer 1 at 7"],
    ["s like s", 'like needs a string pattern, got VarChar field "s"'],
    ['s like "a\\\\"', 'like pattern "a\\\\" ends with a lone "\\"'],
    ["array_contains(i32, 1)", 'array_contains needs an Array or JSON field, got Int32 field "i32" at 15'],
    ["array_contains_all(s, ['a'])", "array_contains_all needs an Array or JSON field"],
    ["array_length(s) > 1", "array_length needs an Array or JSON field"],
    ["array_length(arr[0]) > 1", "array_length needs an Array or JSON field"],
    ["array_contains(arr)", "array_contains takes 2 arguments, got 1"],
    ["array_length(arr, 1) > 0", "array_length takes 1 argument, got 2"],
    ['array_contains(arr, "x")', 'cannot compare Array<Int64> field "arr" with string "x"'],
    ["array_contains(sarr, 1)", "cannot compare Array<VarChar> field"],
    ["array_contains_any(barr, [1])", "cannot compare Array<Bool> field"],
    ["array_contains_all(arr, 1)", "array_contains_all needs a list of constants"],
    ["array_contains(arr, i32)", "array_contains needs a constant to look for"],
    ['i32 in ["a"]', 'cannot compare Int32 field "i32" with string "a"'],
    ["s in [1]", 'cannot compare VarChar field "s" with integer 1'],
    ["b in [1]", "cannot compare Bool field"],
    ["i32 in i32", "in needs a list of constants such as [1, 2] at 7"],
    ["i32 in [i32]", 'list items must be constants, got Int32 field "i32" at 8'],
    ["arr in [[1]]", '"in" does not apply to Array<Int64> field "arr"; use array_contains_any'],
    ["s + 1 > 2", 'operator + needs numbers, got VarChar field "s"'],
    ["b * 2 == 1", "operator * needs numbers, got Bool field"],
    ['-s == "a"', "unary minus needs numbers"],
    ["arr + 1 > 0", "operator + needs numbers, got Array<Int64> field"],
    ["(i32 > 1) + 1 > 0", "operator + needs numbers, got boolean expression"],
    ["i32 / 0 > 1", "division by zero at 4"],
    ["i32 % 0 == 0", "division by zero"],
    ["d / 0.0 > 1", "division by zero"],
    ["d / (1 - 1) > 1", "division by zero"],
    ["id == 9223372036854775808", "integer 9223372036854775808 is out of the int64 range at 6"],
    ["id == -9223372036854775809", "is out of the int64 range"],
    ["(i32 + 1) is null", "is null applies to a field or a JSON path at 10"],
    ["exists i32", 'exists needs a JSON path such as exists meta["key"], got Int32 field "i32" at 0'],
    ["exists arr[0]", "exists needs a JSON path"],
    ["i32", 'Int32 field "i32" is not a boolean expression at 0'],
    ["i32 + 1", "integer expression is not a boolean expression"],
    ['"abc"', 'string "abc" is not a boolean expression'],
    ["1", "integer 1 is not a boolean expression"],
    ["array_length(arr)", "is not a boolean expression"],
    ["arr", "is not a boolean expression"],
    ["i32 and b", 'Int32 field "i32" is not a boolean expression'],
    ["not s", 'VarChar field "s" is not a boolean expression'],
    ["false and s > 1", 'cannot compare VarChar field "s" with integer 1 at 12'],
    ["true or s > 1", "cannot compare VarChar field"],
    ["i32 > 1 and s > 1", "at 14"],
  ];
  for (const [text, message] of cases) it(text, () => planError(text, message));

  it("allows JSON values against any scalar, and bool values against predicates", () => {
    for (const text of [
      'meta["a"] == "x"',
      'meta["a"] > 1',
      'meta["a"] != true',
      'meta["a"] == meta["b"]',
      'meta["a"] == i32',
      'meta["a"] == ["x", 1]',
      "meta == arr",
      "(i32 > 1) == b",
      "(i32 > 1) != (d < 2)",
      'meta["a"] + 1 > d',
      "json_contains(meta, [1, 2])",
    ]) {
      assert.ok(compileFilter(text, schema), text);
    }
  });
});

describe("planExpr: template values", () => {
  it("reports a missing value", () =>
    planError("i32 in {vals}", "template variable {vals} has no value at 7"));

  it("refuses non-finite numbers and unsupported values", () => {
    planError("d > {x}", "is not a finite number", schema, { templateValues: { x: Number.NaN } });
    planError("d > {x}", "unsupported value", schema, {
      templateValues: { x: { a: 1 } as unknown as string },
    });
    planError("id > {x}", "out of the int64 range", schema, { templateValues: { x: 2n ** 63n } });
  });

  it("refuses a list with more than 65,536 items as ParameterTooLarge", () => {
    const vals = Array.from({ length: MAX_LIST_ITEMS + 1 }, (_, i) => BigInt(i));
    assert.throws(
      () => compileFilter("id in {vals}", schema, { templateValues: { vals } }),
      (e: unknown) => isStrataError(e, "ParameterTooLarge") && e.message.includes("65537 items"),
    );
    const ok = vals.slice(0, MAX_LIST_ITEMS);
    const bits = evaluate(
      compileFilter("id in {vals}", schema, { templateValues: { vals: ok } }),
      columns(),
      N,
    );
    assert.deepEqual(Array.from(bits), [1, 1, 0, 0, 0, 0]);
  });

  it("type-checks substituted values like literals", () => {
    planError("s == {x}", "cannot compare VarChar field", schema, { templateValues: { x: 1n } });
  });
});

describe("planExpr: plan shape", () => {
  it("turns a range into a conjunction of two comparisons sharing the operand", () => {
    const plan = compileFilter("1 < i32 <= 5", schema);
    assert.equal(plan.root.op, "and");
    if (plan.root.op !== "and") return;
    const [lo, hi] = plan.root.items;
    assert.ok(lo?.op === "cmp" && hi?.op === "cmp");
    assert.equal(lo.op === "cmp" && lo.cmp, "<");
    assert.equal(hi.op === "cmp" && hi.cmp, "<=");
    assert.deepEqual(lo.op === "cmp" && lo.right, hi.op === "cmp" && hi.left);
  });

  it("folds constants and double negation, but still type-checks folded operands", () => {
    assert.deepEqual(compileFilter("1 < 2 and 3 > 4", schema).root, { op: "const", value: false });
    assert.deepEqual(compileFilter("-9223372036854775808 < 0", schema).root, { op: "const", value: true });
    assert.deepEqual(compileFilter('"b" in ["a", "b"]', schema).root, { op: "const", value: true });
    assert.deepEqual(compileFilter('"abc" like "a%"', schema).root, { op: "const", value: true });
    assert.deepEqual(compileFilter("i32 is null", schema).root, { op: "const", value: false });
    const nn = compileFilter("not not b", schema).root;
    assert.equal(nn.op, "truthy");
    const t = compileFilter("true and b", schema).root;
    assert.equal(t.op, "truthy");
    assert.deepEqual(fieldsOf(compileFilter("false and i32 > 1", schema)), [fieldId("i32")]);
  });

  it("rounds a constant compared with a Float field to float32", () => {
    const plan = compileFilter("f == 0.1", schema);
    assert.ok(plan.root.op === "cmp" && plan.root.right.op === "const");
    assert.equal(
      plan.root.op === "cmp" && plan.root.right.op === "const" && plan.root.right.value,
      Math.fround(0.1),
    );
    const d = compileFilter("d == 0.1", schema);
    assert.equal(d.root.op === "cmp" && d.root.right.op === "const" && d.root.right.value, 0.1);
  });

  it("picks exact representations for integer arithmetic", () => {
    const small = compileFilter("i8 * i16 + 1 > 0", schema).root;
    assert.ok(small.op === "cmp" && small.left.type.kind === "int" && !small.left.type.big);
    const wide = compileFilter("i32 * i32 > 0", schema).root;
    assert.ok(wide.op === "cmp" && wide.left.type.kind === "int" && wide.left.type.big);
    const float = compileFilter("i32 / 2.0 > 0", schema).root;
    assert.ok(float.op === "cmp" && float.left.type.kind === "float");
  });

  it("is plain data: a structured clone plans and evaluates the same", () => {
    const plan = compileFilter(
      'i32 > 10 and (s like "b%" or array_contains(arr, 4)) or meta["n"] == 1',
      schema,
    );
    const copy = structuredClone(plan) as ExprPlan;
    assert.deepEqual(copy, plan);
    assert.deepEqual(Array.from(evaluate(copy, columns(), N)), Array.from(evaluate(plan, columns(), N)));
  });

  it("planExpr(parseExpr(x)) equals compileFilter(x)", () => {
    const text = 'meta["a"]["b"] > 3 or not b';
    assert.deepEqual(planExpr(parseExpr(text), schema), compileFilter(text, schema));
  });

  it("lists fields with their types", () => {
    const plan = compileFilter("array_contains(sarr, 'a') and s == 'x'", schema);
    assert.deepEqual(plan.fields, [
      { fieldId: fieldId("s"), name: "s", dataType: 21 },
      { fieldId: fieldId("sarr"), name: "sarr", dataType: 22, elementType: 21 },
    ]);
  });
});

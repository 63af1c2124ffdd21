/** fast-check arbitraries for random tables and random well-typed filter expressions. */
import fc from "fast-check";
import type { Column } from "../../src/common/column.ts";
import { type CollectionSchema, validateSchema } from "../../src/common/schema.ts";
import { DataType } from "../../src/common/types.ts";
import type { Arith, Cmp, JsonRef, Lit, Pred, Row, Val } from "./reference.ts";

export const schema: CollectionSchema = validateSchema({
  name: "prop",
  enableDynamicField: true,
  fields: [
    { name: "id", dataType: "Int64", isPrimaryKey: true },
    { name: "i8", dataType: "Int8" },
    { name: "i32", dataType: "Int32" },
    { name: "i64", dataType: "Int64" },
    { name: "f", dataType: "Float" },
    { name: "d", dataType: "Double" },
    { name: "s", dataType: "VarChar", maxLength: 64 },
    { name: "b", dataType: "Bool" },
    { name: "arr", dataType: "Array", elementType: "Int64", maxCapacity: 8 },
    { name: "sarr", dataType: "Array", elementType: "VarChar", maxCapacity: 8, maxLength: 16 },
    { name: "meta", dataType: "JSON" },
    { name: "vec", dataType: "FloatVector", dim: 2 },
  ],
});

function fid(name: string): number {
  const f = schema.fields.find((x) => x.name === name);
  if (f === undefined) throw new Error(name);
  return f.fieldId;
}

const noNegZero = (x: number) => (Object.is(x, -0) ? 0 : x);

const int64 = fc.oneof(
  { weight: 3, arbitrary: fc.bigInt({ min: -5n, max: 5n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      2n ** 53n - 1n,
      2n ** 53n,
      2n ** 53n + 1n,
      -(2n ** 53n) - 1n,
      2n ** 63n - 1n,
      -(2n ** 63n),
    ),
  },
);
const small = fc.integer({ min: -5, max: 5 });
const double = fc
  .oneof(
    { weight: 2, arbitrary: small.map((x) => x / 2) },
    { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }) },
    { weight: 1, arbitrary: fc.constantFrom(0.1, 2 ** 53, 2 ** 53 + 2, 1e20, -1e-7, 16777217) },
  )
  .map(noNegZero);
export const str = fc.string({
  unit: fc.constantFrom("a", "b", "c", "%", "_", "\\", "é", "😀", "\uE000", " ", "'", '"'),
  maxLength: 4,
});

const jsonScalar: fc.Arbitrary<unknown> = fc.oneof(
  small,
  fc.constantFrom(2n ** 53n + 1n, -(2n ** 60n), 2n ** 63n - 1n, 9007199254740993n),
  double,
  str,
  fc.boolean(),
  fc.constant(null),
);
const jsonVal: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: jsonScalar },
  { weight: 2, arbitrary: fc.array(jsonScalar, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.record({ a: jsonScalar }, { requiredKeys: [] }) },
);
const metaDoc: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      { a: jsonVal, b: jsonVal, o: fc.record({ a: jsonVal, b: jsonVal }, { requiredKeys: [] }) },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: jsonScalar },
);

export const rowArb: fc.Arbitrary<Row> = fc.record({
  id: int64,
  i8: fc.integer({ min: -128, max: 127 }),
  i32: fc.oneof(small, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
  i64: int64,
  f: double.map(Math.fround),
  d: double,
  s: str,
  b: fc.boolean(),
  arr: fc.array(int64, { maxLength: 4 }),
  sarr: fc.array(str, { maxLength: 3 }),
  meta: metaDoc,
  dyn: fc.record({ x: jsonVal, y: jsonVal }, { requiredKeys: [] }),
});

/** JSON text with bigints written as plain integers. */
export function toJsonText(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `__BIG__${x}` : x)).replace(
    /"__BIG__(-?\d+)"/g,
    "$1",
  );
}

export function toColumns(rows: readonly Row[]): Map<number, Column> {
  const enc = new TextEncoder();
  const col = <T>(f: (r: Row) => T) => rows.map(f);
  return new Map<number, Column>([
    [fid("id"), { type: DataType.Int64, data: BigInt64Array.from(col((r) => r.id)) }],
    [fid("i8"), { type: DataType.Int8, data: Int8Array.from(col((r) => r.i8)) }],
    [fid("i32"), { type: DataType.Int32, data: Int32Array.from(col((r) => r.i32)) }],
    [fid("i64"), { type: DataType.Int64, data: BigInt64Array.from(col((r) => r.i64)) }],
    [fid("f"), { type: DataType.Float, data: Float32Array.from(col((r) => r.f)) }],
    [fid("d"), { type: DataType.Double, data: Float64Array.from(col((r) => r.d)) }],
    [fid("s"), { type: DataType.VarChar, data: col((r) => r.s) }],
    [fid("b"), { type: DataType.Bool, data: Uint8Array.from(col((r) => (r.b ? 1 : 0))) }],
    [
      fid("arr"),
      {
        type: DataType.Array,
        elementType: DataType.Int64,
        data: col((r): Column => ({ type: DataType.Int64, data: BigInt64Array.from(r.arr) })),
      },
    ],
    [
      fid("sarr"),
      {
        type: DataType.Array,
        elementType: DataType.VarChar,
        data: col((r): Column => ({ type: DataType.VarChar, data: [...r.sarr] })),
      },
    ],
    [
      fid("meta"),
      {
        type: DataType.JSON,
        data: col((r) => (r.meta === undefined ? new Uint8Array(0) : enc.encode(toJsonText(r.meta)))),
      },
    ],
    [fid("$meta"), { type: DataType.JSON, data: col((r) => enc.encode(toJsonText(r.dyn))) }],
  ]);
}

// ---------- expressions ----------

const ilit: fc.Arbitrary<Lit> = int64.map((v) => ({ k: "ilit", v }));
const flit: fc.Arbitrary<Lit> = double.map((v) => ({ k: "flit", v }));
const numLit = fc.oneof(ilit, flit);
const slit: fc.Arbitrary<Lit> = fc.tuple(str, fc.boolean()).map(([v, single]) => ({ k: "slit", v, single }));
const blit: fc.Arbitrary<Lit> = fc
  .constantFrom("true", "True", "TRUE", "false", "False", "FALSE")
  .map((spelling) => ({ k: "blit", v: spelling.toLowerCase() === "true", spelling }));
const scalarLit = fc.oneof(numLit, slit, blit);
const listOf = (item: fc.Arbitrary<Lit>) =>
  fc.array(item, { maxLength: 4 }).map((items): Lit => ({ k: "list", items }));

const jsonRef: fc.Arbitrary<JsonRef> = fc.constantFrom<JsonRef>(
  { k: "json", base: "meta", keys: ["a"] },
  { k: "json", base: "meta", keys: ["b"] },
  { k: "json", base: "meta", keys: ["o", "a"] },
  { k: "json", base: "meta", keys: ["a", 0] },
  { k: "json", base: "meta", keys: ["a", 1] },
  { k: "json", base: "meta", keys: ["a", "a"] },
  { k: "json", base: "meta", keys: [] },
  { k: "json", base: "dynName", keys: ["x"] },
  { k: "json", base: "dynName", keys: ["y"] },
  { k: "json", base: "dynName", keys: ["x", 0] },
  { k: "json", base: "$meta", keys: ["x"] },
);

const cmpOp = fc.constantFrom<Cmp>("==", "!=", "<", "<=", ">", ">=");
const eqOp = fc.constantFrom<Cmp>("==", "!=");
const arithOp = fc.constantFrom<Arith>("+", "-", "*", "/", "%");

const numField: fc.Arbitrary<Val> = fc
  .constantFrom("id", "i8", "i32", "i64", "f", "d")
  .map((name) => ({ k: "num", name }) as Val);
const numLeaf: fc.Arbitrary<Val> = fc.oneof(
  { weight: 4, arbitrary: numField },
  { weight: 2, arbitrary: jsonRef },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 2 }).map((idx): Val => ({ k: "elem", name: "arr", idx })),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.constantFrom<"arr" | "sarr">("arr", "sarr"), jsonRef)
      .map((src): Val => ({ k: "len", src })),
  },
);

const isZeroLit = (v: Val) => (v.k === "ilit" && v.v === 0n) || (v.k === "flit" && v.v === 0);

/** Numeric expressions that are not literals (so no operation on literals alone is folded). */
function nonLitNum(depth: number): fc.Arbitrary<Val> {
  if (depth <= 0) return numLeaf;
  const sub = nonLitNum(depth - 1);
  const any = fc.oneof(sub, numLit);
  return fc.oneof(
    { weight: 3, arbitrary: numLeaf },
    {
      weight: 2,
      arbitrary: fc.tuple(sub, arithOp, any).map(([l, op, r]): Val => {
        // A constant zero divisor is a plan-time error; keep the generated expressions valid.
        const right: Val = (op === "/" || op === "%") && isZeroLit(r) ? { k: "ilit", v: 1n } : r;
        return { k: "arith", op, l, r: right };
      }),
    },
    { weight: 1, arbitrary: sub.map((x): Val => ({ k: "neg", x })) },
  );
}

const num = (depth: number) =>
  fc.oneof({ weight: 3, arbitrary: nonLitNum(depth) }, { weight: 1, arbitrary: numLit });
const strVal: fc.Arbitrary<Val> = fc.oneof(
  fc.constant<Val>({ k: "str", name: "s" }),
  slit,
  fc.integer({ min: 0, max: 2 }).map((idx): Val => ({ k: "elem", name: "sarr", idx })),
  jsonRef,
);

const spell = (...xs: string[]) => fc.constantFrom(...xs);
const likePattern = fc
  .array(fc.constantFrom("a", "b", "%", "_", "\\%", "\\_", "\\\\", "é", "😀", "\\a", "'"), { maxLength: 5 })
  .map((xs) => xs.join(""));

const leafPred = (d: number): fc.Arbitrary<Pred> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.tuple(num(d), cmpOp, num(d)).map(([l, op, r]): Pred => ({ k: "cmp", op, l, r })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(strVal, cmpOp, strVal).map(([l, op, r]): Pred => ({ k: "cmp", op, l, r })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.oneof(fc.constant<Val>({ k: "bool", name: "b" }), blit, jsonRef),
          eqOp,
          fc.oneof(blit, jsonRef, fc.constant<Val>({ k: "bool", name: "b" })),
        )
        .map(([l, op, r]): Pred => ({ k: "cmp", op, l, r })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(jsonRef, eqOp, listOf(scalarLit))
        .map(([l, op, r]): Pred => ({ k: "cmp", op, l, r })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          numLit,
          fc.constantFrom<"<" | "<=">("<", "<="),
          num(d),
          fc.constantFrom<"<" | "<=">("<", "<="),
          numLit,
          fc.boolean(),
        )
        .map(([lo, op1, x, op2, hi, desc]): Pred => ({ k: "range", lo, op1, x, op2, hi, desc })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(num(d), fc.boolean(), fc.array(numLit, { maxLength: 4 }))
        .map(([x, neg, items]): Pred => ({ k: "in", neg, x, items })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(strVal, fc.boolean(), fc.array(slit, { maxLength: 4 }))
        .map(([x, neg, items]): Pred => ({ k: "in", neg, x, items })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.oneof(jsonRef, fc.constant<Val>({ k: "bool", name: "b" })),
          fc.boolean(),
          fc.array(fc.oneof(scalarLit), { maxLength: 4 }),
        )
        .map(
          ([x, neg, items]): Pred => ({
            k: "in",
            neg,
            x,
            items: x.k === "bool" ? items.filter((i) => i.k === "blit") : items,
          }),
        ),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.oneof(strVal.filter((v) => v.k !== "slit")), fc.boolean(), likePattern)
        .map(([x, neg, pat]): Pred => ({ k: "like", neg, x, pat })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(jsonRef, fc.boolean()).map(([x, neg]): Pred => ({ k: "isnull", neg, x })),
    },
    { weight: 1, arbitrary: jsonRef.map((x): Pred => ({ k: "exists", x })) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc
          .tuple(fc.constantFrom("array_contains", "json_contains"), numLit)
          .map(([fn, v]): Pred => ({ k: "contains", fn, src: "arr", v }) as Pred),
        fc
          .tuple(
            fc.constantFrom("array_contains_all", "array_contains_any", "json_contains_any"),
            listOf(numLit),
          )
          .map(([fn, v]): Pred => ({ k: "contains", fn, src: "arr", v }) as Pred),
        fc
          .tuple(fc.constantFrom("array_contains", "json_contains"), slit)
          .map(([fn, v]): Pred => ({ k: "contains", fn, src: "sarr", v }) as Pred),
        fc
          .tuple(
            fc.constantFrom("array_contains_all", "array_contains_any", "json_contains_all"),
            listOf(slit),
          )
          .map(([fn, v]): Pred => ({ k: "contains", fn, src: "sarr", v }) as Pred),
        fc
          .tuple(
            fc.constantFrom("json_contains", "array_contains"),
            jsonRef,
            fc.oneof(scalarLit, listOf(scalarLit)),
          )
          .map(([fn, src, v]): Pred => ({ k: "contains", fn, src, v }) as Pred),
        fc
          .tuple(
            fc.constantFrom("json_contains_all", "json_contains_any", "array_contains_any"),
            jsonRef,
            listOf(scalarLit),
          )
          .map(([fn, src, v]): Pred => ({ k: "contains", fn, src, v }) as Pred),
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(fc.constant<Val>({ k: "bool", name: "b" }), jsonRef, blit)
        .map((x): Pred => ({ k: "truthy", x })),
    },
  );

export function predArb(depth: number): fc.Arbitrary<Pred> {
  const leaf = leafPred(Math.min(depth, 2));
  if (depth <= 0) return leaf;
  const sub = predArb(depth - 1);
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom<"and" | "or">("and", "or"),
          fc.array(sub, { minLength: 2, maxLength: 3 }),
          fc.nat(3),
        )
        .map(
          ([k, items, s]): Pred => ({
            k,
            items,
            spelling: (k === "and" ? ["and", "AND", "&&", "And"] : ["or", "OR", "||", "oR"])[s] as string,
          }),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(sub, spell("not", "NOT", "!", "Not"))
        .map(([p, spelling]): Pred => ({ k: "not", p, spelling })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          sub,
          eqOp,
          fc.oneof(
            sub.map((p): Val => ({ k: "pred", p })),
            fc.constant<Val>({ k: "bool", name: "b" }),
          ),
        )
        .map(([p, op, r]): Pred => ({ k: "cmp", op, l: { k: "pred", p }, r })),
    },
  );
}

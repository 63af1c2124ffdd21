/** A small hand-built table with every field type, for tests with hand-computed answers. */
import type { Column } from "../../src/common/column.ts";
import { type CollectionSchema, validateSchema } from "../../src/common/schema.ts";
import { DataType } from "../../src/common/types.ts";

export const schema: CollectionSchema = validateSchema({
  name: "t",
  enableDynamicField: true,
  fields: [
    { name: "id", dataType: "Int64", isPrimaryKey: true },
    { name: "i8", dataType: "Int8" },
    { name: "i16", dataType: "Int16" },
    { name: "i32", dataType: "Int32" },
    { name: "f", dataType: "Float" },
    { name: "d", dataType: "Double" },
    { name: "s", dataType: "VarChar", maxLength: 100 },
    { name: "b", dataType: "Bool" },
    { name: "meta", dataType: "JSON" },
    { name: "arr", dataType: "Array", elementType: "Int64", maxCapacity: 10 },
    { name: "sarr", dataType: "Array", elementType: "VarChar", maxCapacity: 10, maxLength: 20 },
    { name: "farr", dataType: "Array", elementType: "Float", maxCapacity: 10 },
    { name: "barr", dataType: "Array", elementType: "Bool", maxCapacity: 10 },
    { name: "vec", dataType: "FloatVector", dim: 2 },
  ],
});

export function fieldId(name: string): number {
  const f = schema.fields.find((x) => x.name === name);
  if (f === undefined) throw new Error(`no field ${name}`);
  return f.fieldId;
}

const enc = new TextEncoder();
const json = (text: string) => enc.encode(text);

export const N = 6;

/**
 * row | id        | i8   | i16 | i32        | f     | d      | s            | b     | meta                                         | arr       | sarr        | farr     | $meta
 * 0   | 1         | -5   | 1   | 10         | 0.1   | 1.5    | apple        | true  | {a:{b:5},tags:[x,y],n:1,s:"hello"}          | [1,2,3]   | [a,b]       | [0.1,2.5]| {color:red,size:3}
 * 1   | 2         | 0    | 2   | 20         | 2.5   | -3.25  | banana       | false | {a:{b:2},tags:[y],n:"1"}                     | []        | [c]         | []       | {color:blue}
 * 2   | 2^53+1    | 127  | 3   | -7         | -1    | 0      | cherry pie   | true  | {a:{b:3.5},tags:[],n:null}                   | [3,4]     | []          | [1]      | {}
 * 3   | -2^63     | -128 | 4   | 15         | 3     | 0.001  | a%b_c        | false | {n:9007199254740993}                         | [2^53+1]  | [a,c]       | [0.5]    | {size:10,color:red}
 * 4   | 2^63-1    | 1    | 5   | 2147483647 | 0.5   | 100    | ""           | true  | {}                                           | [1,1,1]   | [b]         | [2]      | {size:"big"}
 * 5   | 2^53      | 3    | 6   | 0          | 1e10  | 2.5    | Ünïcödé 😀   | false | (empty cell: null document)                  | [5]       | [x,y,z]     | []       | {color:green,size:3,tags:[x]}
 */
export function columns(): Map<number, Column> {
  const i64 = (xs: bigint[]): Column => ({ type: DataType.Int64, data: BigInt64Array.from(xs) });
  const strs = (xs: string[]): Column => ({ type: DataType.VarChar, data: xs });
  const f32 = (xs: number[]): Column => ({ type: DataType.Float, data: Float32Array.from(xs) });
  const bools = (xs: boolean[]): Column => ({
    type: DataType.Bool,
    data: Uint8Array.from(xs, (x) => (x ? 1 : 0)),
  });
  return new Map<number, Column>([
    [fieldId("id"), i64([1n, 2n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n])],
    [fieldId("i8"), { type: DataType.Int8, data: Int8Array.from([-5, 0, 127, -128, 1, 3]) }],
    [fieldId("i16"), { type: DataType.Int16, data: Int16Array.from([1, 2, 3, 4, 5, 6]) }],
    [fieldId("i32"), { type: DataType.Int32, data: Int32Array.from([10, 20, -7, 15, 2147483647, 0]) }],
    [fieldId("f"), f32([0.1, 2.5, -1, 3, 0.5, 1e10])],
    [fieldId("d"), { type: DataType.Double, data: Float64Array.from([1.5, -3.25, 0, 1e-3, 100, 2.5]) }],
    [fieldId("s"), strs(["apple", "banana", "cherry pie", "a%b_c", "", "Ünïcödé 😀"])],
    [fieldId("b"), bools([true, false, true, false, true, false])],
    [
      fieldId("meta"),
      {
        type: DataType.JSON,
        data: [
          json('{"a":{"b":5},"tags":["x","y"],"n":1,"s":"hello"}'),
          json('{"a":{"b":2},"tags":["y"],"n":"1"}'),
          json('{"a":{"b":3.5},"tags":[],"n":null}'),
          json('{"n":9007199254740993}'),
          json("{}"),
          new Uint8Array(0),
        ],
      },
    ],
    [
      fieldId("arr"),
      {
        type: DataType.Array,
        elementType: DataType.Int64,
        data: [
          i64([1n, 2n, 3n]),
          i64([]),
          i64([3n, 4n]),
          i64([2n ** 53n + 1n]),
          i64([1n, 1n, 1n]),
          i64([5n]),
        ],
      },
    ],
    [
      fieldId("sarr"),
      {
        type: DataType.Array,
        elementType: DataType.VarChar,
        data: [strs(["a", "b"]), strs(["c"]), strs([]), strs(["a", "c"]), strs(["b"]), strs(["x", "y", "z"])],
      },
    ],
    [
      fieldId("farr"),
      {
        type: DataType.Array,
        elementType: DataType.Float,
        data: [f32([0.1, 2.5]), f32([]), f32([1]), f32([0.5]), f32([2]), f32([])],
      },
    ],
    [
      fieldId("barr"),
      {
        type: DataType.Array,
        elementType: DataType.Bool,
        data: [
          bools([true]),
          bools([false]),
          bools([]),
          bools([true, false]),
          bools([false, false]),
          bools([true]),
        ],
      },
    ],
    [
      fieldId("$meta"),
      {
        type: DataType.JSON,
        data: [
          json('{"color":"red","size":3}'),
          json('{"color":"blue"}'),
          json("{}"),
          json('{"size":10,"color":"red"}'),
          json('{"size":"big"}'),
          json('{"color":"green","size":3,"tags":["x"]}'),
        ],
      },
    ],
  ]);
}

import type { Column } from "../common/column.ts";
import { DataType } from "../common/types.ts";
import type { CmpOp } from "./ast.ts";

/** A constant known at plan time. Integers are bigints (exact int64); floats are numbers. */
export type ConstValue = bigint | number | string | boolean | readonly ConstValue[];

/**
 * Outcome of comparing two values: -1/0/1 ordered, 2 = unequal but unordered (NaN, two different
 * booleans or arrays), undefined = not comparable (missing, or different types), which makes every
 * comparison false, as Milvus does for JSON values of another type.
 */
export type CmpResult = -1 | 0 | 1 | 2 | undefined;

export function applyCmp(op: CmpOp, r: CmpResult): boolean {
  switch (op) {
    case "==":
      return r === 0;
    case "!=":
      return r === -1 || r === 1 || r === 2;
    case "<":
      return r === -1;
    case "<=":
      return r === -1 || r === 0;
    case ">":
      return r === 1;
    case ">=":
      return r === 1 || r === 0;
  }
}

export function flipCmp(op: CmpOp): CmpOp {
  switch (op) {
    case "<":
      return ">";
    case "<=":
      return ">=";
    case ">":
      return "<";
    case ">=":
      return "<=";
    default:
      return op;
  }
}

/** Exact comparison of a double and an int64, without rounding the bigint through a double. */
function cmpNumberBig(a: number, b: bigint): CmpResult {
  if (Number.isNaN(a)) return 2;
  const bn = Number(b);
  // Number(b) is the double nearest b, so no double lies strictly between them: order is kept.
  if (a !== bn) return a < bn ? -1 : 1;
  const ab = BigInt(a);
  return ab < b ? -1 : ab > b ? 1 : 0;
}

/** Exact numeric comparison across doubles and int64 bigints. */
export function cmpNum(a: number | bigint, b: number | bigint): CmpResult {
  if (typeof a === "number") {
    if (typeof b === "number") return a < b ? -1 : a > b ? 1 : a === b ? 0 : 2;
    return cmpNumberBig(a, b);
  }
  if (typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  const r = cmpNumberBig(b, a);
  return r === -1 ? 1 : r === 1 ? -1 : r;
}

/** UTF-16 units reordered so that comparing them gives code point (UTF-8 byte) order. */
function fixUnit(u: number): number {
  return u >= 0xe000 ? u - 0x800 : u >= 0xd800 ? u + 0x2000 : u;
}

/** Code point order, which is the byte order of UTF-8, which is what Milvus compares. */
export function cmpStr(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) return fixUnit(x) < fixUnit(y) ? -1 : 1;
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : 1;
}

/** True when native `<` on strings agrees with code point order against this string. */
export function isBelowSurrogates(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0xd800) return false;
  return true;
}

function isNumeric(v: unknown): v is number | bigint {
  return typeof v === "number" || typeof v === "bigint";
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Compares two dynamic values (JSON values, constants, column cells). */
export function cmpScalars(a: unknown, b: unknown): CmpResult {
  if (isNumeric(a)) return isNumeric(b) ? cmpNum(a, b) : undefined;
  if (typeof a === "string") return typeof b === "string" ? cmpStr(a, b) : undefined;
  if (typeof a === "boolean") return typeof b === "boolean" ? (a === b ? 0 : 2) : undefined;
  if (Array.isArray(a)) return Array.isArray(b) ? (deepEqual(a, b) ? 0 : 2) : undefined;
  if (isPlainObject(a)) return isPlainObject(b) ? (deepEqual(a, b) ? 0 : 2) : undefined;
  return undefined;
}

/** Structural equality with numbers compared by value (1 equals 1n); iterative, for deep JSON. */
export function deepEqual(a: unknown, b: unknown): boolean {
  const stack: unknown[] = [a, b];
  while (stack.length > 0) {
    const y = stack.pop();
    const x = stack.pop();
    if (isNumeric(x)) {
      if (!isNumeric(y) || cmpNum(x, y) !== 0) return false;
    } else if (Array.isArray(x)) {
      if (!Array.isArray(y) || x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) stack.push(x[i], y[i]);
    } else if (isPlainObject(x)) {
      if (!isPlainObject(y)) return false;
      const kx = Object.keys(x);
      if (kx.length !== Object.keys(y).length) return false;
      for (const k of kx) {
        if (!Object.hasOwn(y, k)) return false;
        stack.push(x[k], y[k]);
      }
    } else if (x !== y) {
      return false;
    }
  }
  return true;
}

/** One row of an Array column as plain JS values (bigints for Int64, booleans for Bool). */
export function arrayRowToJs(c: Column): unknown[] {
  switch (c.type) {
    case DataType.Bool:
      return Array.from(c.data, (v) => v !== 0);
    case DataType.Int64:
      return Array.from(c.data);
    case DataType.VarChar:
    case DataType.String:
      return c.data.slice();
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
    case DataType.Float:
    case DataType.Double:
      return Array.from(c.data);
    default:
      return [];
  }
}

function exactDouble(v: bigint): number | undefined {
  const n = Number(v);
  return BigInt(n) === v ? n : undefined;
}

/**
 * Membership index over a constant list: `indexOf` gives the position of the distinct list value
 * equal to x (numbers by value across doubles and bigints), or -1.
 */
export class ValueIndex {
  readonly size: number;
  private readonly nums = new Map<number, number>();
  /** Every integral value, as a bigint, for int64 probes. */
  private readonly ints = new Map<bigint, number>();
  private readonly strs = new Map<string, number>();
  private readonly bools: [number, number] = [-1, -1];
  private readonly arrays: { v: unknown; idx: number }[] = [];

  constructor(values: readonly unknown[]) {
    let next = 0;
    for (const v of values) {
      if (this.indexOf(v) >= 0) continue;
      const idx = next++;
      if (typeof v === "number") {
        this.nums.set(v, idx);
        if (Number.isInteger(v) && Math.abs(v) <= 2 ** 63) this.ints.set(BigInt(v), idx);
      } else if (typeof v === "bigint") {
        this.ints.set(v, idx);
        const d = exactDouble(v);
        if (d !== undefined) this.nums.set(d, idx);
      } else if (typeof v === "string") {
        this.strs.set(v, idx);
      } else if (typeof v === "boolean") {
        this.bools[v ? 1 : 0] = idx;
      } else {
        this.arrays.push({ v, idx });
      }
    }
    this.size = next;
  }

  indexOf(x: unknown): number {
    switch (typeof x) {
      case "number":
        return this.nums.get(x) ?? -1;
      case "bigint":
        return this.ints.get(x) ?? -1;
      case "string":
        return this.strs.get(x) ?? -1;
      case "boolean":
        return this.bools[x ? 1 : 0];
      case "object":
        if (x === null) return -1;
        for (const a of this.arrays) if (deepEqual(a.v, x)) return a.idx;
        return -1;
      default:
        return -1;
    }
  }

  /** Fast path for int64 cells. */
  indexOfInt(x: bigint): number {
    return this.ints.get(x) ?? -1;
  }

  /** Fast path for numeric cells. */
  indexOfNumber(x: number): number {
    return this.nums.get(x) ?? -1;
  }

  indexOfString(x: string): number {
    return this.strs.get(x) ?? -1;
  }
}

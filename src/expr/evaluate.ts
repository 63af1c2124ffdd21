import { TextDecoder } from "node:util";
import { type Column, columnLength } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { DataType, dataTypeName } from "../common/types.ts";
import type { ArithOp, CmpOp } from "./ast.ts";
import { parseJson, walkPath } from "./json.ts";
import { compileLike } from "./like.ts";
import type { ExprPlan, PlanField, PredNode, ValueNode } from "./plan.ts";
import {
  applyCmp,
  arrayRowToJs,
  type ConstValue,
  cmpScalars,
  cmpStr,
  flipCmp,
  isBelowSurrogates,
  ValueIndex,
} from "./values.ts";

/**
 * A column of intermediate values. `valid` (1 = has a value) marks rows without one: an array
 * index past the end, an integer division by zero, a JSON value that is not a number. Such rows
 * make every comparison false.
 */
type Vec =
  | { readonly k: "const"; readonly v: ConstValue }
  | { readonly k: "num"; readonly d: ArrayLike<number>; readonly valid: Uint8Array | undefined }
  | { readonly k: "big"; readonly d: BigInt64Array; readonly valid: Uint8Array | undefined }
  | { readonly k: "str"; readonly d: readonly string[]; readonly valid: Uint8Array | undefined }
  | { readonly k: "bool"; readonly d: Uint8Array; readonly valid: Uint8Array | undefined }
  /** Dynamic JSON values; undefined = missing. */
  | { readonly k: "dyn"; readonly d: readonly unknown[] }
  | { readonly k: "arr"; readonly d: readonly Column[] };

/** The fields a plan reads, by ascending field ID. */
export function fieldsOf(plan: ExprPlan): number[] {
  return plan.fields.map((f) => f.fieldId);
}

/**
 * Evaluates a plan over `rowCount` rows given as columns keyed by field ID (at least the fields
 * of `fieldsOf(plan)`). Returns a fresh bitset with one byte per row: 1 = the row matches, 0 = it
 * does not. Works column by column: each plan node runs one loop over typed arrays. JSON columns
 * are parsed at most once per call.
 * @throws StrataError ParameterInvalid when a needed column is missing, of the wrong type or
 *   length; Corrupted when a JSON cell is not valid UTF-8 JSON.
 */
export function evaluate(plan: ExprPlan, columns: ReadonlyMap<number, Column>, rowCount: number): Uint8Array {
  if (!Number.isSafeInteger(rowCount) || rowCount < 0) {
    throw new StrataError("ParameterInvalid", `rowCount must be a non-negative integer, got ${rowCount}`);
  }
  return new Evaluator(plan, columns, rowCount).pred(plan.root);
}

function sameType(col: Column, f: PlanField): boolean {
  const strLike = (t: number) => t === DataType.VarChar || t === DataType.String;
  if (col.type !== f.dataType && !(strLike(col.type) && strLike(f.dataType))) return false;
  return col.type !== DataType.Array || col.elementType === f.elementType;
}

function andValid(a: Uint8Array | undefined, b: Uint8Array | undefined, n: number): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i]! & b[i]!;
  return out;
}

function maskInPlace(out: Uint8Array, valid: Uint8Array | undefined): void {
  if (valid === undefined) return;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! & valid[i]!;
}

class Evaluator {
  private readonly docs = new Map<number, readonly unknown[]>();
  private readonly paths = new Map<string, readonly unknown[]>();
  private decoder: TextDecoder | undefined;
  private readonly names = new Map<number, string>();

  constructor(
    plan: ExprPlan,
    private readonly columns: ReadonlyMap<number, Column>,
    private readonly n: number,
  ) {
    for (const f of plan.fields) {
      this.names.set(f.fieldId, f.name);
      const col = columns.get(f.fieldId);
      if (col === undefined) {
        throw new StrataError(
          "ParameterInvalid",
          `filter needs field "${f.name}" (${f.fieldId}) but no column was given`,
        );
      }
      if (!sameType(col, f)) {
        throw new StrataError(
          "ParameterInvalid",
          `filter column for field "${f.name}" is ${dataTypeName(col.type)}, expected ${dataTypeName(f.dataType)}`,
        );
      }
      const len = columnLength(col);
      if (len !== n) {
        throw new StrataError(
          "ParameterInvalid",
          `filter column for field "${f.name}" has ${len} rows, expected ${n}`,
        );
      }
    }
  }

  private column(fieldId: number): Column {
    const c = this.columns.get(fieldId);
    if (c === undefined) throw new StrataError("ParameterInvalid", `no column for field ${fieldId}`);
    return c;
  }

  // ---- predicates: each returns a fresh bitset the caller may modify ----

  pred(node: PredNode): Uint8Array {
    const n = this.n;
    switch (node.op) {
      case "const":
        return new Uint8Array(n).fill(node.value ? 1 : 0);
      case "and":
      case "or": {
        const stop = node.op === "and" ? 0 : 1;
        const items = node.items;
        const out = this.pred(items[0] as PredNode);
        for (let k = 1; k < items.length; k++) {
          // Skip the remaining operands once every row is decided.
          if (out.every((b) => b === stop)) break;
          const r = this.pred(items[k] as PredNode);
          if (stop === 0) for (let i = 0; i < n; i++) out[i] = out[i]! & r[i]!;
          else for (let i = 0; i < n; i++) out[i] = out[i]! | r[i]!;
        }
        return out;
      }
      case "not": {
        const out = this.pred(node.item);
        for (let i = 0; i < n; i++) out[i] = out[i]! ^ 1;
        return out;
      }
      case "cmp":
        return this.compare(node.cmp, this.value(node.left), this.value(node.right));
      case "in":
        return this.inList(this.value(node.operand), node.values);
      case "like":
        return this.like(this.value(node.operand), node.pattern);
      case "isNull":
      case "exists": {
        const v = this.value(node.operand);
        const out = new Uint8Array(n);
        if (v.k !== "dyn") throw new Error(`${node.op} on a non-JSON value`);
        const d = v.d;
        if (node.op === "isNull")
          for (let i = 0; i < n; i++) out[i] = d[i] === undefined || d[i] === null ? 1 : 0;
        else for (let i = 0; i < n; i++) out[i] = d[i] === undefined ? 0 : 1;
        return out;
      }
      case "contains":
        return this.contains(node.mode, this.value(node.source), node.values);
      case "truthy":
        return this.truthy(this.value(node.operand));
    }
  }

  private truthy(v: Vec): Uint8Array {
    const n = this.n;
    const out = new Uint8Array(n);
    switch (v.k) {
      case "bool":
        out.set(v.d);
        maskInPlace(out, v.valid);
        return out;
      case "dyn":
        for (let i = 0; i < n; i++) out[i] = v.d[i] === true ? 1 : 0;
        return out;
      case "const":
        return out.fill(v.v === true ? 1 : 0);
      default:
        throw new Error(`truthy on ${v.k}`);
    }
  }

  // ---- values ----

  private value(node: ValueNode): Vec {
    switch (node.op) {
      case "const":
        return { k: "const", v: node.value };
      case "field":
        return this.fieldVec(node.fieldId);
      case "json":
        return { k: "dyn", d: this.jsonValues(node.fieldId, node.path) };
      case "element":
        return this.element(node.fieldId, node.index);
      case "length":
        return this.length(node.source);
      case "pred":
        return { k: "bool", d: this.pred(node.pred), valid: undefined };
      case "neg":
        return this.neg(node);
      case "arith":
        return this.arith(node);
    }
  }

  private fieldVec(fieldId: number): Vec {
    const c = this.column(fieldId);
    switch (c.type) {
      case DataType.Bool:
        return { k: "bool", d: c.data, valid: undefined };
      case DataType.Int8:
      case DataType.Int16:
      case DataType.Int32:
      case DataType.Float:
      case DataType.Double:
        return { k: "num", d: c.data, valid: undefined };
      case DataType.Int64:
        return { k: "big", d: c.data, valid: undefined };
      case DataType.VarChar:
      case DataType.String:
        return { k: "str", d: c.data, valid: undefined };
      case DataType.JSON:
        return { k: "dyn", d: this.jsonValues(fieldId, []) };
      case DataType.Array:
        return { k: "arr", d: c.data };
      default:
        throw new StrataError(
          "ParameterInvalid",
          `field ${fieldId} of type ${dataTypeName(c.type)} cannot be filtered`,
        );
    }
  }

  private jsonDocs(fieldId: number): readonly unknown[] {
    const cached = this.docs.get(fieldId);
    if (cached !== undefined) return cached;
    const c = this.column(fieldId);
    if (c.type !== DataType.JSON) throw new Error(`field ${fieldId} is not JSON`);
    this.decoder ??= new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    const dec = this.decoder;
    const docs: unknown[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const bytes = c.data[i] as Uint8Array;
      if (bytes.length === 0) {
        docs[i] = undefined;
        continue;
      }
      try {
        docs[i] = parseJson(dec.decode(bytes));
      } catch (e) {
        throw new StrataError(
          "Corrupted",
          `row ${i} of JSON field "${this.names.get(fieldId) ?? fieldId}" is not valid JSON`,
          { cause: e },
        );
      }
    }
    this.docs.set(fieldId, docs);
    return docs;
  }

  private jsonValues(fieldId: number, path: readonly (string | number)[]): readonly unknown[] {
    const docs = this.jsonDocs(fieldId);
    if (path.length === 0) return docs;
    const key = `${fieldId}:${JSON.stringify(path)}`;
    const cached = this.paths.get(key);
    if (cached !== undefined) return cached;
    const out: unknown[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = walkPath(docs[i], path);
    this.paths.set(key, out);
    return out;
  }

  private element(fieldId: number, index: number): Vec {
    const c = this.column(fieldId);
    if (c.type !== DataType.Array) throw new Error(`field ${fieldId} is not an Array`);
    const n = this.n;
    const rows = c.data;
    const valid = new Uint8Array(n);
    switch (c.elementType) {
      case DataType.Int64: {
        const d = new BigInt64Array(n);
        for (let i = 0; i < n; i++) {
          const r = rows[i] as Column;
          if (r.type === DataType.Int64 && index < r.data.length) {
            d[i] = r.data[index] as bigint;
            valid[i] = 1;
          }
        }
        return { k: "big", d, valid };
      }
      case DataType.VarChar:
      case DataType.String: {
        const d: string[] = new Array<string>(n).fill("");
        for (let i = 0; i < n; i++) {
          const r = rows[i] as Column;
          if ((r.type === DataType.VarChar || r.type === DataType.String) && index < r.data.length) {
            d[i] = r.data[index] as string;
            valid[i] = 1;
          }
        }
        return { k: "str", d, valid };
      }
      case DataType.Bool: {
        const d = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          const r = rows[i] as Column;
          if (r.type === DataType.Bool && index < r.data.length) {
            d[i] = r.data[index] as number;
            valid[i] = 1;
          }
        }
        return { k: "bool", d, valid };
      }
      default: {
        const d = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const r = rows[i] as Column;
          if (
            (r.type === DataType.Int8 ||
              r.type === DataType.Int16 ||
              r.type === DataType.Int32 ||
              r.type === DataType.Float ||
              r.type === DataType.Double) &&
            index < r.data.length
          ) {
            d[i] = r.data[index] as number;
            valid[i] = 1;
          }
        }
        return { k: "num", d, valid };
      }
    }
  }

  private length(source: ValueNode): Vec {
    const n = this.n;
    const v = this.value(source);
    const d = new Float64Array(n);
    if (v.k === "arr") {
      for (let i = 0; i < n; i++) d[i] = columnLength(v.d[i] as Column);
      return { k: "num", d, valid: undefined };
    }
    if (v.k !== "dyn") throw new Error(`array_length on ${v.k}`);
    const valid = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const x = v.d[i];
      if (Array.isArray(x)) {
        d[i] = x.length;
        valid[i] = 1;
      }
    }
    return { k: "num", d, valid };
  }

  /** Numbers of a numeric vector as doubles; JSON values that are not numbers have no value. */
  private asNumbers(v: Vec): { d: ArrayLike<number>; valid: Uint8Array | undefined } {
    const n = this.n;
    switch (v.k) {
      case "const":
        return { d: new Float64Array(n).fill(Number(v.v)), valid: undefined };
      case "num":
        return v;
      case "big":
        return { d: Float64Array.from(v.d, Number), valid: v.valid };
      case "dyn": {
        const d = new Float64Array(n);
        const valid = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          const x = v.d[i];
          if (typeof x === "number") {
            d[i] = x;
            valid[i] = 1;
          } else if (typeof x === "bigint") {
            d[i] = Number(x);
            valid[i] = 1;
          }
        }
        return { d, valid };
      }
      default:
        throw new Error(`arithmetic on ${v.k}`);
    }
  }

  private asBigs(v: Vec): { d: BigInt64Array; valid: Uint8Array | undefined } {
    const n = this.n;
    switch (v.k) {
      case "const":
        return { d: new BigInt64Array(n).fill(BigInt(v.v as bigint)), valid: undefined };
      case "big":
        return v;
      case "num":
        return { d: BigInt64Array.from(v.d, (x) => BigInt(x)), valid: v.valid };
      default:
        throw new Error(`int64 arithmetic on ${v.k}`);
    }
  }

  private neg(node: ValueNode & { op: "neg" }): Vec {
    const n = this.n;
    const v = this.value(node.operand);
    if (node.type.kind === "int" && node.type.big) {
      const x = this.asBigs(v);
      const d = new BigInt64Array(n);
      for (let i = 0; i < n; i++) d[i] = BigInt.asIntN(64, -x.d[i]!);
      return { k: "big", d, valid: x.valid };
    }
    const x = this.asNumbers(v);
    const d = new Float64Array(n);
    for (let i = 0; i < n; i++) d[i] = -x.d[i]!;
    if (node.type.kind === "int") noNegativeZero(d);
    return { k: "num", d, valid: x.valid };
  }

  private arith(node: ValueNode & { op: "arith" }): Vec {
    const l = this.value(node.left);
    const r = this.value(node.right);
    const t = node.type;
    if (t.kind === "int" && t.big) return this.arithBig(node.arith, this.asBigs(l), this.asBigs(r));
    const op = node.arith;
    if (r.k === "const" && (op === "+" || op === "-" || op === "*")) {
      // The common `field op constant` shape, without materialising the constant.
      const x = this.asNumbers(l);
      const c = Number(r.v);
      const n = this.n;
      const d = new Float64Array(n);
      const xd = x.d;
      if (op === "+") for (let i = 0; i < n; i++) d[i] = xd[i]! + c;
      else if (op === "-") for (let i = 0; i < n; i++) d[i] = xd[i]! - c;
      else for (let i = 0; i < n; i++) d[i] = xd[i]! * c;
      if (t.kind === "int") noNegativeZero(d);
      return { k: "num", d, valid: x.valid };
    }
    return this.arithNum(op, t.kind === "int", this.asNumbers(l), this.asNumbers(r));
  }

  private arithNum(
    op: ArithOp,
    integer: boolean,
    l: { d: ArrayLike<number>; valid: Uint8Array | undefined },
    r: { d: ArrayLike<number>; valid: Uint8Array | undefined },
  ): Vec {
    const n = this.n;
    const x = l.d;
    const y = r.d;
    const d = new Float64Array(n);
    let valid = andValid(l.valid, r.valid, n);
    switch (op) {
      case "+":
        for (let i = 0; i < n; i++) d[i] = x[i]! + y[i]!;
        break;
      case "-":
        for (let i = 0; i < n; i++) d[i] = x[i]! - y[i]!;
        break;
      case "*":
        for (let i = 0; i < n; i++) d[i] = x[i]! * y[i]!;
        break;
      case "/":
      case "%":
        if (integer) {
          // An integer division by zero has no value (Milvus' C++ engine would trap).
          const v = valid === undefined ? new Uint8Array(n).fill(1) : Uint8Array.from(valid);
          for (let i = 0; i < n; i++) {
            const b = y[i]!;
            if (b === 0) v[i] = 0;
            else d[i] = op === "/" ? Math.trunc(x[i]! / b) : x[i]! % b;
          }
          valid = v;
        } else if (op === "/") {
          for (let i = 0; i < n; i++) d[i] = x[i]! / y[i]!;
        } else {
          for (let i = 0; i < n; i++) d[i] = x[i]! % y[i]!;
        }
        break;
    }
    if (integer) noNegativeZero(d);
    return { k: "num", d, valid };
  }

  private arithBig(
    op: ArithOp,
    l: { d: BigInt64Array; valid: Uint8Array | undefined },
    r: { d: BigInt64Array; valid: Uint8Array | undefined },
  ): Vec {
    const n = this.n;
    const x = l.d;
    const y = r.d;
    const d = new BigInt64Array(n);
    let valid = andValid(l.valid, r.valid, n);
    // BigInt64Array stores modulo 2^64, so + - * wrap like int64 without an explicit asIntN.
    switch (op) {
      case "+":
        for (let i = 0; i < n; i++) d[i] = x[i]! + y[i]!;
        break;
      case "-":
        for (let i = 0; i < n; i++) d[i] = x[i]! - y[i]!;
        break;
      case "*":
        for (let i = 0; i < n; i++) d[i] = x[i]! * y[i]!;
        break;
      case "/":
      case "%": {
        const v = valid === undefined ? new Uint8Array(n).fill(1) : Uint8Array.from(valid);
        for (let i = 0; i < n; i++) {
          const b = y[i]!;
          if (b === 0n) v[i] = 0;
          else d[i] = op === "/" ? x[i]! / b : x[i]! % b;
        }
        valid = v;
        break;
      }
    }
    return { k: "big", d, valid };
  }

  // ---- comparisons ----

  private cell(v: Vec, i: number): unknown {
    switch (v.k) {
      case "const":
        return v.v;
      case "num":
        return v.valid !== undefined && v.valid[i] === 0 ? undefined : v.d[i];
      case "big":
        return v.valid !== undefined && v.valid[i] === 0 ? undefined : v.d[i];
      case "str":
        return v.valid !== undefined && v.valid[i] === 0 ? undefined : v.d[i];
      case "bool":
        return v.valid !== undefined && v.valid[i] === 0 ? undefined : v.d[i] !== 0;
      case "dyn":
        return v.d[i];
      case "arr":
        return arrayRowToJs(v.d[i] as Column);
    }
  }

  private compare(op: CmpOp, l: Vec, r: Vec): Uint8Array {
    if (l.k === "const" && r.k !== "const") return this.compare(flipCmp(op), r, l);
    const n = this.n;
    const out = new Uint8Array(n);
    if (r.k === "const") {
      const c = r.v;
      if (
        l.k === "num" &&
        (typeof c === "number" || (typeof c === "bigint" && Number.isSafeInteger(Number(c))))
      ) {
        cmpNumConst(op, l.d, Number(c), out);
        maskInPlace(out, l.valid);
        return out;
      }
      if (l.k === "big" && (typeof c === "bigint" || typeof c === "number")) {
        const k = typeof c === "bigint" ? ({ op, c } as const) : bigVsDouble(op, c);
        if (typeof k === "boolean") out.fill(k ? 1 : 0);
        else cmpBigConst(k.op, l.d, k.c, out);
        maskInPlace(out, l.valid);
        return out;
      }
      if (l.k === "str" && typeof c === "string") {
        cmpStrConst(op, l.d, c, out);
        maskInPlace(out, l.valid);
        return out;
      }
    } else if (l.k === "num" && r.k === "num") {
      const x = l.d;
      const y = r.d;
      for (let i = 0; i < n; i++)
        out[i] = applyCmp(op, x[i]! < y[i]! ? -1 : x[i]! > y[i]! ? 1 : x[i] === y[i] ? 0 : 2) ? 1 : 0;
      maskInPlace(out, andValid(l.valid, r.valid, n));
      return out;
    } else if (l.k === "big" && r.k === "big") {
      const x = l.d;
      const y = r.d;
      for (let i = 0; i < n; i++) out[i] = applyCmp(op, x[i]! < y[i]! ? -1 : x[i]! > y[i]! ? 1 : 0) ? 1 : 0;
      maskInPlace(out, andValid(l.valid, r.valid, n));
      return out;
    }
    // General case: exact per-row comparison of dynamic values.
    for (let i = 0; i < n; i++) out[i] = applyCmp(op, cmpScalars(this.cell(l, i), this.cell(r, i))) ? 1 : 0;
    return out;
  }

  private inList(v: Vec, values: readonly ConstValue[]): Uint8Array {
    const n = this.n;
    const out = new Uint8Array(n);
    const idx = new ValueIndex(values);
    switch (v.k) {
      case "num":
        for (let i = 0; i < n; i++) out[i] = idx.indexOfNumber(v.d[i]!) >= 0 ? 1 : 0;
        maskInPlace(out, v.valid);
        return out;
      case "big":
        for (let i = 0; i < n; i++) out[i] = idx.indexOfInt(v.d[i]!) >= 0 ? 1 : 0;
        maskInPlace(out, v.valid);
        return out;
      case "str":
        for (let i = 0; i < n; i++) out[i] = idx.indexOfString(v.d[i]!) >= 0 ? 1 : 0;
        maskInPlace(out, v.valid);
        return out;
      default:
        for (let i = 0; i < n; i++) out[i] = idx.indexOf(this.cell(v, i)) >= 0 ? 1 : 0;
        return out;
    }
  }

  private like(v: Vec, pattern: string): Uint8Array {
    const n = this.n;
    const out = new Uint8Array(n);
    const m = compileLike(pattern);
    if (v.k === "str") {
      for (let i = 0; i < n; i++) out[i] = m(v.d[i]!) ? 1 : 0;
      maskInPlace(out, v.valid);
    } else if (v.k === "dyn") {
      for (let i = 0; i < n; i++) {
        const x = v.d[i];
        out[i] = typeof x === "string" && m(x) ? 1 : 0;
      }
    } else {
      throw new Error(`like on ${v.k}`);
    }
    return out;
  }

  private contains(mode: "one" | "all" | "any", v: Vec, values: readonly ConstValue[]): Uint8Array {
    const n = this.n;
    const out = new Uint8Array(n);
    const idx = new ValueIndex(values);
    const need = idx.size;
    // Per distinct list value, the last row that held it: counts distinct hits without a per-row set.
    const seen = new Int32Array(need).fill(-1);
    let row = 0;
    let hits = 0;
    let anyHit = false;
    /** Records a hit; true when the row is decided and the scan can stop. */
    const visit = (k: number): boolean => {
      if (k < 0) return false;
      anyHit = true;
      if (seen[k] !== row) {
        seen[k] = row;
        hits++;
      }
      return mode !== "all" || hits === need;
    };
    for (let i = 0; i < n; i++) {
      row = i;
      hits = 0;
      anyHit = false;
      if (v.k === "arr") {
        const row = v.d[i] as Column;
        switch (row.type) {
          case DataType.Int64:
            for (const x of row.data) if (visit(idx.indexOfInt(x))) break;
            break;
          case DataType.VarChar:
          case DataType.String:
            for (const x of row.data) if (visit(idx.indexOfString(x))) break;
            break;
          case DataType.Bool:
            for (const x of row.data) if (visit(idx.indexOf(x !== 0))) break;
            break;
          case DataType.Int8:
          case DataType.Int16:
          case DataType.Int32:
          case DataType.Float:
          case DataType.Double:
            for (const x of row.data) if (visit(idx.indexOfNumber(x))) break;
            break;
          default:
            break;
        }
      } else if (v.k === "dyn") {
        const x = v.d[i];
        if (!Array.isArray(x)) continue;
        for (const el of x) if (visit(idx.indexOf(el))) break;
      } else {
        throw new Error(`contains on ${v.k}`);
      }
      out[i] = (mode === "all" ? hits === need : anyHit) ? 1 : 0;
    }
    return out;
  }
}

/**
 * Integers held as doubles must never be -0: int64 has no negative zero, and a later float
 * division by it would give -Infinity instead of +Infinity.
 */
function noNegativeZero(d: Float64Array): void {
  for (let i = 0; i < d.length; i++) d[i] = d[i]! + 0;
}

/**
 * Rewrites `int64 op double` into an exact `int64 op int64`, or a constant answer: x < 1.5 is
 * x <= 1, and no int64 equals 1.5 or exceeds 2^63.
 */
function bigVsDouble(op: CmpOp, c: number): { op: CmpOp; c: bigint } | boolean {
  if (Number.isNaN(c)) return op === "!=";
  if (c >= 2 ** 63) return op === "<" || op === "<=" || op === "!=";
  if (c < -(2 ** 63)) return op === ">" || op === ">=" || op === "!=";
  if (Number.isInteger(c)) return { op, c: BigInt(c) };
  const f = BigInt(Math.floor(c));
  switch (op) {
    case "==":
      return false;
    case "!=":
      return true;
    case "<":
    case "<=":
      return { op: "<=", c: f };
    case ">":
    case ">=":
      return { op: ">", c: f };
  }
}

function cmpNumConst(op: CmpOp, d: ArrayLike<number>, c: number, out: Uint8Array): void {
  const n = out.length;
  switch (op) {
    case "==":
      for (let i = 0; i < n; i++) out[i] = d[i] === c ? 1 : 0;
      break;
    case "!=":
      for (let i = 0; i < n; i++) out[i] = d[i] !== c ? 1 : 0;
      break;
    case "<":
      for (let i = 0; i < n; i++) out[i] = d[i]! < c ? 1 : 0;
      break;
    case "<=":
      for (let i = 0; i < n; i++) out[i] = d[i]! <= c ? 1 : 0;
      break;
    case ">":
      for (let i = 0; i < n; i++) out[i] = d[i]! > c ? 1 : 0;
      break;
    case ">=":
      for (let i = 0; i < n; i++) out[i] = d[i]! >= c ? 1 : 0;
      break;
  }
}

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function cmpBigConst(op: CmpOp, d: BigInt64Array, c: bigint, out: Uint8Array): void {
  if (c >= I64_MIN && c <= I64_MAX) {
    cmpInt64Words(op, d, c, out);
    return;
  }
  const n = out.length;
  switch (op) {
    case "==":
      for (let i = 0; i < n; i++) out[i] = d[i] === c ? 1 : 0;
      break;
    case "!=":
      for (let i = 0; i < n; i++) out[i] = d[i] !== c ? 1 : 0;
      break;
    case "<":
      for (let i = 0; i < n; i++) out[i] = d[i]! < c ? 1 : 0;
      break;
    case "<=":
      for (let i = 0; i < n; i++) out[i] = d[i]! <= c ? 1 : 0;
      break;
    case ">":
      for (let i = 0; i < n; i++) out[i] = d[i]! > c ? 1 : 0;
      break;
    case ">=":
      for (let i = 0; i < n; i++) out[i] = d[i]! >= c ? 1 : 0;
      break;
  }
}

/**
 * Int64 against a constant in range, as (signed high word, unsigned low word) pairs: the same order
 * as the bigint comparison without reading one bigint per row (several times faster in V8).
 */
function cmpInt64Words(op: CmpOp, d: BigInt64Array, c: bigint, out: Uint8Array): void {
  const n = out.length;
  const w = new Int32Array(d.buffer, d.byteOffset, n * 2);
  const chi = Number(BigInt.asIntN(32, c >> 32n));
  const clo = Number(BigInt.asUintN(32, c));
  // Equality compares both words as signed int32 without branching (a third faster in V8).
  const slo = clo | 0;
  switch (op) {
    case "==":
      for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = +(w[j] === slo) & +(w[j + 1] === chi);
      break;
    case "!=":
      for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = 1 ^ (+(w[j] === slo) & +(w[j + 1] === chi));
      break;
    case "<":
      for (let i = 0; i < n; i++) {
        const hi = w[2 * i + 1]!;
        out[i] = hi < chi || (hi === chi && w[2 * i]! >>> 0 < clo) ? 1 : 0;
      }
      break;
    case "<=":
      for (let i = 0; i < n; i++) {
        const hi = w[2 * i + 1]!;
        out[i] = hi < chi || (hi === chi && w[2 * i]! >>> 0 <= clo) ? 1 : 0;
      }
      break;
    case ">":
      for (let i = 0; i < n; i++) {
        const hi = w[2 * i + 1]!;
        out[i] = hi > chi || (hi === chi && w[2 * i]! >>> 0 > clo) ? 1 : 0;
      }
      break;
    case ">=":
      for (let i = 0; i < n; i++) {
        const hi = w[2 * i + 1]!;
        out[i] = hi > chi || (hi === chi && w[2 * i]! >>> 0 >= clo) ? 1 : 0;
      }
      break;
  }
}

function cmpStrConst(op: CmpOp, d: readonly string[], c: string, out: Uint8Array): void {
  const n = out.length;
  if (op === "==" || op === "!=") {
    const eq = op === "==" ? 1 : 0;
    for (let i = 0; i < n; i++) out[i] = d[i] === c ? eq : eq ^ 1;
    return;
  }
  if (isBelowSurrogates(c)) {
    // Against a string without surrogates or U+E000..U+FFFF, UTF-16 order equals code point order.
    switch (op) {
      case "<":
        for (let i = 0; i < n; i++) out[i] = d[i]! < c ? 1 : 0;
        break;
      case "<=":
        for (let i = 0; i < n; i++) out[i] = d[i]! <= c ? 1 : 0;
        break;
      case ">":
        for (let i = 0; i < n; i++) out[i] = d[i]! > c ? 1 : 0;
        break;
      case ">=":
        for (let i = 0; i < n; i++) out[i] = d[i]! >= c ? 1 : 0;
        break;
    }
    return;
  }
  for (let i = 0; i < n; i++) out[i] = applyCmp(op, cmpStr(d[i]!, c)) ? 1 : 0;
}

/**
 * Column → Arrow Data, validating the column on the way. Fixed-width columns are wrapped without
 * copying; only variable-length rows (strings, JSON, arrays, sparse rows) are concatenated.
 */
import { Buffer } from "node:buffer";
import { DataType as ArrowDataType, type Data, makeData } from "apache-arrow";
import type { Column, SparseRow } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { DataType } from "../common/types.ts";
import { invalid } from "./meta.ts";

const INT32_MAX = 0x7fffffff;
/** Matches a lone surrogate only (`u` mode reads a valid pair as one non-surrogate code point). */
const LONE_SURROGATE = /\p{Cs}/u;

type TypedArrayCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

function internal(message: string): StrataError {
  return new StrataError("ServiceInternal", message);
}

function narrow<T extends ArrowDataType>(guard: (x: unknown) => x is T, t: ArrowDataType | undefined): T {
  if (t === undefined || !guard(t)) throw internal(`unexpected arrow type ${String(t)}`);
  return t;
}

function childType(t: ArrowDataType, i = 0): ArrowDataType {
  const c = t.children?.[i];
  if (c === undefined) throw internal(`arrow type ${String(t)} has no child ${i}`);
  return c.type;
}

export function checkArray(what: string, v: unknown, ctor: TypedArrayCtor): void {
  if (!(v instanceof ctor)) throw invalid(`${what} must be a ${ctor.name}`);
}

function offsetsFrom(lengths: ArrayLike<number>, what: string): Int32Array {
  const out = new Int32Array(lengths.length + 1);
  let total = 0;
  for (let i = 0; i < lengths.length; i++) {
    total += lengths[i] ?? 0;
    if (total > INT32_MAX) throw new StrataError("ParameterTooLarge", `${what}: more than 2^31-1 values`);
    out[i + 1] = total;
  }
  return out;
}

/** Arrow booleans are bit-packed, least significant bit first. */
function packBits(v: Uint8Array, what: string): Uint8Array {
  const out = new Uint8Array((v.length + 7) >>> 3);
  for (let i = 0; i < v.length; i++) {
    const b = v[i];
    if (b === 1) out[i >>> 3] = (out[i >>> 3] ?? 0) | (1 << (i & 7));
    else if (b !== 0) throw invalid(`${what}: Bool values must be 0 or 1, row ${i} is ${b}`);
  }
  return out;
}

function utf8(rows: readonly string[], what: string): { offsets: Int32Array; bytes: Uint8Array } {
  if (!Array.isArray(rows)) throw invalid(`${what} must be an array of strings`);
  for (let i = 0; i < rows.length; i++) {
    if (typeof rows[i] !== "string") throw invalid(`${what}: row ${i} is not a string`);
  }
  const joined = rows.join("");
  const all = Buffer.from(joined, "utf8");
  if (all.length > INT32_MAX) throw new StrataError("ParameterTooLarge", `${what}: more than 2^31-1 bytes`);
  if (all.length === joined.length) {
    // Pure ASCII: byte offsets equal UTF-16 offsets.
    return {
      offsets: offsetsFrom(
        rows.map((s) => s.length),
        what,
      ),
      bytes: all,
    };
  }
  const lengths = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const s = rows[i] ?? "";
    // A lone surrogate would come back as U+FFFD: refuse rather than silently change the value.
    if (LONE_SURROGATE.test(s)) throw invalid(`${what}: row ${i} is not well-formed UTF-16 (lone surrogate)`);
    lengths[i] = Buffer.byteLength(s, "utf8");
  }
  return { offsets: offsetsFrom(lengths, what), bytes: all };
}

function binaryRows(rows: readonly Uint8Array[], what: string): { offsets: Int32Array; bytes: Uint8Array } {
  if (!Array.isArray(rows)) throw invalid(`${what} must be an array of Uint8Array`);
  const lengths = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(r instanceof Uint8Array)) throw invalid(`${what}: row ${i} is not a Uint8Array`);
    lengths[i] = r.length;
  }
  const offsets = offsetsFrom(lengths, what);
  const bytes = new Uint8Array(offsets[rows.length] ?? 0);
  for (let i = 0; i < rows.length; i++) bytes.set(rows[i] ?? new Uint8Array(0), offsets[i] ?? 0);
  return { offsets, bytes };
}

function checkDim(c: { dim: number; data: ArrayLike<unknown> }, unit: number, what: string): number {
  if (!Number.isSafeInteger(c.dim) || c.dim <= 0 || c.dim % unit !== 0) {
    throw invalid(
      `${what}: dim must be a positive integer${unit > 1 ? ` multiple of ${unit}` : ""}, got ${c.dim}`,
    );
  }
  const width = unit === 8 ? c.dim / 8 : c.dim;
  if (c.data.length % width !== 0)
    throw invalid(`${what}: data length ${c.data.length} is not a multiple of ${width}`);
  return c.data.length / width;
}

/** Element type ctor for flat (Array element) columns. */
function flatCtor(t: DataType): TypedArrayCtor | undefined {
  switch (t) {
    case DataType.Bool:
      return Uint8Array;
    case DataType.Int8:
      return Int8Array;
    case DataType.Int16:
      return Int16Array;
    case DataType.Int32:
      return Int32Array;
    case DataType.Int64:
      return BigInt64Array;
    case DataType.Float:
      return Float32Array;
    case DataType.Double:
      return Float64Array;
    default:
      return undefined;
  }
}

/** Concatenates Array rows into one column of the element type, and gives each row's length. */
function flattenRows(
  elementType: DataType,
  rows: readonly Column[],
  what: string,
): { flat: Column; lengths: Int32Array } {
  if (!Array.isArray(rows)) throw invalid(`${what} must be an array of columns`);
  const lengths = new Int32Array(rows.length);
  const ctor = flatCtor(elementType);
  for (let i = 0; i < rows.length; i++) {
    const r: unknown = rows[i];
    if (typeof r !== "object" || r === null || !("type" in r) || r.type !== elementType || !("data" in r)) {
      throw invalid(`${what}: row ${i} is not a column of element type ${elementType}`);
    }
    if (ctor !== undefined) checkArray(`${what}: row ${i} data`, r.data, ctor);
    else if (!Array.isArray(r.data)) throw invalid(`${what}: row ${i} data must be an array of strings`);
    lengths[i] = (r.data as ArrayLike<unknown>).length;
  }
  if (ctor === undefined) {
    if (elementType !== DataType.VarChar) throw invalid(`${what}: unsupported element type ${elementType}`);
    const strings: string[] = [];
    for (const r of rows) for (const s of r.data as readonly string[]) strings.push(s);
    return { flat: { type: DataType.VarChar, data: strings }, lengths };
  }
  const parts = rows.map((r) => r.data);
  switch (elementType) {
    case DataType.Bool:
      return {
        flat: { type: elementType, data: concat((n) => new Uint8Array(n), parts as Uint8Array[]) },
        lengths,
      };
    case DataType.Int8:
      return {
        flat: { type: elementType, data: concat((n) => new Int8Array(n), parts as Int8Array[]) },
        lengths,
      };
    case DataType.Int16:
      return {
        flat: { type: elementType, data: concat((n) => new Int16Array(n), parts as Int16Array[]) },
        lengths,
      };
    case DataType.Int32:
      return {
        flat: { type: elementType, data: concat((n) => new Int32Array(n), parts as Int32Array[]) },
        lengths,
      };
    case DataType.Int64:
      return {
        flat: { type: elementType, data: concat((n) => new BigInt64Array(n), parts as BigInt64Array[]) },
        lengths,
      };
    case DataType.Float:
      return {
        flat: { type: elementType, data: concat((n) => new Float32Array(n), parts as Float32Array[]) },
        lengths,
      };
    default:
      return {
        flat: { type: DataType.Double, data: concat((n) => new Float64Array(n), parts as Float64Array[]) },
        lengths,
      };
  }
}

interface Settable<A> {
  readonly length: number;
  set(src: A, offset?: number): void;
}

function concat<A extends Settable<A>>(make: (n: number) => A, parts: readonly A[]): A {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = make(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function sparse(rows: readonly SparseRow[], type: ArrowDataType, what: string): Data {
  if (!Array.isArray(rows)) throw invalid(`${what} must be an array of sparse rows`);
  const lengths = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r: unknown = rows[i];
    if (typeof r !== "object" || r === null || !("indices" in r) || !("values" in r)) {
      throw invalid(`${what}: row ${i} is not a sparse row`);
    }
    checkArray(`${what}: row ${i} indices`, r.indices, Uint32Array);
    checkArray(`${what}: row ${i} values`, r.values, Float32Array);
    const idx = r.indices as Uint32Array;
    if (idx.length !== (r.values as Float32Array).length) {
      throw invalid(
        `${what}: row ${i} has ${idx.length} indices but ${(r.values as Float32Array).length} values`,
      );
    }
    for (let j = 1; j < idx.length; j++) {
      if ((idx[j] ?? 0) <= (idx[j - 1] ?? 0))
        throw invalid(`${what}: row ${i} indices are not strictly increasing`);
    }
    lengths[i] = idx.length;
  }
  const offsets = offsetsFrom(lengths, what);
  const nnz = offsets[rows.length] ?? 0;
  const indices = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as SparseRow;
    indices.set(r.indices, offsets[i] ?? 0);
    values.set(r.values, offsets[i] ?? 0);
  }
  const list = narrow(ArrowDataType.isList, type);
  const struct = narrow(ArrowDataType.isStruct, childType(list));
  const child = makeData({
    type: struct,
    length: nnz,
    nullCount: 0,
    children: [
      makeData({
        type: narrow(ArrowDataType.isInt, childType(struct, 0)),
        length: nnz,
        nullCount: 0,
        data: indices,
      }),
      makeData({
        type: narrow(ArrowDataType.isFloat, childType(struct, 1)),
        length: nnz,
        nullCount: 0,
        data: values,
      }),
    ],
  });
  return makeData({ type: list, length: rows.length, nullCount: 0, valueOffsets: offsets, child });
}

function fixedList(type: ArrowDataType, rows: number, values: Float32Array | Uint16Array): Data {
  const fsl = narrow(ArrowDataType.isFixedSizeList, type);
  const ct = childType(fsl);
  const child = ArrowDataType.isFloat(ct)
    ? makeData({ type: ct, length: values.length, nullCount: 0, data: values })
    : makeData({ type: narrow(ArrowDataType.isInt, ct), length: values.length, nullCount: 0, data: values });
  return makeData({ type: fsl, length: rows, nullCount: 0, child });
}

/**
 * Converts a validated-on-the-fly column to Arrow Data of `type` (from `arrowType`).
 * @throws StrataError ParameterInvalid when the column is malformed (wrong array class, Bool not 0/1,
 *   dim not matching the data, lone surrogates, unsorted sparse indices, Array rows of another type).
 */
export function columnToData(c: Column, type: ArrowDataType, what: string): Data {
  switch (c.type) {
    case DataType.Bool:
      checkArray(what, c.data, Uint8Array);
      return makeData({
        type: narrow(ArrowDataType.isBool, type),
        length: c.data.length,
        nullCount: 0,
        data: packBits(c.data, what),
      });
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
    case DataType.Int64: {
      checkArray(what, c.data, flatCtor(c.type) ?? Int8Array);
      return makeData({
        type: narrow(ArrowDataType.isInt, type),
        length: c.data.length,
        nullCount: 0,
        data: c.data,
      });
    }
    case DataType.Float:
    case DataType.Double:
      checkArray(what, c.data, flatCtor(c.type) ?? Float32Array);
      return makeData({
        type: narrow(ArrowDataType.isFloat, type),
        length: c.data.length,
        nullCount: 0,
        data: c.data,
      });
    case DataType.String:
    case DataType.VarChar: {
      const { offsets, bytes } = utf8(c.data, what);
      const t = narrow(ArrowDataType.isUtf8, type);
      return makeData({ type: t, length: c.data.length, nullCount: 0, valueOffsets: offsets, data: bytes });
    }
    case DataType.JSON: {
      const { offsets, bytes } = binaryRows(c.data, what);
      const t = narrow(ArrowDataType.isBinary, type);
      return makeData({ type: t, length: c.data.length, nullCount: 0, valueOffsets: offsets, data: bytes });
    }
    case DataType.Array: {
      const { flat, lengths } = flattenRows(c.elementType, c.data, what);
      const list = narrow(ArrowDataType.isList, type);
      const child = columnToData(flat, childType(list), `${what} elements`);
      return makeData({
        type: list,
        length: lengths.length,
        nullCount: 0,
        valueOffsets: offsetsFrom(lengths, what),
        child,
      });
    }
    case DataType.BinaryVector: {
      checkArray(what, c.data, Uint8Array);
      const rows = checkDim(c, 8, what);
      return makeData({
        type: narrow(ArrowDataType.isFixedSizeBinary, type),
        length: rows,
        nullCount: 0,
        data: c.data,
      });
    }
    case DataType.FloatVector:
      checkArray(what, c.data, Float32Array);
      return fixedList(type, checkDim(c, 1, what), c.data);
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      checkArray(what, c.data, Uint16Array);
      return fixedList(type, checkDim(c, 1, what), c.data);
    case DataType.SparseFloatVector:
      return sparse(c.data, type, what);
    default:
      throw invalid(`${what}: unsupported data type ${String((c as { type: unknown }).type)}`);
  }
}

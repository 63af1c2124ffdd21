/**
 * Arrow Data → Column. Runs only on Data that `canonicalBuffers` has validated and whose checksum
 * matched. Fixed-width data comes back as typed-array views on the file bytes (no copy, no per-row
 * work); variable-length rows are views (JSON, sparse rows, numeric array rows) or strings.
 */
import { Buffer, isAscii } from "node:buffer";
import type { Data } from "apache-arrow";
import type { Column, SparseRow } from "../common/column.ts";
import { DataType } from "../common/types.ts";
import type { ColumnDesc } from "./arrow-types.ts";
import { corrupted } from "./meta.ts";

function view(v: unknown): ArrayBufferView {
  if (!ArrayBuffer.isView(v)) throw corrupted("missing data buffer");
  return v;
}

function kid(d: Data, i: number): Data {
  const c = d.children[i];
  if (c === undefined) throw corrupted(`child ${i} missing`);
  return c;
}

function offsetsOf(d: Data): Int32Array {
  const v: unknown = d.valueOffsets;
  if (!(v instanceof Int32Array)) throw corrupted("missing offsets buffer");
  return v;
}

function unpackBits(d: Data): Uint8Array {
  const v = view(d.values);
  const bits = new Uint8Array(v.buffer, v.byteOffset, (d.length + 7) >>> 3);
  const out = new Uint8Array(d.length);
  for (let i = 0; i < out.length; i++) out[i] = ((bits[i >>> 3] ?? 0) >>> (i & 7)) & 1;
  return out;
}

function strings(d: Data): string[] {
  const offs = offsetsOf(d);
  const v = view(d.values);
  const n = d.length;
  const buf = Buffer.from(v.buffer, v.byteOffset, offs[n] ?? 0);
  const out = new Array<string>(n);
  if (isAscii(buf)) {
    // One native decode, then cheap slices: byte offsets are character offsets in ASCII.
    const all = buf.toString("latin1");
    for (let i = 0; i < n; i++) out[i] = all.slice(offs[i], offs[i + 1]);
  } else {
    for (let i = 0; i < n; i++) out[i] = buf.toString("utf8", offs[i], offs[i + 1]);
  }
  return out;
}

function binaries(d: Data): Uint8Array[] {
  const offs = offsetsOf(d);
  const v = view(d.values);
  const all = new Uint8Array(v.buffer, v.byteOffset, offs[d.length] ?? 0);
  const out = new Array<Uint8Array>(d.length);
  for (let i = 0; i < d.length; i++) out[i] = all.subarray(offs[i], offs[i + 1]);
  return out;
}

/** Rows [start, end) of a flat (Array element) column. */
function slice(c: Column, start: number, end: number): Column {
  switch (c.type) {
    case DataType.Bool:
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
    case DataType.Int64:
    case DataType.Float:
    case DataType.Double:
      return { ...c, data: c.data.subarray(start, end) } as Column;
    case DataType.VarChar:
    case DataType.String:
      return { type: c.type, data: c.data.slice(start, end) };
    default:
      throw corrupted(`type ${c.type} cannot be an array element`);
  }
}

/** Converts validated Data of `d.length` rows to the Column the descriptor names. */
export function dataToColumn(d: Data, desc: ColumnDesc): Column {
  const n = d.length;
  switch (desc.dataType) {
    case DataType.Bool:
      return { type: DataType.Bool, data: unpackBits(d) };
    case DataType.Int8: {
      const v = view(d.values);
      return { type: DataType.Int8, data: new Int8Array(v.buffer, v.byteOffset, n) };
    }
    case DataType.Int16: {
      const v = view(d.values);
      return { type: DataType.Int16, data: new Int16Array(v.buffer, v.byteOffset, n) };
    }
    case DataType.Int32: {
      const v = view(d.values);
      return { type: DataType.Int32, data: new Int32Array(v.buffer, v.byteOffset, n) };
    }
    case DataType.Int64: {
      const v = view(d.values);
      return { type: DataType.Int64, data: new BigInt64Array(v.buffer, v.byteOffset, n) };
    }
    case DataType.Float: {
      const v = view(d.values);
      return { type: DataType.Float, data: new Float32Array(v.buffer, v.byteOffset, n) };
    }
    case DataType.Double: {
      const v = view(d.values);
      return { type: DataType.Double, data: new Float64Array(v.buffer, v.byteOffset, n) };
    }
    case DataType.String:
    case DataType.VarChar:
      return { type: desc.dataType, data: strings(d) };
    case DataType.JSON:
      return { type: DataType.JSON, data: binaries(d) };
    case DataType.Array: {
      const elementType = desc.elementType ?? DataType.None;
      const offs = offsetsOf(d);
      const flat = dataToColumn(kid(d, 0), { dataType: elementType });
      const rows = new Array<Column>(n);
      for (let i = 0; i < n; i++) rows[i] = slice(flat, offs[i] ?? 0, offs[i + 1] ?? 0);
      return { type: DataType.Array, elementType, data: rows };
    }
    case DataType.BinaryVector: {
      const dim = desc.dim ?? 0;
      const v = view(d.values);
      return {
        type: DataType.BinaryVector,
        dim,
        data: new Uint8Array(v.buffer, v.byteOffset, (n * dim) / 8),
      };
    }
    case DataType.FloatVector: {
      const dim = desc.dim ?? 0;
      const v = view(kid(d, 0).values);
      return { type: DataType.FloatVector, dim, data: new Float32Array(v.buffer, v.byteOffset, n * dim) };
    }
    case DataType.Float16Vector:
    case DataType.BFloat16Vector: {
      const dim = desc.dim ?? 0;
      const v = view(kid(d, 0).values);
      return { type: desc.dataType, dim, data: new Uint16Array(v.buffer, v.byteOffset, n * dim) };
    }
    case DataType.SparseFloatVector: {
      const offs = offsetsOf(d);
      const pairs = kid(d, 0);
      const nnz = offs[n] ?? 0;
      const iv = view(kid(pairs, 0).values);
      const vv = view(kid(pairs, 1).values);
      const indices = new Uint32Array(iv.buffer, iv.byteOffset, nnz);
      const values = new Float32Array(vv.buffer, vv.byteOffset, nnz);
      const rows = new Array<SparseRow>(n);
      for (let i = 0; i < n; i++) {
        const a = offs[i] ?? 0;
        const b = offs[i + 1] ?? 0;
        rows[i] = { indices: indices.subarray(a, b), values: values.subarray(a, b) };
      }
      return { type: DataType.SparseFloatVector, data: rows };
    }
    default:
      throw corrupted(`unsupported data type ${desc.dataType}`);
  }
}

import { Buffer } from "node:buffer";
import { type Column, columnLength, type SparseRow } from "../column.ts";
import { StrataError } from "../errors.ts";
import { gather } from "../gather.ts";
import { DataType, isDataType } from "../types.ts";
import type { ByteReader, ByteWriter } from "./bytes.ts";

/**
 * Binary column codec for log messages. Fixed-width data is written raw and 8-byte aligned, so
 * decoding a vector column is a view on the message, not a copy. Variable-length rows are
 * written as u32 offsets (rows + 1) followed by the concatenated payload.
 */

function corrupted(msg: string): StrataError {
  return new StrataError("Corrupted", msg);
}

export function encodeStrings(rows: readonly string[]): { offsets: Uint32Array; bytes: Uint8Array } {
  const joined = rows.join("");
  const all = Buffer.from(joined, "utf8");
  const offsets = new Uint32Array(rows.length + 1);
  let at = 0;
  if (all.length === joined.length) {
    for (let i = 0; i < rows.length; i++) {
      at += (rows[i] as string).length;
      offsets[i + 1] = at;
    }
  } else {
    for (let i = 0; i < rows.length; i++) {
      at += Buffer.byteLength(rows[i] as string, "utf8");
      offsets[i + 1] = at;
    }
  }
  return { offsets, bytes: all };
}

function writeOffsets(w: ByteWriter, offsets: Uint32Array): void {
  w.align(4);
  w.view(offsets);
}

function readOffsets(r: ByteReader, rows: number, what: string): Uint32Array {
  r.align(4);
  const offsets = r.typed(Uint32Array, rows + 1, `${what} offsets`);
  if (offsets[0] !== 0) throw corrupted(`${what}: offsets must start at 0`);
  for (let i = 0; i < rows; i++) {
    if ((offsets[i + 1] as number) < (offsets[i] as number))
      throw corrupted(`${what}: offsets decrease at row ${i}`);
  }
  return offsets;
}

function concat(rows: readonly Uint8Array[]): { offsets: Uint32Array; bytes: Uint8Array } {
  const offsets = new Uint32Array(rows.length + 1);
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    total += (rows[i] as Uint8Array).byteLength;
    offsets[i + 1] = total;
  }
  const bytes = new Uint8Array(total);
  for (let i = 0; i < rows.length; i++) bytes.set(rows[i] as Uint8Array, offsets[i] as number);
  return { offsets, bytes };
}

/** Concatenates same-typed columns (the rows of an Array field) into one flat column. */
function flatten(elementType: DataType, rows: readonly Column[]): Column {
  const parts = rows.map((c) => {
    if (c.type !== elementType)
      throw new StrataError("ParameterInvalid", "array rows must all hold the element type");
    return c;
  });
  switch (elementType) {
    case DataType.VarChar:
    case DataType.String:
      return { type: elementType, data: parts.flatMap((c) => c.data as readonly string[]) };
    default: {
      const arrays = parts.map((c) => c.data as unknown as ArrayLike<number | bigint> & ArrayBufferView);
      const first = arrays[0];
      const total = arrays.reduce((n, a) => n + a.length, 0);
      const ctor = (first?.constructor ?? Uint8Array) as unknown as {
        new (n: number): ArrayBufferView & { set(a: ArrayLike<number | bigint>, at: number): void };
      };
      const out = new ctor(total);
      let at = 0;
      for (const a of arrays) {
        out.set(a, at);
        at += a.length;
      }
      return { type: elementType, data: out } as Column;
    }
  }
}

function sliceColumn(c: Column, start: number, end: number): Column {
  if (c.type === DataType.VarChar || c.type === DataType.String)
    return { type: c.type, data: c.data.slice(start, end) };
  return { type: c.type, data: (c.data as Uint8Array).subarray(start, end) } as Column;
}

const FIXED: Partial<
  Record<DataType, { new (b: ArrayBuffer, o: number, n: number): ArrayBufferView; BYTES_PER_ELEMENT: number }>
> = {
  [DataType.Bool]: Uint8Array,
  [DataType.Int8]: Int8Array,
  [DataType.Int16]: Int16Array,
  [DataType.Int32]: Int32Array,
  [DataType.Int64]: BigInt64Array,
  [DataType.Float]: Float32Array,
  [DataType.Double]: Float64Array,
};

export function writeColumn(w: ByteWriter, c: Column): void {
  const rows = columnLength(c);
  w.u8(c.type);
  w.u8(c.type === DataType.Array ? c.elementType : 0);
  w.u16(0);
  w.u32("dim" in c ? c.dim : 0);
  w.u32(rows);
  switch (c.type) {
    case DataType.VarChar:
    case DataType.String: {
      const { offsets, bytes } = encodeStrings(c.data);
      writeOffsets(w, offsets);
      w.bytes(bytes);
      return;
    }
    case DataType.JSON: {
      const { offsets, bytes } = concat(c.data);
      writeOffsets(w, offsets);
      w.bytes(bytes);
      return;
    }
    case DataType.Array: {
      const lengths = new Uint32Array(rows + 1);
      for (let i = 0; i < rows; i++)
        lengths[i + 1] = (lengths[i] as number) + columnLength(c.data[i] as Column);
      writeOffsets(w, lengths);
      writeColumn(w, flatten(c.elementType, c.data));
      return;
    }
    case DataType.SparseFloatVector: {
      const offsets = new Uint32Array(rows + 1);
      for (let i = 0; i < rows; i++)
        offsets[i + 1] = (offsets[i] as number) + (c.data[i] as SparseRow).indices.length;
      writeOffsets(w, offsets);
      for (const row of c.data) w.view(row.indices);
      for (const row of c.data) w.view(row.values);
      return;
    }
    default:
      w.align(8);
      w.view(c.data);
  }
}

/** Bytes per row of a fixed-width column, or undefined for variable-length types. */
function rowBytes(c: Column): number | undefined {
  switch (c.type) {
    case DataType.FloatVector:
      return c.dim * 4;
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      return c.dim * 2;
    case DataType.BinaryVector:
      return c.dim / 8;
    case DataType.VarChar:
    case DataType.String:
    case DataType.JSON:
    case DataType.Array:
    case DataType.SparseFloatVector:
      return undefined;
    default:
      return c.data.BYTES_PER_ELEMENT;
  }
}

/**
 * Writes rows `idx` of `c`, as `writeColumn(w, gather(c, idx))` would, but copies fixed-width
 * rows straight into the output buffer instead of through a gathered copy.
 */
export function writeColumnRows(w: ByteWriter, c: Column, idx: Uint32Array): void {
  const width = rowBytes(c);
  if (width === undefined) {
    writeColumn(w, gather(c, idx));
    return;
  }
  w.u8(c.type);
  w.u8(0);
  w.u16(0);
  w.u32("dim" in c ? c.dim : 0);
  w.u32(idx.length);
  w.align(8);
  const d = c.data as ArrayBufferView;
  const src = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  w.deferred(idx.length * width, (dst) => {
    for (let i = 0; i < idx.length; i++) {
      const s = (idx[i] as number) * width;
      dst.set(src.subarray(s, s + width), i * width);
    }
  });
}

export function readColumn(r: ByteReader, what: string): Column {
  const type = r.u8(`${what} type`);
  const elementType = r.u8(`${what} element type`);
  r.u16(what);
  const dim = r.u32(`${what} dim`);
  const rows = r.u32(`${what} rows`);
  if (!isDataType(type)) throw corrupted(`${what}: unknown data type ${type}`);
  switch (type) {
    case DataType.VarChar:
    case DataType.String: {
      const offsets = readOffsets(r, rows, what);
      const bytes = r.bytes(offsets[rows] as number, `${what} bytes`);
      const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const data = new Array<string>(rows);
      for (let i = 0; i < rows; i++) data[i] = b.toString("utf8", offsets[i], offsets[i + 1]);
      return { type, data };
    }
    case DataType.JSON: {
      const offsets = readOffsets(r, rows, what);
      const bytes = r.bytes(offsets[rows] as number, `${what} bytes`);
      const data = new Array<Uint8Array>(rows);
      for (let i = 0; i < rows; i++) data[i] = bytes.subarray(offsets[i], offsets[i + 1]);
      return { type, data };
    }
    case DataType.Array: {
      if (!isDataType(elementType)) throw corrupted(`${what}: unknown element type ${elementType}`);
      const offsets = readOffsets(r, rows, what);
      const flat = readColumn(r, `${what} elements`);
      if (flat.type !== elementType || columnLength(flat) !== offsets[rows]) {
        throw corrupted(`${what}: array elements do not match their offsets`);
      }
      const data = new Array<Column>(rows);
      for (let i = 0; i < rows; i++)
        data[i] = sliceColumn(flat, offsets[i] as number, offsets[i + 1] as number);
      return { type, elementType, data };
    }
    case DataType.SparseFloatVector: {
      const offsets = readOffsets(r, rows, what);
      const n = offsets[rows] as number;
      const indices = r.typed(Uint32Array, n, `${what} indices`);
      const values = r.typed(Float32Array, n, `${what} values`);
      const data = new Array<SparseRow>(rows);
      for (let i = 0; i < rows; i++) {
        data[i] = {
          indices: indices.subarray(offsets[i], offsets[i + 1]),
          values: values.subarray(offsets[i], offsets[i + 1]),
        };
      }
      return { type, data };
    }
    case DataType.FloatVector:
      r.align(8);
      return { type, dim, data: r.typed(Float32Array, rows * dim, `${what} data`) };
    case DataType.BinaryVector:
      r.align(8);
      return { type, dim, data: r.typed(Uint8Array, (rows * dim) / 8, `${what} data`) };
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      r.align(8);
      return { type, dim, data: r.typed(Uint16Array, rows * dim, `${what} data`) };
    default: {
      const ctor = FIXED[type];
      if (ctor === undefined) throw corrupted(`${what}: data type ${type} cannot be decoded`);
      r.align(8);
      return { type, data: r.typed(ctor, rows, `${what} data`) } as Column;
    }
  }
}

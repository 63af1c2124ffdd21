import { type Column, columnLength, type SparseRow } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { DataType, type DataType as DataTypeT, dataTypeName } from "../common/types.ts";
import { decodeBFloat16, decodeFloat16 } from "./decode.ts";
import { rowNorm } from "./kernels-float.ts";

/**
 * A segment's vectors in the form the kernels read. Plain data (typed arrays and numbers), so it
 * can be posted to a worker; when its arrays sit on SharedArrayBuffers that costs no copy.
 */
export type PreparedSegment = FloatSegment | BinarySegment | SparseSegment;

export interface FloatSegment {
  readonly kind: "float";
  /** The column's type: FloatVector, or Float16/BFloat16 already decoded into `data`. */
  readonly type: DataTypeT;
  readonly dim: number;
  readonly rows: number;
  /** rows x dim, row-major. */
  readonly data: Float32Array;
  /** Optional per-row Euclidean norms, which COSINE uses instead of recomputing them. */
  readonly norms?: Float64Array | undefined;
}

export interface BinarySegment {
  readonly kind: "binary";
  readonly type: typeof DataType.BinaryVector;
  readonly dim: number;
  readonly rows: number;
  /** Words per row: ceil(dim / 32); a row's bytes in platform order, zero-padded to whole words. */
  readonly wordsPerRow: number;
  readonly words: Uint32Array;
}

export interface SparseSegment {
  readonly kind: "sparse";
  readonly type: typeof DataType.SparseFloatVector;
  readonly rows: number;
  /** Either the column's own rows, or CSR arrays (row r is [indptr[r], indptr[r + 1])). */
  readonly data?: readonly SparseRow[] | undefined;
  readonly indptr?: Uint32Array | undefined;
  readonly indices?: Uint32Array | undefined;
  readonly values?: Float32Array | undefined;
}

/** Allocates typed-array storage, plain or shared. */
export type Alloc = (bytes: number) => ArrayBuffer | SharedArrayBuffer;

export const plainAlloc: Alloc = (bytes) => new ArrayBuffer(bytes);
export const sharedAlloc: Alloc = (bytes) => new SharedArrayBuffer(bytes);

export function isVectorColumn(c: Column): boolean {
  return (
    c.type === DataType.FloatVector ||
    c.type === DataType.Float16Vector ||
    c.type === DataType.BFloat16Vector ||
    c.type === DataType.BinaryVector ||
    c.type === DataType.SparseFloatVector
  );
}

/**
 * Turns a vector column into a PreparedSegment. Float32 and word-aligned binary data are used in
 * place; Float16/BFloat16 are decoded and unaligned binary rows are repacked (one pass each).
 */
export function prepareSegment(col: Column): PreparedSegment {
  switch (col.type) {
    case DataType.FloatVector:
      checkDim(col.dim, col.data.length, col.type);
      return { kind: "float", type: col.type, dim: col.dim, rows: columnLength(col), data: col.data };
    case DataType.Float16Vector:
    case DataType.BFloat16Vector: {
      checkDim(col.dim, col.data.length, col.type);
      const data = col.type === DataType.Float16Vector ? decodeFloat16(col.data) : decodeBFloat16(col.data);
      return { kind: "float", type: col.type, dim: col.dim, rows: columnLength(col), data };
    }
    case DataType.BinaryVector: {
      if (!Number.isInteger(col.dim) || col.dim <= 0 || col.dim % 8 !== 0) {
        throw new StrataError(
          "ParameterInvalid",
          `binary vector dim must be a positive multiple of 8, got ${col.dim}`,
        );
      }
      const bytesPerRow = col.dim / 8;
      if (col.data.length % bytesPerRow !== 0) {
        throw new StrataError(
          "ParameterInvalid",
          `binary vector data of ${col.data.length} bytes is not a whole number of ${bytesPerRow}-byte rows`,
        );
      }
      const rows = col.data.length / bytesPerRow;
      const wordsPerRow = Math.ceil(bytesPerRow / 4);
      const words =
        bytesPerRow % 4 === 0 && col.data.byteOffset % 4 === 0
          ? new Uint32Array(col.data.buffer, col.data.byteOffset, rows * wordsPerRow)
          : packWords(col.data, rows, bytesPerRow, wordsPerRow, plainAlloc);
      return { kind: "binary", type: col.type, dim: col.dim, rows, wordsPerRow, words };
    }
    case DataType.SparseFloatVector:
      return { kind: "sparse", type: col.type, rows: col.data.length, data: col.data };
    default:
      throw new StrataError(
        "ParameterInvalid",
        `cannot search a ${dataTypeName(col.type) ?? col.type} column: not a vector type`,
      );
  }
}

/** Copies bytes rows into zero-padded 32-bit words. */
export function packWords(
  bytes: Uint8Array,
  rows: number,
  bytesPerRow: number,
  wordsPerRow: number,
  alloc: Alloc,
): Uint32Array {
  const words = new Uint32Array(alloc(rows * wordsPerRow * 4));
  const view = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  if (bytesPerRow === wordsPerRow * 4) view.set(bytes.subarray(0, rows * bytesPerRow));
  else {
    for (let r = 0; r < rows; r++) {
      view.set(bytes.subarray(r * bytesPerRow, (r + 1) * bytesPerRow), r * wordsPerRow * 4);
    }
  }
  return words;
}

/**
 * `seg` with every array on a SharedArrayBuffer, so posting it to a worker copies nothing: arrays
 * already shared are reused, others are copied once. Sparse rows are flattened to CSR. With
 * `withNorms`, float rows also get their norms (used by COSINE) computed once.
 */
export function shareSegment(seg: PreparedSegment, withNorms: boolean): PreparedSegment {
  switch (seg.kind) {
    case "float": {
      const data = toShared(seg.data, (n) => new Float32Array(sharedAlloc(n * 4)));
      let norms =
        seg.norms === undefined
          ? undefined
          : toShared(seg.norms, (n) => new Float64Array(sharedAlloc(n * 8)));
      if (norms === undefined && withNorms) {
        norms = new Float64Array(sharedAlloc(seg.rows * 8));
        for (let r = 0; r < seg.rows; r++) norms[r] = rowNorm(data, r * seg.dim, seg.dim);
      }
      return { kind: "float", type: seg.type, dim: seg.dim, rows: seg.rows, data, norms };
    }
    case "binary":
      return { ...seg, words: toShared(seg.words, (n) => new Uint32Array(sharedAlloc(n * 4))) };
    case "sparse":
      return toSharedCsr(seg);
  }
}

function toShared<T extends Float32Array | Float64Array | Uint32Array>(a: T, make: (n: number) => T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const out = make(a.length);
  out.set(a);
  return out;
}

function toSharedCsr(seg: SparseSegment): SparseSegment {
  const u32 = (n: number) => new Uint32Array(sharedAlloc(n * 4));
  if (seg.data === undefined) {
    return {
      kind: "sparse",
      type: seg.type,
      rows: seg.rows,
      indptr: toShared(seg.indptr!, u32),
      indices: toShared(seg.indices!, u32),
      values: toShared(seg.values!, (n) => new Float32Array(sharedAlloc(n * 4))),
    };
  }
  let nnz = 0;
  for (const row of seg.data) nnz += row.indices.length;
  const indptr = u32(seg.rows + 1);
  const indices = u32(nnz);
  const values = new Float32Array(sharedAlloc(nnz * 4));
  let p = 0;
  for (let r = 0; r < seg.rows; r++) {
    const row = seg.data[r]!;
    indices.set(row.indices, p);
    values.set(row.values, p);
    p += row.indices.length;
    indptr[r + 1] = p;
  }
  return { kind: "sparse", type: seg.type, rows: seg.rows, indptr, indices, values };
}

/** Rough cost of scoring one row against one query, in float multiply-add units. */
export function rowCost(seg: PreparedSegment): number {
  switch (seg.kind) {
    case "float":
      return seg.dim;
    case "binary":
      return seg.wordsPerRow * 8;
    case "sparse": {
      const nnz =
        seg.indices !== undefined
          ? seg.indices.length
          : (seg.data ?? []).reduce((n, row) => n + row.indices.length, 0);
      return Math.max(1, nnz / Math.max(1, seg.rows)) * 2;
    }
  }
}

function checkDim(dim: number, len: number, type: DataTypeT): void {
  if (!Number.isInteger(dim) || dim <= 0) {
    throw new StrataError("ParameterInvalid", `${dataTypeName(type)} column has invalid dim ${dim}`);
  }
  if (len % dim !== 0) {
    throw new StrataError(
      "ParameterInvalid",
      `${dataTypeName(type)} column of ${len} values is not a whole number of ${dim}-dim rows`,
    );
  }
}

import { DataType } from "./types.ts";

/**
 * Columnar in-memory representation of one field over N rows. Hot paths use typed arrays; there
 * are no per-row objects except where a row is itself variable-length (strings, JSON, arrays,
 * sparse vectors).
 */
export type Column =
  | { readonly type: typeof DataType.Bool; readonly data: Uint8Array }
  | { readonly type: typeof DataType.Int8; readonly data: Int8Array }
  | { readonly type: typeof DataType.Int16; readonly data: Int16Array }
  | { readonly type: typeof DataType.Int32; readonly data: Int32Array }
  | { readonly type: typeof DataType.Int64; readonly data: BigInt64Array }
  | { readonly type: typeof DataType.Float; readonly data: Float32Array }
  | { readonly type: typeof DataType.Double; readonly data: Float64Array }
  | { readonly type: typeof DataType.VarChar | typeof DataType.String; readonly data: readonly string[] }
  /** Each row is the UTF-8 bytes of one JSON document. */
  | { readonly type: typeof DataType.JSON; readonly data: readonly Uint8Array[] }
  /** Each row is a column of the element type. */
  | { readonly type: typeof DataType.Array; readonly elementType: DataType; readonly data: readonly Column[] }
  /** rows × dim/8 bytes, row-major. */
  | { readonly type: typeof DataType.BinaryVector; readonly dim: number; readonly data: Uint8Array }
  /** rows × dim floats, row-major. */
  | { readonly type: typeof DataType.FloatVector; readonly dim: number; readonly data: Float32Array }
  /** rows × dim raw 16-bit patterns, row-major. */
  | {
      readonly type: typeof DataType.Float16Vector | typeof DataType.BFloat16Vector;
      readonly dim: number;
      readonly data: Uint16Array;
    }
  | { readonly type: typeof DataType.SparseFloatVector; readonly data: readonly SparseRow[] };

export interface SparseRow {
  /** Strictly increasing dimension indices. */
  readonly indices: Uint32Array;
  readonly values: Float32Array;
}

/** Number of rows in a column. */
export function columnLength(c: Column): number {
  switch (c.type) {
    case DataType.BinaryVector:
      return c.dim === 0 ? 0 : c.data.length / (c.dim / 8);
    case DataType.FloatVector:
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      return c.dim === 0 ? 0 : c.data.length / c.dim;
    default:
      return c.data.length;
  }
}

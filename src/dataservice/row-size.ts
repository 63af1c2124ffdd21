import type { CollectionSchema, FieldSchema } from "../common/schema.ts";
import { DataType } from "../common/types.ts";

/**
 * Estimated in-binlog bytes of one row, used only to turn `segmentMaxBytes` into a row limit.
 * The numbers, and why:
 * - fixed-width scalars: their width (Bool/Int8 1, Int16 2, Int32/Float 4, Int64/Double 8);
 * - dense vectors: dim × 4 (FloatVector), dim × 2 (Float16/BFloat16), dim / 8 (BinaryVector);
 * - VarChar: 4 (offset) + max_length / 2 — strings rarely fill their maximum, and the half keeps
 *   a long max_length from shrinking segments to a few rows;
 * - JSON, Array and SparseFloatVector: a fixed 512 bytes, since the schema bounds them only loosely
 *   (an Array's capacity × element size is a worst case far from typical rows);
 * - plus the system fields RowID and Timestamp, 8 bytes each.
 */
export const VARIABLE_FIELD_ESTIMATE = 512;
const SYSTEM_FIELDS_BYTES = 16;

function fieldBytes(f: FieldSchema): number {
  switch (f.dataType) {
    case DataType.Bool:
    case DataType.Int8:
      return 1;
    case DataType.Int16:
      return 2;
    case DataType.Int32:
    case DataType.Float:
      return 4;
    case DataType.Int64:
    case DataType.Double:
      return 8;
    case DataType.VarChar:
    case DataType.String:
      return 4 + Math.ceil((f.maxLength ?? 2 * VARIABLE_FIELD_ESTIMATE) / 2);
    case DataType.FloatVector:
      return (f.dim ?? 1) * 4;
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      return (f.dim ?? 1) * 2;
    case DataType.BinaryVector:
      return Math.ceil((f.dim ?? 8) / 8);
    default:
      return VARIABLE_FIELD_ESTIMATE;
  }
}

export function estimateRowBytes(schema: CollectionSchema): number {
  let bytes = SYSTEM_FIELDS_BYTES;
  for (const f of schema.fields) bytes += fieldBytes(f);
  return bytes;
}

/** Rows a segment may hold: segmentMaxBytes / estimated row bytes, at least 1. */
export function maxRowsFor(schema: CollectionSchema, segmentMaxBytes: number): number {
  return Math.max(1, Math.floor(segmentMaxBytes / estimateRowBytes(schema)));
}

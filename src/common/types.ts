/** Milvus data types with their wire codes (milvus-proto `schema.proto` DataType). */
export const DataType = {
  None: 0,
  Bool: 1,
  Int8: 2,
  Int16: 3,
  Int32: 4,
  Int64: 5,
  Float: 10,
  Double: 11,
  String: 20,
  VarChar: 21,
  Array: 22,
  JSON: 23,
  BinaryVector: 100,
  FloatVector: 101,
  Float16Vector: 102,
  BFloat16Vector: 103,
  SparseFloatVector: 104,
} as const;

export type DataType = (typeof DataType)[keyof typeof DataType];

export type DataTypeName = keyof typeof DataType;

const NAMES = new Map<number, DataTypeName>(
  Object.entries(DataType).map(([k, v]) => [v, k as DataTypeName] as const),
);

export function dataTypeName(t: number): DataTypeName | undefined {
  return NAMES.get(t);
}

export function isDataType(t: unknown): t is DataType {
  return typeof t === "number" && NAMES.has(t) && t !== DataType.None;
}

export type VectorDataType =
  | typeof DataType.BinaryVector
  | typeof DataType.FloatVector
  | typeof DataType.Float16Vector
  | typeof DataType.BFloat16Vector
  | typeof DataType.SparseFloatVector;

export function isVectorType(t: DataType): t is VectorDataType {
  return t >= 100 && t <= 104;
}

/** Dense vector types carry a `dim` type param. */
export function isDenseVectorType(t: DataType): boolean {
  return t >= 100 && t <= 103;
}

/** Element types an Array field may hold. */
export function isArrayElementType(t: DataType): boolean {
  return (
    t === DataType.Bool ||
    t === DataType.Int8 ||
    t === DataType.Int16 ||
    t === DataType.Int32 ||
    t === DataType.Int64 ||
    t === DataType.Float ||
    t === DataType.Double ||
    t === DataType.VarChar
  );
}

/** Reserved system field IDs (DESIGN.md §4); user fields start at 100. */
export const ROW_ID_FIELD_ID = 0;
export const TIMESTAMP_FIELD_ID = 1;
export const FIRST_USER_FIELD_ID = 100;

/** Limits, Milvus-compatible. */
export const MAX_NAME_LENGTH = 255;
export const MAX_DIM = 32768;
export const MAX_VARCHAR_LENGTH = 65535;
export const MAX_ARRAY_CAPACITY = 4096;

/** Read consistency levels, as Milvus. */
export type ConsistencyLevel = "Strong" | "Bounded" | "Session" | "Eventually";

export const CONSISTENCY_LEVELS: readonly ConsistencyLevel[] = ["Strong", "Bounded", "Session", "Eventually"];

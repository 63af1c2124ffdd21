import type { SparseRow } from "../../common/column.ts";
import { StrataError } from "../../common/errors.ts";
import { type CollectionSchema, DYNAMIC_FIELD_NAME, type FieldSchema } from "../../common/schema.ts";
import { DataType, dataTypeName } from "../../common/types.ts";
import type { FieldValues } from "../../proxy/index.ts";

/**
 * `schema.FieldData` → Strata columns (insert and upsert; results go out through
 * `field-output.ts`). Wire objects are what grpc-js hands us with proto-loader's
 * `{longs: String, enums: String, defaults: true, oneofs: true}`: int64 as decimal strings, enums
 * as names, bytes as Buffers.
 */

interface Arr<T> {
  readonly data?: readonly T[];
}

export interface WireScalarField {
  readonly data?: string;
  readonly bool_data?: Arr<boolean>;
  readonly int_data?: Arr<number>;
  readonly long_data?: Arr<string | number>;
  readonly float_data?: Arr<number>;
  readonly double_data?: Arr<number>;
  readonly string_data?: Arr<string>;
  readonly json_data?: Arr<Uint8Array>;
  readonly array_data?: { readonly data?: readonly WireScalarField[]; readonly element_type?: string };
}

export interface WireVectorField {
  readonly dim?: string | number;
  readonly data?: string;
  readonly float_vector?: Arr<number>;
  readonly binary_vector?: Uint8Array;
  readonly float16_vector?: Uint8Array;
  readonly bfloat16_vector?: Uint8Array;
  readonly sparse_float_vector?: {
    readonly contents?: readonly Uint8Array[];
    readonly dim?: string | number;
  };
}

export interface WireFieldData {
  readonly type?: string;
  readonly field_name?: string;
  readonly field_id?: string | number;
  readonly is_dynamic?: boolean;
  readonly valid_data?: readonly boolean[];
  readonly field?: string;
  readonly scalars?: WireScalarField | null;
  readonly vectors?: WireVectorField | null;
}

function bad(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

function typeName(t: DataType): string {
  return dataTypeName(t) ?? String(t);
}

function int64s(list: readonly (string | number)[], name: string): BigInt64Array {
  const out = new BigInt64Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    try {
      out[i] = BigInt(v as string | number);
    } catch {
      bad(`field ${name}: row ${i} is not an Int64 (${String(v)})`);
    }
  }
  return out;
}

/** Sparse rows on the wire: little-endian (uint32 index, float32 value) pairs per row. */
export function decodeSparse(bytes: Uint8Array, what: string): SparseRow {
  if (bytes.byteLength % 8 !== 0)
    bad(`${what}: a sparse vector is (uint32 index, float32 value) pairs, got ${bytes.byteLength} bytes`);
  const n = bytes.byteLength / 8;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const indices = new Uint32Array(n);
  const values = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    indices[k] = view.getUint32(k * 8, true);
    values[k] = view.getFloat32(k * 8 + 4, true);
  }
  return { indices, values };
}

/** Copies bytes into an aligned buffer and views them as little-endian 16-bit patterns. */
function u16(bytes: Uint8Array): Uint16Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Uint16Array(copy.buffer, 0, Math.floor(copy.byteLength / 2));
}

function scalarValues(f: FieldSchema, type: DataType, s: WireScalarField, name: string): FieldValues {
  switch (type) {
    case DataType.Bool:
      return s.bool_data?.data ?? [];
    case DataType.Int8:
    case DataType.Int16:
      return s.int_data?.data ?? [];
    case DataType.Int32:
      return Int32Array.from(s.int_data?.data ?? []);
    case DataType.Int64:
      return int64s(s.long_data?.data ?? [], name);
    case DataType.Float:
      return Float32Array.from(s.float_data?.data ?? []);
    case DataType.Double:
      return Float64Array.from(s.double_data?.data ?? []);
    case DataType.VarChar:
    case DataType.String:
      return s.string_data?.data ?? [];
    case DataType.JSON:
      return (s.json_data?.data ?? []).map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    case DataType.Array: {
      const el = f.elementType as DataType;
      return (s.array_data?.data ?? []).map((row) => {
        const v = scalarValues(f, el, row, name);
        // Element values go through the proxy's per-row validation as plain lists.
        return ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number | bigint>) : v;
      });
    }
    default:
      return bad(`field ${name}: ${typeName(type)} values cannot be given as scalars`);
  }
}

function vectorValues(f: FieldSchema, v: WireVectorField, numRows: number): FieldValues {
  const dim = f.dim ?? 0;
  if (
    f.dataType !== DataType.SparseFloatVector &&
    v.dim !== undefined &&
    Number(v.dim) !== 0 &&
    Number(v.dim) !== dim
  ) {
    bad(`field ${f.name}: the vectors have dim ${String(v.dim)}, the schema says ${dim}`);
  }
  switch (f.dataType) {
    case DataType.FloatVector: {
      const data = v.float_vector?.data ?? [];
      if (data.length !== numRows * dim) {
        bad(
          `field ${f.name}: dimension mismatch: the schema's dim is ${dim}, so ${numRows} rows need ${numRows * dim} floats, got ${data.length}`,
        );
      }
      return Float32Array.from(data);
    }
    case DataType.BinaryVector: {
      const b = v.binary_vector ?? new Uint8Array(0);
      if (b.byteLength !== (numRows * dim) / 8) {
        bad(
          `field ${f.name}: ${b.byteLength} bytes for ${numRows} rows do not match the schema's dim ${dim}`,
        );
      }
      return Uint8Array.from(b);
    }
    case DataType.Float16Vector:
    case DataType.BFloat16Vector: {
      const b =
        (f.dataType === DataType.Float16Vector ? v.float16_vector : v.bfloat16_vector) ?? new Uint8Array(0);
      if (b.byteLength !== numRows * dim * 2) {
        bad(
          `field ${f.name}: ${b.byteLength} bytes for ${numRows} rows do not match the schema's dim ${dim}`,
        );
      }
      return u16(b);
    }
    case DataType.SparseFloatVector:
      return (v.sparse_float_vector?.contents ?? []).map((b, i) =>
        decodeSparse(b, `field ${f.name} row ${i}`),
      );
    default:
      return bad(`field ${f.name}: ${typeName(f.dataType)} values cannot be given as vectors`);
  }
}

/**
 * Insert/upsert `fields_data` → the proxy's column input, checked against the schema here only
 * as far as the wire shape goes (the proxy validates values).
 */
export function columnsFromWire(
  schema: CollectionSchema,
  fieldsData: readonly WireFieldData[],
  numRows: number,
): Record<string, FieldValues> {
  const out: Record<string, FieldValues> = {};
  for (const fd of fieldsData) {
    const name = fd.is_dynamic === true ? DYNAMIC_FIELD_NAME : (fd.field_name ?? "");
    const f = schema.fields.find((x) => x.name === name);
    if (f === undefined) {
      if (fd.is_dynamic === true)
        bad(`collection ${schema.name} has no dynamic field: enable it at creation`);
      bad(`field ${name} is not in the schema of ${schema.name}`);
    }
    if (name in out) bad(`field ${name} is given twice`);
    if ((fd.valid_data ?? []).some((ok) => !ok)) bad(`field ${name}: null values are not supported`);
    if (fd.vectors !== undefined && fd.vectors !== null && fd.field === "vectors") {
      out[name] = vectorValues(f, fd.vectors, numRows);
    } else if (fd.scalars !== undefined && fd.scalars !== null && fd.field !== "vectors") {
      out[name] = scalarValues(f, f.dataType, fd.scalars, name);
    } else {
      bad(`field ${name}: no data`);
    }
  }
  return out;
}

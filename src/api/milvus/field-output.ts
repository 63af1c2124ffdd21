import { Buffer } from "node:buffer";
import { type Column, columnLength } from "../../common/column.ts";
import { StrataError } from "../../common/errors.ts";
import { DYNAMIC_FIELD_NAME, type FieldSchema, primaryField } from "../../common/schema.ts";
import { DataType, dataTypeName } from "../../common/types.ts";
import type { QueryColumns, SearchHit } from "../../proxy/index.ts";
import { valueAt } from "../../proxy/rows.ts";
import type { CollectionInfo } from "../../rootcoord/types.ts";

/**
 * Search and Query results as protobufjs encodes them directly (see `DIRECT_REPLIES`): field
 * names as in the protocol, enums as their numbers (Strata's DataType codes are Milvus'), int64
 * as a number or, beyond 2^53, as `{ low, high }`, repeated numbers as plain or typed arrays,
 * bytes as Uint8Arrays. No `fromObject` pass checks these shapes, so they are built here only.
 */
export type Encodable = Record<string, unknown>;

/** An int64 as protobufjs' writer takes it, exact over the whole range. */
export type WireInt64 = number | { readonly low: number; readonly high: number };

export function int64Out(v: unknown): WireInt64 {
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  const b = typeof v === "bigint" ? v : BigInt(v as string | number);
  if (b >= -9007199254740991n && b <= 9007199254740991n) return Number(b);
  return { low: Number(BigInt.asIntN(32, b)), high: Number(BigInt.asIntN(32, b >> 32n)) };
}

function bad(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

/** Sparse rows on the wire: little-endian (uint32 index, float32 value) pairs, indices ascending. */
function encodeSparse(row: Readonly<Record<number, number>>): Buffer {
  const keys = Object.keys(row)
    .map(Number)
    .sort((a, b) => a - b);
  const out = Buffer.alloc(keys.length * 8);
  keys.forEach((k, i) => {
    out.writeUInt32LE(k, i * 8);
    out.writeFloatLE(row[k] as number, i * 8 + 4);
  });
  return out;
}

function scalarsOf(type: DataType, values: readonly unknown[]): Encodable {
  switch (type) {
    case DataType.Bool:
      return { bool_data: { data: values } };
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
      return { int_data: { data: values } };
    case DataType.Int64:
      return { long_data: { data: values.map(int64Out) } };
    case DataType.Float:
      return { float_data: { data: values } };
    case DataType.Double:
      return { double_data: { data: values } };
    case DataType.VarChar:
    case DataType.String:
      return { string_data: { data: values } };
    case DataType.JSON:
      return { json_data: { data: values.map((v) => Buffer.from(JSON.stringify(v ?? {}))) } };
    default:
      return bad(`cannot return ${dataTypeName(type) ?? String(type)} values`);
  }
}

/** Row vectors (arrays of numbers) flattened into one typed array of `width` entries per row. */
function flatten<T extends Float32Array | Uint8Array | Uint16Array>(
  values: readonly unknown[],
  width: number,
  make: (n: number) => T,
): T {
  const out = make(values.length * width);
  for (let i = 0; i < values.length; i++) out.set(values[i] as ArrayLike<number>, i * width);
  return out;
}

function bytesOf(u: Uint16Array): Uint8Array {
  return new Uint8Array(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * One output column as `schema.FieldData`, from values as the proxy returns them (Int64 as
 * bigint, JSON parsed, vectors as arrays of numbers, sparse rows as index → value records).
 */
export function fieldDataOut(f: FieldSchema, values: readonly unknown[]): Encodable {
  // Spread last in the literals below: a property written after a spread is slow on Node 20's V8.
  const base = { type: f.dataType, field_name: f.name, field_id: f.fieldId, is_dynamic: f.isDynamic };
  const dim = f.dim ?? 0;
  switch (f.dataType) {
    case DataType.FloatVector:
      return {
        vectors: { dim, float_vector: { data: flatten(values, dim, (n) => new Float32Array(n)) } },
        ...base,
      };
    case DataType.BinaryVector:
      return { vectors: { dim, binary_vector: flatten(values, dim / 8, (n) => new Uint8Array(n)) }, ...base };
    case DataType.Float16Vector:
      return {
        vectors: { dim, float16_vector: bytesOf(flatten(values, dim, (n) => new Uint16Array(n))) },
        ...base,
      };
    case DataType.BFloat16Vector:
      return {
        vectors: { dim, bfloat16_vector: bytesOf(flatten(values, dim, (n) => new Uint16Array(n))) },
        ...base,
      };
    case DataType.SparseFloatVector: {
      let sparseDim = 0;
      const contents = values.map((v) => {
        const r = v as Readonly<Record<number, number>>;
        for (const k of Object.keys(r)) sparseDim = Math.max(sparseDim, Number(k) + 1);
        return encodeSparse(r);
      });
      return { vectors: { dim: sparseDim, sparse_float_vector: { contents, dim: sparseDim } }, ...base };
    }
    case DataType.Array: {
      const el = f.elementType as DataType;
      return {
        scalars: {
          array_data: { data: values.map((v) => scalarsOf(el, v as unknown[])), element_type: el },
        },
        ...base,
      };
    }
    default:
      return { scalars: scalarsOf(f.dataType, values), ...base };
  }
}

/** The column of a single Int64 value, as Milvus answers `count(*)`. */
export function countColumn(name: string, n: number): Encodable {
  return {
    type: DataType.Int64,
    field_name: name,
    field_id: 0,
    is_dynamic: false,
    scalars: { long_data: { data: [n] } },
  };
}

/** The dynamic keys a request names (names not in the schema), and whether it wants all of `$meta`. */
interface DynamicWanted {
  readonly keys: readonly string[];
  readonly whole: boolean;
}

function dynamicWanted(info: CollectionInfo, requested: readonly string[]): DynamicWanted {
  return {
    keys: requested.filter((n) => n !== "*" && !info.schema.fields.some((f) => f.name === n)),
    whole: requested.includes("*") || requested.includes(DYNAMIC_FIELD_NAME),
  };
}

/**
 * Appends the dynamic field's column (all of `$meta`, or only the named keys of each row) and its
 * output names, when the request wants any of it. `metaAt(i)` is row i's parsed `$meta`.
 */
function dynamicOut(
  f: FieldSchema,
  want: DynamicWanted,
  rows: number,
  metaAt: (i: number) => unknown,
  fields: Encodable[],
  names: string[],
): void {
  if (!want.whole && want.keys.length === 0) return;
  const values: unknown[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    const meta = (metaAt(i) ?? {}) as Record<string, unknown>;
    values[i] = want.whole
      ? meta
      : Object.fromEntries(want.keys.filter((k) => k in meta).map((k) => [k, meta[k]]));
  }
  fields.push(fieldDataOut(f, values));
  names.push(...(want.whole ? [DYNAMIC_FIELD_NAME] : want.keys));
}

/**
 * Columns for the requested fields (and the pk when `withPk`), in schema order. `value(row, f)`
 * reads one field of one result row. A name outside the schema is a key of the dynamic field.
 */
export function outputColumns<R>(
  info: CollectionInfo,
  requested: readonly string[],
  rows: readonly R[],
  withPk: boolean,
  value: (row: R, f: FieldSchema) => unknown,
): { fields: Encodable[]; names: string[] } {
  const all = requested.includes("*");
  const pk = primaryField(info.schema);
  const dynamic = dynamicWanted(info, requested);
  const fields: Encodable[] = [];
  const names: string[] = [];
  for (const f of info.schema.fields) {
    if (f.isDynamic) {
      dynamicOut(f, dynamic, rows.length, (i) => value(rows[i] as R, f), fields, names);
      continue;
    }
    const wanted = all || requested.includes(f.name) || (withPk && f.fieldId === pk.fieldId);
    if (!wanted) continue;
    fields.push(
      fieldDataOut(
        f,
        rows.map((r) => value(r, f)),
      ),
    );
    names.push(f.name);
  }
  return { fields, names };
}

/**
 * One output column as `schema.FieldData` straight from the proxy's column: numbers and vectors
 * travel as the typed arrays they are; only Int64, Bool and row-shaped types (JSON, arrays,
 * sparse rows) are converted value by value, as `fieldDataOut` would.
 */
export function columnDataOut(f: FieldSchema, c: Column): Encodable {
  const base = { type: f.dataType, field_name: f.name, field_id: f.fieldId, is_dynamic: f.isDynamic };
  switch (c.type) {
    case DataType.FloatVector:
      return { vectors: { dim: c.dim, float_vector: { data: c.data } }, ...base };
    case DataType.BinaryVector:
      return { vectors: { dim: c.dim, binary_vector: c.data }, ...base };
    case DataType.Float16Vector:
      return { vectors: { dim: c.dim, float16_vector: bytesOf(c.data) }, ...base };
    case DataType.BFloat16Vector:
      return { vectors: { dim: c.dim, bfloat16_vector: bytesOf(c.data) }, ...base };
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
      return { scalars: { int_data: { data: c.data } }, ...base };
    case DataType.Float:
      return { scalars: { float_data: { data: c.data } }, ...base };
    case DataType.Double:
      return { scalars: { double_data: { data: c.data } }, ...base };
    case DataType.Int64: {
      const out: WireInt64[] = new Array(c.data.length);
      for (let i = 0; i < out.length; i++) out[i] = int64Out(c.data[i]);
      return { scalars: { long_data: { data: out } }, ...base };
    }
    case DataType.VarChar:
    case DataType.String:
      return { scalars: { string_data: { data: c.data } }, ...base };
    default: {
      const n = columnLength(c);
      const values: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) values[i] = valueAt(c, i);
      return fieldDataOut(f, values);
    }
  }
}

/**
 * `fields_data` / `output_fields` of a Query reply from the proxy's columns: the same fields and
 * values as `outputColumns` gives for the rows (the proxy already chose the fields), columnar.
 */
export function queryColumnsOut(
  info: CollectionInfo,
  requested: readonly string[],
  qc: QueryColumns,
): { fields: Encodable[]; names: string[] } {
  const byId = new Map(qc.columns.map((c) => [c.fieldId, c.column]));
  const dynamic = dynamicWanted(info, requested);
  const fields: Encodable[] = [];
  const names: string[] = [];
  for (const f of info.schema.fields) {
    const c = byId.get(f.fieldId);
    if (c === undefined) continue;
    if (f.isDynamic) {
      dynamicOut(f, dynamic, qc.rows, (i) => valueAt(c, i), fields, names);
      continue;
    }
    fields.push(columnDataOut(f, c));
    names.push(f.name);
  }
  return { fields, names };
}

/** `schema.SearchResultData` for the proxy's hits (one list per query). */
export function searchResultsOut(
  info: CollectionInfo,
  hits: readonly (readonly SearchHit[])[],
  requested: readonly string[],
  limit: number,
): Encodable {
  const pk = primaryField(info.schema);
  let total = 0;
  for (const h of hits) total += h.length;
  const flat: SearchHit[] = new Array(total);
  const scores = new Float32Array(total);
  const topks: number[] = new Array(hits.length);
  let at = 0;
  hits.forEach((list, q) => {
    topks[q] = list.length;
    for (const h of list) {
      scores[at] = h.score;
      flat[at++] = h;
    }
  });
  // The pk column always travels: SDKs since 2.5 read a hit's id from `fields_data` only.
  const out = outputColumns(info, requested, flat, true, (h, f) =>
    f.fieldId === pk.fieldId ? h.id : h.fields[f.name],
  );
  const ids =
    pk.dataType === DataType.Int64
      ? { int_id: { data: flat.map((h) => int64Out(h.id)) } }
      : { str_id: { data: flat.map((h) => String(h.id)) } };
  return {
    num_queries: hits.length,
    top_k: limit,
    topks,
    scores,
    ids,
    fields_data: out.fields,
    output_fields: out.names,
    primary_field_name: pk.name,
  };
}

import { Buffer } from "node:buffer";
import type { Column, SparseRow } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { type CollectionSchema, DYNAMIC_FIELD_NAME, type FieldSchema } from "../common/schema.ts";
import { DataType, dataTypeName } from "../common/types.ts";

/** Most bytes one insert may carry (Milvus `proxy.maxInsertSize`-like guard). */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** Most bytes one JSON value may take (Milvus caps JSON at 64 KiB). */
export const MAX_JSON_BYTES = 65536;

/** Values of one field: one per row, or (fixed-width types) a typed array of all rows. */
export type FieldValues = readonly unknown[] | ArrayBufferView;

export interface InsertData {
  /** Row-oriented input: one object per row, field name → value. */
  readonly rows?: readonly Readonly<Record<string, unknown>>[];
  /** Column-oriented input: field name → values (the fast path). */
  readonly columns?: Readonly<Record<string, FieldValues>>;
}

export interface ValidatedBatch {
  readonly rowCount: number;
  /** Every stored field except an auto-ID primary key, in schema order. */
  readonly fields: readonly { readonly field: FieldSchema; readonly column: Column }[];
  /** The primary key column when provided by the caller (absent for auto-ID). */
  readonly pk?: Column;
  /** Bytes the batch occupies (estimate used for the size limit). */
  readonly bytes: number;
}

const LONE_SURROGATE = /\p{Cs}/u;

function bad(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

function typeName(f: FieldSchema): string {
  return dataTypeName(f.dataType) ?? String(f.dataType);
}

function rowsOf(values: FieldValues, perRowWidth: number): number {
  if (ArrayBuffer.isView(values)) {
    const len = (values as unknown as { length: number }).length;
    return perRowWidth > 1 ? len / perRowWidth : len;
  }
  return values.length;
}

function asList(values: FieldValues, f: FieldSchema): readonly unknown[] {
  if (ArrayBuffer.isView(values)) bad(`field ${f.name}: a typed array is not accepted for ${typeName(f)}`);
  return values as readonly unknown[];
}

function intColumn<T extends Int8Array | Int16Array | Int32Array>(
  f: FieldSchema,
  values: FieldValues,
  ctor: { new (n: number): T; name: string },
  min: number,
  max: number,
): T {
  if (values instanceof ctor) return values;
  const list = asList(values, f);
  const out = new ctor(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      bad(
        `field ${f.name}: row ${i} must be an integer in [${min}, ${max}] for ${typeName(f)}, got ${describe(v)}`,
      );
    }
    out[i] = v;
  }
  return out;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "bigint") return `${v}n`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return "null";
  if (typeof v === "object") return "an object";
  return String(v);
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function int64Column(f: FieldSchema, values: FieldValues): BigInt64Array {
  if (values instanceof BigInt64Array) return values;
  const list = asList(values, f);
  const out = new BigInt64Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v === "number" && Number.isSafeInteger(v)) out[i] = BigInt(v);
    else if (typeof v === "bigint" && v >= INT64_MIN && v <= INT64_MAX) out[i] = v;
    else if (
      typeof v === "string" &&
      /^-?\d{1,19}$/.test(v) &&
      BigInt(v) >= INT64_MIN &&
      BigInt(v) <= INT64_MAX
    ) {
      out[i] = BigInt(v);
    } else
      bad(
        `field ${f.name}: row ${i} must be an Int64 (safe integer, bigint or decimal string), got ${describe(v)}`,
      );
  }
  return out;
}

function floatColumn<T extends Float32Array | Float64Array>(
  f: FieldSchema,
  values: FieldValues,
  ctor: { new (n: number): T },
): T {
  const list: ArrayLike<unknown> =
    values instanceof Float32Array || values instanceof Float64Array ? values : asList(values, f);
  const out = values instanceof ctor ? values : new ctor(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== "number" || !Number.isFinite(v))
      bad(`field ${f.name}: row ${i} must be a finite number, got ${describe(v)}`);
    out[i] = v;
  }
  return out;
}

function boolColumn(f: FieldSchema, values: FieldValues): Uint8Array {
  const list = asList(values, f);
  const out = new Uint8Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== "boolean") bad(`field ${f.name}: row ${i} must be a boolean, got ${describe(v)}`);
    out[i] = v ? 1 : 0;
  }
  return out;
}

function checkString(f: FieldSchema, v: unknown, where: string, maxLength: number): string {
  if (typeof v !== "string") bad(`field ${f.name}: ${where} must be a string, got ${describe(v)}`);
  if (LONE_SURROGATE.test(v)) bad(`field ${f.name}: ${where} is not valid UTF-8 (lone surrogate)`);
  const bytes = v.length > maxLength / 3 ? Buffer.byteLength(v, "utf8") : v.length;
  if (bytes > maxLength)
    bad(`field ${f.name}: ${where} is ${bytes} bytes, longer than max_length ${maxLength}`);
  return v;
}

function jsonColumn(f: FieldSchema, values: FieldValues): Uint8Array[] {
  const list = asList(values, f);
  const out = new Array<Uint8Array>(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    let text: string;
    if (v instanceof Uint8Array) {
      text = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("utf8");
      try {
        JSON.parse(text);
      } catch {
        bad(`field ${f.name}: row ${i} is not valid JSON`);
      }
    } else {
      if (v === undefined || typeof v === "function" || typeof v === "symbol" || typeof v === "bigint") {
        bad(`field ${f.name}: row ${i} cannot be stored as JSON (${typeof v})`);
      }
      try {
        text = JSON.stringify(v);
      } catch (e) {
        bad(`field ${f.name}: row ${i} cannot be stored as JSON: ${(e as Error).message}`);
      }
    }
    if (LONE_SURROGATE.test(text)) bad(`field ${f.name}: row ${i} is not valid UTF-8`);
    const bytes = Buffer.from(text, "utf8");
    if (bytes.byteLength > MAX_JSON_BYTES)
      bad(`field ${f.name}: row ${i} JSON is larger than ${MAX_JSON_BYTES} bytes`);
    out[i] = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return out;
}

function arrayColumn(f: FieldSchema, values: FieldValues): Column[] {
  const list = asList(values, f);
  const el = f.elementType as DataType;
  const elField: FieldSchema = { ...f, dataType: el, name: `${f.name}[]` };
  const out = new Array<Column>(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!Array.isArray(v) && !ArrayBuffer.isView(v))
      bad(`field ${f.name}: row ${i} must be an array, got ${describe(v)}`);
    const len = (v as { length: number }).length;
    if (len > (f.maxCapacity ?? 0))
      bad(`field ${f.name}: row ${i} has ${len} elements, more than max_capacity ${f.maxCapacity}`);
    out[i] = toColumn(elField, v as FieldValues, len);
  }
  return out;
}

function floatVectorColumn(f: FieldSchema, values: FieldValues, rows: number): Float32Array {
  const dim = f.dim as number;
  let out: Float32Array;
  if (values instanceof Float32Array) {
    if (values.length !== rows * dim)
      bad(`field ${f.name}: expected ${rows * dim} floats (${rows} rows × dim ${dim}), got ${values.length}`);
    out = values;
  } else {
    const list = asList(values, f);
    out = new Float32Array(rows * dim);
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (!Array.isArray(v) && !(v instanceof Float32Array))
        bad(`field ${f.name}: row ${i} must be a vector, got ${describe(v)}`);
      const vec = v as ArrayLike<unknown>;
      if (vec.length !== dim) bad(`field ${f.name}: row ${i} has dim ${vec.length}, expected ${dim}`);
      const base = i * dim;
      for (let k = 0; k < dim; k++) {
        const x = vec[k];
        if (typeof x !== "number") bad(`field ${f.name}: row ${i} element ${k} is not a number`);
        out[base + k] = x;
      }
    }
  }
  for (let j = 0; j < out.length; j++) {
    const x = out[j] as number;
    // x - x is NaN exactly for NaN and ±Inf: one branch per element.
    if (x - x !== 0)
      bad(
        `field ${f.name}: row ${Math.floor(j / dim)} contains ${x} (NaN and Inf are not allowed in vectors)`,
      );
  }
  return out;
}

function binaryVectorColumn(f: FieldSchema, values: FieldValues, rows: number): Uint8Array {
  const width = (f.dim as number) / 8;
  if (values instanceof Uint8Array) {
    if (values.length !== rows * width)
      bad(`field ${f.name}: expected ${rows * width} bytes for ${rows} rows of dim ${f.dim}`);
    return values;
  }
  const list = asList(values, f);
  const out = new Uint8Array(rows * width);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!(v instanceof Uint8Array) && !Array.isArray(v))
      bad(`field ${f.name}: row ${i} must be bytes (Uint8Array or number[])`);
    const b = v as ArrayLike<unknown>;
    if (b.length !== width)
      bad(`field ${f.name}: row ${i} has ${b.length} bytes, expected ${width} (dim ${f.dim} / 8)`);
    for (let k = 0; k < width; k++) {
      const x = b[k];
      if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 255)
        bad(`field ${f.name}: row ${i} byte ${k} is not in [0, 255]`);
      out[i * width + k] = x;
    }
  }
  return out;
}

/** IEEE half and bfloat16 conversion (round to nearest even) for number input. */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toBf16(x: number): number {
  f32[0] = x;
  const b = u32[0] as number;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}
function toF16(x: number): number {
  f32[0] = x;
  const b = u32[0] as number;
  const sign = (b >>> 16) & 0x8000;
  const exp = ((b >>> 23) & 0xff) - 127 + 15;
  const mant = b & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >>> (1 - exp);
    return sign | ((m + 0xfff + ((m >>> 13) & 1)) >>> 13);
  }
  const h = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1) ? h + 1 : h;
}

function halfVectorColumn(f: FieldSchema, values: FieldValues, rows: number): Uint16Array {
  const dim = f.dim as number;
  const conv = f.dataType === DataType.BFloat16Vector ? toBf16 : toF16;
  const expMask = f.dataType === DataType.BFloat16Vector ? 0x7f80 : 0x7c00;
  let out: Uint16Array;
  if (values instanceof Uint16Array) {
    if (values.length !== rows * dim) bad(`field ${f.name}: expected ${rows * dim} 16-bit values`);
    out = values;
  } else {
    const list = asList(values, f);
    out = new Uint16Array(rows * dim);
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (!Array.isArray(v)) bad(`field ${f.name}: row ${i} must be an array of numbers`);
      if (v.length !== dim) bad(`field ${f.name}: row ${i} has dim ${v.length}, expected ${dim}`);
      for (let k = 0; k < dim; k++) {
        const x = v[k];
        if (typeof x !== "number") bad(`field ${f.name}: row ${i} element ${k} is not a number`);
        out[i * dim + k] = conv(x);
      }
    }
  }
  for (let j = 0; j < out.length; j++) {
    if (((out[j] as number) & expMask) === expMask)
      bad(`field ${f.name}: row ${Math.floor(j / dim)} contains NaN or Inf (or overflows ${typeName(f)})`);
  }
  return out;
}

function sparseColumn(f: FieldSchema, values: FieldValues): SparseRow[] {
  const list = asList(values, f);
  const out = new Array<SparseRow>(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    let pairs: [number, number][];
    if (v !== null && typeof v === "object" && "indices" in v && "values" in v) {
      const r = v as { indices: ArrayLike<number>; values: ArrayLike<number> };
      if (r.indices.length !== r.values.length)
        bad(`field ${f.name}: row ${i} has ${r.indices.length} indices and ${r.values.length} values`);
      pairs = Array.from({ length: r.indices.length }, (_, k) => [
        r.indices[k] as number,
        r.values[k] as number,
      ]);
    } else if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      pairs = Object.entries(v as Record<string, unknown>).map(([k, x]) => [Number(k), x as number]);
    } else bad(`field ${f.name}: row ${i} must be a sparse vector ({index: value} or {indices, values})`);
    pairs.sort((a, b) => a[0] - b[0]);
    const indices = new Uint32Array(pairs.length);
    const vals = new Float32Array(pairs.length);
    for (let k = 0; k < pairs.length; k++) {
      const [idx, x] = pairs[k] as [number, number];
      if (!Number.isInteger(idx) || idx < 0 || idx >= 2 ** 32 - 1)
        bad(`field ${f.name}: row ${i} index ${idx} is not in [0, 2^32-1)`);
      if (k > 0 && idx === indices[k - 1]) bad(`field ${f.name}: row ${i} repeats index ${idx}`);
      if (typeof x !== "number" || !Number.isFinite(x))
        bad(`field ${f.name}: row ${i} value at ${idx} is not a finite number`);
      indices[k] = idx;
      vals[k] = x;
    }
    out[i] = { indices, values: vals };
  }
  return out;
}

/** Converts and checks one field's values; `rows` is the batch's row count. */
export function toColumn(f: FieldSchema, values: FieldValues, rows: number): Column {
  switch (f.dataType) {
    case DataType.Bool:
      return { type: DataType.Bool, data: boolColumn(f, values) };
    case DataType.Int8:
      return { type: DataType.Int8, data: intColumn(f, values, Int8Array, -128, 127) };
    case DataType.Int16:
      return { type: DataType.Int16, data: intColumn(f, values, Int16Array, -32768, 32767) };
    case DataType.Int32:
      return { type: DataType.Int32, data: intColumn(f, values, Int32Array, -(2 ** 31), 2 ** 31 - 1) };
    case DataType.Int64:
      return { type: DataType.Int64, data: int64Column(f, values) };
    case DataType.Float:
      return { type: DataType.Float, data: floatColumn(f, values, Float32Array) };
    case DataType.Double:
      return { type: DataType.Double, data: floatColumn(f, values, Float64Array) };
    case DataType.VarChar: {
      const list = asList(values, f);
      const max = f.maxLength ?? 65535;
      for (let i = 0; i < list.length; i++) checkString(f, list[i], `row ${i}`, max);
      return { type: DataType.VarChar, data: list as readonly string[] };
    }
    case DataType.JSON:
      return { type: DataType.JSON, data: jsonColumn(f, values) };
    case DataType.Array:
      return { type: DataType.Array, elementType: f.elementType as DataType, data: arrayColumn(f, values) };
    case DataType.FloatVector:
      return { type: DataType.FloatVector, dim: f.dim as number, data: floatVectorColumn(f, values, rows) };
    case DataType.BinaryVector:
      return { type: DataType.BinaryVector, dim: f.dim as number, data: binaryVectorColumn(f, values, rows) };
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      return { type: f.dataType, dim: f.dim as number, data: halfVectorColumn(f, values, rows) };
    case DataType.SparseFloatVector:
      return { type: DataType.SparseFloatVector, data: sparseColumn(f, values) };
    default:
      return bad(`field ${f.name}: data type ${typeName(f)} cannot be inserted`);
  }
}

function columnBytes(c: Column): number {
  switch (c.type) {
    case DataType.VarChar:
    case DataType.String:
      return c.data.reduce((n, s) => n + s.length * 3 + 4, 0);
    case DataType.JSON:
      return c.data.reduce((n, b) => n + b.byteLength + 4, 0);
    case DataType.Array:
      return c.data.reduce((n, x) => n + columnBytes(x) + 4, 0);
    case DataType.SparseFloatVector:
      return c.data.reduce((n, r) => n + r.indices.byteLength * 2 + 4, 0);
    default:
      return c.data.byteLength;
  }
}

function widthOf(f: FieldSchema): number {
  if (
    f.dataType === DataType.FloatVector ||
    f.dataType === DataType.Float16Vector ||
    f.dataType === DataType.BFloat16Vector
  ) {
    return f.dim as number;
  }
  if (f.dataType === DataType.BinaryVector) return (f.dim as number) / 8;
  return 1;
}

function pivot(
  schema: CollectionSchema,
  rows: readonly Readonly<Record<string, unknown>>[],
): Record<string, unknown[]> {
  const known = new Set(schema.fields.map((f) => f.name));
  const cols: Record<string, unknown[]> = {};
  for (const f of schema.fields) if (!f.isDynamic) cols[f.name] = new Array<unknown>(rows.length);
  const dynamic = schema.enableDynamicField ? new Array<unknown>(rows.length) : undefined;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row === null || typeof row !== "object" || Array.isArray(row))
      bad(`row ${i} must be an object of field values`);
    let extra: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(row)) {
      const col = cols[k];
      if (col !== undefined) col[i] = v;
      else if (dynamic !== undefined && !known.has(k)) {
        extra ??= {};
        extra[k] = v;
      } else bad(`row ${i}: field ${k} is not in the schema of ${schema.name}`);
    }
    if (dynamic !== undefined) dynamic[i] = extra ?? {};
  }
  if (dynamic !== undefined) cols[DYNAMIC_FIELD_NAME] = dynamic;
  return cols;
}

/**
 * Validates a whole insert or upsert batch against the schema and converts it to columns. Pure:
 * nothing is written, and the first problem found is thrown as ParameterInvalid naming the
 * field and row (ParameterTooLarge for an oversized batch).
 * @param requirePk true for upsert: the primary key must be given even when auto-ID.
 */
export function validateInsert(
  schema: CollectionSchema,
  data: InsertData,
  requirePk = false,
): ValidatedBatch {
  if ((data.rows === undefined) === (data.columns === undefined)) bad("give either rows or columns");
  const input: Readonly<Record<string, FieldValues>> =
    data.rows !== undefined ? pivot(schema, data.rows) : (data.columns ?? {});
  if (data.columns !== undefined) {
    for (const name of Object.keys(data.columns)) {
      if (!schema.fields.some((f) => f.name === name))
        bad(`field ${name} is not in the schema of ${schema.name}`);
    }
  }
  let rowCount: number | undefined;
  const fields: { field: FieldSchema; column: Column }[] = [];
  let pk: Column | undefined;
  let bytes = 0;
  for (const f of schema.fields) {
    const values = input[f.name];
    const autoPk = f.isPrimaryKey && f.autoId && !requirePk;
    if (autoPk) {
      if (
        values !== undefined &&
        rowsOf(values, 1) > 0 &&
        (values as readonly unknown[]).some?.((v) => v !== undefined)
      ) {
        bad(
          `field ${f.name} is an auto-ID primary key: do not provide it on insert (use upsert to write given keys)`,
        );
      }
      continue;
    }
    if (values === undefined) {
      if (f.isDynamic) continue;
      bad(`field ${f.name} is missing`);
    }
    const n = rowsOf(values, widthOf(f));
    if (!Number.isInteger(n)) {
      bad(
        `field ${f.name}: ${(values as unknown as { length: number }).length} values are not a whole number of rows of dim ${f.dim}`,
      );
    }
    if (rowCount === undefined) rowCount = n;
    else if (n !== rowCount) bad(`field ${f.name} has ${n} rows, other fields have ${rowCount}`);
    if (!ArrayBuffer.isView(values)) {
      for (let i = 0; i < values.length; i++) {
        if (values[i] === undefined || values[i] === null)
          bad(`field ${f.name}: row ${i} has no value (null is not supported)`);
      }
    }
    const column = toColumn(f, values, n);
    bytes += columnBytes(column);
    if (bytes > MAX_BATCH_BYTES)
      throw new StrataError("ParameterTooLarge", `the batch is larger than ${MAX_BATCH_BYTES} bytes`);
    if (f.isPrimaryKey) pk = column;
    fields.push({ field: f, column });
  }
  if (rowCount === undefined) rowCount = data.rows?.length ?? 0;
  if (rowCount === 0) bad("the batch has no rows");
  if (pk !== undefined) checkUniquePks(pk);
  return pk === undefined ? { rowCount, fields, bytes } : { rowCount, fields, pk, bytes };
}

function checkUniquePks(pk: Column): void {
  if (pk.type === DataType.Int64) {
    const seen = new Set<bigint>();
    for (let i = 0; i < pk.data.length; i++) {
      const v = pk.data[i] as bigint;
      if (seen.has(v)) bad(`duplicate primary key ${v} in the batch (row ${i})`);
      seen.add(v);
    }
  } else if (pk.type === DataType.VarChar) {
    const seen = new Set<string>();
    for (let i = 0; i < pk.data.length; i++) {
      const v = pk.data[i] as string;
      if (seen.has(v)) bad(`duplicate primary key ${JSON.stringify(v)} in the batch (row ${i})`);
      seen.add(v);
    }
  }
}

/** Validates primary keys given for a delete. */
export function validatePks(schema: CollectionSchema, pks: FieldValues): BigInt64Array | readonly string[] {
  const f = schema.fields.find((x) => x.isPrimaryKey) as FieldSchema;
  const n = rowsOf(pks, 1);
  if (n === 0) bad("no primary keys given");
  const c = toColumn(f, pks, n);
  if (c.type === DataType.Int64) return c.data;
  if (c.type === DataType.VarChar) return c.data;
  return bad("unsupported primary key type");
}

import type { Column, SparseRow } from "../common/column.ts";
import { columnLength } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { Growable } from "../common/growable.ts";
import type { FieldSchema } from "../common/schema.ts";
import { DataType } from "../common/types.ts";

/**
 * Accumulates the rows of one field of one segment, chunk by chunk (one decoded message column at
 * a time). Fixed-width types live in one growable typed array; JSON and sparse rows are kept
 * flattened (bytes/indices/values + offsets) and only cut into per-row views when built.
 */
export interface ColumnBuilder {
  readonly rows: number;
  /** Approximate memory held (payload bytes; strings counted by UTF-16 length). */
  readonly bytes: number;
  /** @throws StrataError Corrupted when `c` does not have the field's type, dim or element type. */
  check(c: Column): void;
  /** Appends every row of `c` (call `check` first). */
  append(c: Column): void;
  /** The rows appended so far as one column. */
  build(): Column;
}

function mismatch(field: FieldSchema, c: Column): StrataError {
  const dim = "dim" in c ? ` dim ${c.dim}` : "";
  return new StrataError(
    "Corrupted",
    `field ${field.fieldId} (${field.name}) holds data type ${c.type}${dim}, the schema says ${field.dataType}${field.dim === undefined ? "" : ` dim ${field.dim}`}`,
  );
}

type Fixed = Exclude<
  Column,
  { type: typeof DataType.VarChar | typeof DataType.String | typeof DataType.JSON | typeof DataType.Array }
>;
type FixedData = Exclude<Fixed, { type: typeof DataType.SparseFloatVector }>["data"];

class FixedBuilder implements ColumnBuilder {
  private readonly field: FieldSchema;
  private readonly store: Growable<FixedData>;
  private readonly perRow: number;
  private readonly wrap: (data: FixedData) => Column;
  rows = 0;

  constructor(
    field: FieldSchema,
    store: Growable<FixedData>,
    perRow: number,
    wrap: (data: FixedData) => Column,
  ) {
    this.field = field;
    this.store = store;
    this.perRow = perRow;
    this.wrap = wrap;
  }

  get bytes(): number {
    return this.store.view().byteLength;
  }

  check(c: Column): void {
    if (c.type !== this.field.dataType || ("dim" in c && c.dim !== this.field.dim))
      throw mismatch(this.field, c);
  }

  append(c: Column): void {
    this.store.append(c.data as FixedData);
    this.rows += (c.data as FixedData).length / this.perRow;
  }

  build(): Column {
    return this.wrap(this.store.view());
  }
}

class StringBuilder implements ColumnBuilder {
  private readonly field: FieldSchema;
  private readonly data: string[] = [];
  bytes = 0;

  constructor(field: FieldSchema) {
    this.field = field;
  }

  get rows(): number {
    return this.data.length;
  }

  check(c: Column): void {
    if (c.type !== this.field.dataType) throw mismatch(this.field, c);
  }

  append(c: Column): void {
    for (const s of c.data as readonly string[]) {
      this.data.push(s);
      this.bytes += s.length + 4;
    }
  }

  build(): Column {
    return { type: this.field.dataType as typeof DataType.VarChar, data: this.data };
  }
}

class JsonBuilder implements ColumnBuilder {
  private readonly field: FieldSchema;
  private readonly payload = new Growable<Uint8Array>((n) => new Uint8Array(n));
  private readonly ends = new Growable<Float64Array>((n) => new Float64Array(n));

  constructor(field: FieldSchema) {
    this.field = field;
  }

  get rows(): number {
    return this.ends.length;
  }

  get bytes(): number {
    return this.payload.length + this.ends.length * 8;
  }

  check(c: Column): void {
    if (c.type !== DataType.JSON) throw mismatch(this.field, c);
  }

  append(c: Column): void {
    for (const row of c.data as readonly Uint8Array[]) {
      this.payload.append(row);
      this.ends.push(this.payload.length);
    }
  }

  build(): Column {
    const bytes = this.payload.view();
    const ends = this.ends.view();
    const data: Uint8Array[] = new Array(ends.length);
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i] as number;
      data[i] = bytes.subarray(start, end);
      start = end;
    }
    return { type: DataType.JSON, data };
  }
}

class SparseBuilder implements ColumnBuilder {
  private readonly field: FieldSchema;
  private readonly indices = new Growable<Uint32Array>((n) => new Uint32Array(n));
  private readonly values = new Growable<Float32Array>((n) => new Float32Array(n));
  private readonly ends = new Growable<Float64Array>((n) => new Float64Array(n));

  constructor(field: FieldSchema) {
    this.field = field;
  }

  get rows(): number {
    return this.ends.length;
  }

  get bytes(): number {
    return this.indices.length * 8 + this.ends.length * 8;
  }

  check(c: Column): void {
    if (c.type !== DataType.SparseFloatVector) throw mismatch(this.field, c);
    for (const row of c.data) {
      if (row.indices.length !== row.values.length) {
        throw new StrataError(
          "Corrupted",
          `field ${this.field.fieldId}: sparse row with unequal indices/values`,
        );
      }
    }
  }

  append(c: Column): void {
    for (const row of c.data as readonly SparseRow[]) {
      this.indices.append(row.indices);
      this.values.append(row.values);
      this.ends.push(this.indices.length);
    }
  }

  build(): Column {
    const idx = this.indices.view();
    const val = this.values.view();
    const ends = this.ends.view();
    const data: SparseRow[] = new Array(ends.length);
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i] as number;
      data[i] = { indices: idx.subarray(start, end), values: val.subarray(start, end) };
      start = end;
    }
    return { type: DataType.SparseFloatVector, data };
  }
}

/** Array rows are columns themselves; each is copied so it does not pin the message buffer. */
class ArrayBuilder implements ColumnBuilder {
  private readonly field: FieldSchema;
  private readonly data: Column[] = [];
  bytes = 0;

  constructor(field: FieldSchema) {
    this.field = field;
  }

  get rows(): number {
    return this.data.length;
  }

  check(c: Column): void {
    if (c.type !== DataType.Array || c.elementType !== this.field.elementType) throw mismatch(this.field, c);
    for (const row of c.data) {
      if (row.type !== c.elementType) {
        throw new StrataError("Corrupted", `field ${this.field.fieldId}: array row of type ${row.type}`);
      }
    }
  }

  append(c: Column): void {
    for (const row of (c as Extract<Column, { type: typeof DataType.Array }>).data) {
      const copy =
        row.type === DataType.VarChar || row.type === DataType.String
          ? { type: row.type, data: [...row.data] }
          : ({ ...row, data: (row.data as Uint8Array).slice() } as Column);
      this.data.push(copy);
      this.bytes +=
        16 + (Array.isArray(copy.data) ? columnLength(copy) * 8 : (copy.data as Uint8Array).byteLength);
    }
  }

  build(): Column {
    return { type: DataType.Array, elementType: this.field.elementType as DataType, data: this.data };
  }
}

/** A builder for one schema field. @throws StrataError ParameterInvalid for an unsupported type. */
export function columnBuilder(field: FieldSchema): ColumnBuilder {
  const dim = field.dim ?? 0;
  switch (field.dataType) {
    case DataType.Bool:
      return new FixedBuilder(field, new Growable<Uint8Array>((n) => new Uint8Array(n)), 1, (d) => ({
        type: DataType.Bool,
        data: d as Uint8Array,
      }));
    case DataType.Int8:
      return new FixedBuilder(field, new Growable<Int8Array>((n) => new Int8Array(n)), 1, (d) => ({
        type: DataType.Int8,
        data: d as Int8Array,
      }));
    case DataType.Int16:
      return new FixedBuilder(field, new Growable<Int16Array>((n) => new Int16Array(n)), 1, (d) => ({
        type: DataType.Int16,
        data: d as Int16Array,
      }));
    case DataType.Int32:
      return new FixedBuilder(field, new Growable<Int32Array>((n) => new Int32Array(n)), 1, (d) => ({
        type: DataType.Int32,
        data: d as Int32Array,
      }));
    case DataType.Int64:
      return new FixedBuilder(field, new Growable<BigInt64Array>((n) => new BigInt64Array(n)), 1, (d) => ({
        type: DataType.Int64,
        data: d as BigInt64Array,
      }));
    case DataType.Float:
      return new FixedBuilder(field, new Growable<Float32Array>((n) => new Float32Array(n)), 1, (d) => ({
        type: DataType.Float,
        data: d as Float32Array,
      }));
    case DataType.Double:
      return new FixedBuilder(field, new Growable<Float64Array>((n) => new Float64Array(n)), 1, (d) => ({
        type: DataType.Double,
        data: d as Float64Array,
      }));
    case DataType.BinaryVector:
      return new FixedBuilder(field, new Growable<Uint8Array>((n) => new Uint8Array(n)), dim / 8, (d) => ({
        type: DataType.BinaryVector,
        dim,
        data: d as Uint8Array,
      }));
    case DataType.FloatVector:
      return new FixedBuilder(field, new Growable<Float32Array>((n) => new Float32Array(n)), dim, (d) => ({
        type: DataType.FloatVector,
        dim,
        data: d as Float32Array,
      }));
    case DataType.Float16Vector:
    case DataType.BFloat16Vector: {
      const type = field.dataType;
      return new FixedBuilder(field, new Growable<Uint16Array>((n) => new Uint16Array(n)), dim, (d) => ({
        type,
        dim,
        data: d as Uint16Array,
      }));
    }
    case DataType.VarChar:
    case DataType.String:
      return new StringBuilder(field);
    case DataType.JSON:
      return new JsonBuilder(field);
    case DataType.SparseFloatVector:
      return new SparseBuilder(field);
    case DataType.Array:
      return new ArrayBuilder(field);
    default:
      throw new StrataError(
        "ParameterInvalid",
        `field ${field.fieldId}: unsupported data type ${field.dataType}`,
      );
  }
}

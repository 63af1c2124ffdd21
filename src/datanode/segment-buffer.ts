import type { Column } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { Growable } from "../common/growable.ts";
import type { InsertMsg } from "../common/msg/index.ts";
import type { CollectionSchema, FieldSchema } from "../common/schema.ts";
import type { Timestamp } from "../common/timestamp.ts";
import { DataType } from "../common/types.ts";
import type { PrimaryKey } from "../storage/pkstats.ts";
import { type ColumnBuilder, columnBuilder } from "./column-builder.ts";

/**
 * The unsynced rows of one segment, columnar: RowID (field 0), Timestamp (field 1) and one builder
 * per user field in schema order, plus the exact set of buffered primary keys (delete routing).
 */
export class InsertBuffer {
  readonly rowIds = new Growable<BigInt64Array>((n) => new BigInt64Array(n));
  readonly timestamps = new Growable<BigInt64Array>((n) => new BigInt64Array(n));
  readonly fields: ReadonlyMap<number, ColumnBuilder>;
  private readonly schema: CollectionSchema;
  private readonly pkField: FieldSchema;
  private readonly pks = new Set<PrimaryKey>();
  tsFrom: Timestamp = 0n;
  tsTo: Timestamp = 0n;

  constructor(schema: CollectionSchema, pkField: FieldSchema) {
    this.schema = schema;
    this.pkField = pkField;
    const fields = new Map<number, ColumnBuilder>();
    for (const f of schema.fields) fields.set(f.fieldId, columnBuilder(f));
    this.fields = fields;
  }

  get rows(): number {
    return this.rowIds.length;
  }

  get bytes(): number {
    let n = this.rowIds.length * 16;
    for (const b of this.fields.values()) n += b.bytes;
    return n;
  }

  hasPk(pk: PrimaryKey): boolean {
    return this.pks.has(pk);
  }

  /**
   * Appends every row of the message, or nothing.
   * @throws StrataError Corrupted when the message's fields do not match the schema.
   */
  append(msg: InsertMsg): void {
    const rows = msg.rowIds.length;
    if (msg.fields.length !== this.schema.fields.length) {
      throw new StrataError(
        "Corrupted",
        `insert into segment ${msg.segmentId} has ${msg.fields.length} fields, the schema has ${this.schema.fields.length}`,
      );
    }
    const byId = new Map<number, Column>();
    for (const f of msg.fields) {
      const b = this.fields.get(f.fieldId);
      if (b === undefined || byId.has(f.fieldId)) {
        throw new StrataError(
          "Corrupted",
          `insert into segment ${msg.segmentId}: unexpected field ${f.fieldId}`,
        );
      }
      b.check(f.column);
      byId.set(f.fieldId, f.column);
    }
    if (rows === 0) return;
    const pk = byId.get(this.pkField.fieldId) as Column;
    this.rowIds.append(msg.rowIds);
    const at = this.timestamps.reserve(rows);
    this.timestamps.view().fill(BigInt.asIntN(64, msg.timestamp), at, at + rows);
    for (const [fieldId, col] of byId) (this.fields.get(fieldId) as ColumnBuilder).append(col);
    if (pk.type === DataType.Int64) for (const v of pk.data) this.pks.add(v);
    else if (pk.type === DataType.VarChar) for (const v of pk.data) this.pks.add(v);
    if (this.tsFrom === 0n || msg.timestamp < this.tsFrom) this.tsFrom = msg.timestamp;
    if (msg.timestamp > this.tsTo) this.tsTo = msg.timestamp;
  }

  /** Field ID → column for every field of the binlog set: 0 RowID, 1 Timestamp, then user fields. */
  columns(): Map<number, Column> {
    const out = new Map<number, Column>();
    out.set(0, { type: DataType.Int64, data: this.rowIds.view() });
    out.set(1, { type: DataType.Int64, data: this.timestamps.view() });
    for (const [id, b] of this.fields) out.set(id, b.build());
    return out;
  }

  /** The primary-key column of the buffered rows. */
  pkColumn(): BigInt64Array | readonly string[] {
    const c = (this.fields.get(this.pkField.fieldId) as ColumnBuilder).build();
    if (c.type === DataType.Int64) return c.data;
    if (c.type === DataType.VarChar) return c.data;
    throw new StrataError("ServiceInternal", `primary key field has type ${c.type}`);
  }
}

/** Buffered deletes of one segment: (primary key, delete timestamp) pairs in arrival order. */
export class DeleteBuffer {
  private readonly intPks: Growable<BigInt64Array> | undefined;
  private readonly strPks: string[] | undefined;
  private readonly ts = new Growable<BigInt64Array>((n) => new BigInt64Array(n));
  bytes = 0;
  tsFrom: Timestamp = 0n;
  tsTo: Timestamp = 0n;

  constructor(pkType: typeof DataType.Int64 | typeof DataType.VarChar) {
    if (pkType === DataType.Int64) this.intPks = new Growable<BigInt64Array>((n) => new BigInt64Array(n));
    else this.strPks = [];
  }

  get count(): number {
    return this.ts.length;
  }

  add(pk: PrimaryKey, ts: Timestamp): void {
    if (this.intPks !== undefined) {
      this.intPks.push(pk as bigint);
      this.bytes += 16;
    } else {
      (this.strPks as string[]).push(pk as string);
      this.bytes += 12 + (pk as string).length;
    }
    this.ts.push(BigInt.asIntN(64, ts));
    if (this.tsFrom === 0n || ts < this.tsFrom) this.tsFrom = ts;
    if (ts > this.tsTo) this.tsTo = ts;
  }

  rows(): {
    pks:
      | { readonly type: typeof DataType.Int64; readonly data: BigInt64Array }
      | { readonly type: typeof DataType.VarChar; readonly data: readonly string[] };
    timestamps: BigUint64Array;
  } {
    const t = this.ts.view();
    const timestamps = new BigUint64Array(t.buffer, t.byteOffset, t.length);
    if (this.intPks !== undefined)
      return { pks: { type: DataType.Int64, data: this.intPks.view() }, timestamps };
    return { pks: { type: DataType.VarChar, data: this.strPks as string[] }, timestamps };
  }
}

import { type Column, columnLength } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import type { Timestamp } from "../common/timestamp.ts";
import { DataType, ROW_ID_FIELD_ID, TIMESTAMP_FIELD_ID } from "../common/types.ts";
import type { SegmentIndexFile } from "../dataservice/types.ts";
import type { VectorIndex } from "../index/index.ts";
import type { PkStats, PrimaryKey } from "../storage/pkstats.ts";
import { checkColumn, columnBytes, type FieldDesc, GrowingColumn } from "./columns.ts";
import { type PkColumn, PkIndex } from "./pk-index.ts";

/** Approximate bytes of one entry of a segment's delete map (row number + timestamp). */
const DELETE_ENTRY_BYTES = 16;

export interface SegmentMeta {
  readonly segmentId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly channel: string;
}

/** What one request reads of one segment: its first `rows` rows, fixed at the time of the read. */
export interface SegmentSnapshot {
  readonly segment: Segment;
  readonly rows: number;
  readonly pks: PkColumn;
  readonly timestamps: BigInt64Array;
  /** Columns of the user fields held (any subset may be asked for). */
  column(fieldId: number): Column | undefined;
}

/**
 * Rows of one segment plus the deletes that hide them. A delete of pk at ts hides every row of
 * that pk whose timestamp is below ts, for reads at ts or later: per hidden row we keep the
 * smallest such delete timestamp, so "deleted at readTs" is one comparison. Applying a delete
 * twice changes nothing.
 */
export abstract class Segment {
  readonly meta: SegmentMeta;
  readonly pkFieldId: number;
  protected readonly deletes = new Map<number, Timestamp>();
  /** Smallest hiding timestamp in `deletes` (undefined while empty). */
  private minDelete: Timestamp | undefined;
  protected readonly index: PkIndex;
  private readonly hits: number[] = [];

  protected constructor(meta: SegmentMeta, pkFieldId: number, index: PkIndex) {
    this.meta = meta;
    this.pkFieldId = pkFieldId;
    this.index = index;
  }

  abstract get rows(): number;
  abstract get maxTs(): Timestamp;
  abstract get bytes(): number;
  abstract snapshot(): SegmentSnapshot;
  /** False only when the segment certainly holds no row with this key. */
  abstract mayContain(pk: PrimaryKey): boolean;
  protected abstract pkView(): PkColumn;
  protected abstract tsView(): BigInt64Array;

  get deleteCount(): number {
    return this.deletes.size;
  }

  protected get deleteBytes(): number {
    return this.deletes.size * DELETE_ENTRY_BYTES + this.index.bytes;
  }

  /** Applies a delete of `pk` at `ts`; returns how many rows it newly hides. */
  applyDelete(pk: PrimaryKey, ts: Timestamp): number {
    if (!this.mayContain(pk)) return 0;
    const rows = this.rows;
    const pks = this.pkView();
    const tss = this.tsView();
    this.hits.length = 0;
    this.index.lookup(pks, rows, pk, this.hits);
    let n = 0;
    for (const r of this.hits) {
      if ((tss[r] as bigint) >= ts) continue;
      const cur = this.deletes.get(r);
      if (cur === undefined || ts < cur) {
        if (cur === undefined) n++;
        this.deletes.set(r, ts);
        if (this.minDelete === undefined || ts < this.minDelete) this.minDelete = ts;
      }
    }
    return n;
  }

  /** Applies every key of one delete record. */
  applyDeletes(pks: BigInt64Array | readonly string[], ts: Timestamp): void {
    for (let i = 0; i < pks.length; i++) this.applyDelete(pks[i] as PrimaryKey, ts);
  }

  /**
   * True when every row of every snapshot is visible at `readTs` (nothing newer, no delete in
   * effect), so a request can skip building a bitset.
   */
  allVisible(readTs: Timestamp): boolean {
    return this.maxTs <= readTs && (this.minDelete === undefined || this.minDelete > readTs);
  }

  /**
   * One byte per row of the snapshot: 1 when the row is visible at `readTs` (written at or before
   * it, and not hidden by a delete at or before it).
   */
  visible(snap: SegmentSnapshot, readTs: Timestamp): Uint8Array {
    const n = snap.rows;
    const bits = new Uint8Array(n);
    if (this.maxTs <= readTs) {
      bits.fill(1);
    } else {
      const ts = snap.timestamps;
      // Timestamps are below 2^63: compare as (hi, lo) u32 pairs instead of one bigint per row.
      const w = new Uint32Array(ts.buffer, ts.byteOffset, n * 2);
      const rhi = Number(readTs >> 32n);
      const rlo = Number(readTs & 0xffffffffn);
      for (let i = 0; i < n; i++) {
        const hi = w[2 * i + 1] as number;
        bits[i] = hi < rhi || (hi === rhi && (w[2 * i] as number) <= rlo) ? 1 : 0;
      }
    }
    for (const [r, d] of this.deletes) if (r < n && d <= readTs) bits[r] = 0;
    return bits;
  }
}

export interface SealedData {
  readonly rowIds: BigInt64Array;
  readonly timestamps: BigInt64Array;
  /** User fields loaded (the PK always among them). */
  readonly columns: ReadonlyMap<number, Column>;
  readonly stats: readonly PkStats[];
  readonly persistedSeq: number;
}

/** A built index of one vector field of a sealed segment, with the record it was loaded from. */
export interface SegmentVectorIndex {
  readonly file: SegmentIndexFile;
  readonly index: VectorIndex;
  /** Called once the index is detached and closed (e.g. deletes a cached copy of its file). */
  readonly dispose?: () => void;
}

/**
 * A flushed segment loaded from its binlogs; its rows never change after the load, only its
 * deletes. A vector field with a built index may be held as the index alone: its raw column is then
 * read from the binlogs only when a request needs the vectors themselves (an output field, or an
 * exact scan chosen for a selective filter), and kept from then on.
 */
export class SealedSegment extends Segment {
  readonly rowIds: BigInt64Array;
  readonly timestamps: BigInt64Array;
  readonly stats: readonly PkStats[];
  /** Indexes by vector field ID. */
  readonly indexes = new Map<number, SegmentVectorIndex>();
  /** Reads a field's raw column from storage (set by the loader); undefined = everything is loaded. */
  rawLoader: ((fieldId: number) => Promise<Column>) | undefined;
  private readonly cols: Map<number, Column>;
  private readonly pending = new Map<number, Promise<Column | undefined>>();
  /** Delta logs already applied (by path), so a refresh applies only new ones. */
  readonly appliedDeltalogs = new Set<string>();
  persistedSeq: number;
  private readonly pkCol: PkColumn;
  private readonly max: Timestamp;
  private readonly snap: SegmentSnapshot;

  constructor(meta: SegmentMeta, pkFieldId: number, data: SealedData) {
    const pk = data.columns.get(pkFieldId);
    if (pk === undefined || (pk.type !== DataType.Int64 && pk.type !== DataType.VarChar)) {
      throw new StrataError("Corrupted", `segment ${meta.segmentId}: primary key column missing`);
    }
    const pkCol: PkColumn = pk.data as PkColumn;
    const index = new PkIndex(pkCol.length);
    index.add(pkCol, 0, pkCol.length);
    super(meta, pkFieldId, index);
    this.rowIds = data.rowIds;
    this.timestamps = data.timestamps;
    const columns = new Map(data.columns);
    this.cols = columns;
    this.stats = data.stats;
    this.persistedSeq = data.persistedSeq;
    this.pkCol = pkCol;
    let max = 0n;
    for (let i = 0; i < data.timestamps.length; i++) {
      const t = data.timestamps[i] as bigint;
      if (t > max) max = t;
    }
    this.max = max;
    this.snap = {
      segment: this,
      rows: data.rowIds.length,
      pks: pkCol,
      timestamps: data.timestamps,
      column: (fieldId) => columns.get(fieldId),
    };
  }

  get rows(): number {
    return this.rowIds.length;
  }

  get maxTs(): Timestamp {
    return this.max;
  }

  get columns(): ReadonlyMap<number, Column> {
    return this.cols;
  }

  get bytes(): number {
    let bytes = this.rowIds.byteLength + this.timestamps.byteLength;
    for (const c of this.cols.values()) bytes += columnBytes(c);
    for (const x of this.indexes.values()) bytes += x.index.memoryBytes;
    return bytes + this.deleteBytes;
  }

  snapshot(): SegmentSnapshot {
    return this.snap;
  }

  /** The built index of a vector field, if one is attached. */
  vectorIndex(fieldId: number): SegmentVectorIndex | undefined {
    return this.indexes.get(fieldId);
  }

  /**
   * Attaches a built index to a field. With `dropRaw`, the field's raw column is let go (requests
   * already holding it finish with it; later ones read it again on demand).
   */
  attachIndex(fieldId: number, x: SegmentVectorIndex, dropRaw: boolean): void {
    const old = this.indexes.get(fieldId);
    this.indexes.set(fieldId, x);
    if (old !== undefined && old !== x) closeIndex(old);
    if (dropRaw && this.rawLoader !== undefined) this.cols.delete(fieldId);
  }

  /**
   * The field's raw column, read from storage first when it is held as an index only. Concurrent
   * callers share one read. Undefined for a field this segment does not hold at all.
   */
  async ensureColumn(fieldId: number): Promise<Column | undefined> {
    const have = this.cols.get(fieldId);
    if (have !== undefined || this.rawLoader === undefined || !this.indexes.has(fieldId)) return have;
    let p = this.pending.get(fieldId);
    if (p === undefined) {
      const load = this.rawLoader;
      p = load(fieldId)
        .then((c) => {
          this.cols.set(fieldId, c);
          return c;
        })
        .finally(() => this.pending.delete(fieldId));
      this.pending.set(fieldId, p);
    }
    return p;
  }

  /** Closes the attached indexes (the segment was released). Idempotent. */
  dispose(): void {
    for (const x of this.indexes.values()) closeIndex(x);
    this.indexes.clear();
  }

  mayContain(pk: PrimaryKey): boolean {
    // Without stats logs the exact index decides alone.
    return this.stats.length === 0 || this.stats.some((s) => s.mayContain(pk));
  }

  protected pkView(): PkColumn {
    return this.pkCol;
  }

  protected tsView(): BigInt64Array {
    return this.timestamps;
  }
}

/** Closes a detached index and releases what it holds (a cached copy of its file). */
export function closeIndex(x: SegmentVectorIndex): void {
  x.index.close();
  x.dispose?.();
}

/** The rows of a segment still being written, appended pack by pack from the DML channel. */
export class GrowingSegment extends Segment {
  private readonly rowIdCol: GrowingColumn;
  private readonly tsCol: GrowingColumn;
  private readonly fields: ReadonlyMap<number, GrowingColumn>;
  private readonly pkDesc: FieldDesc;
  private n = 0;
  private max: Timestamp = 0n;
  private snap: SegmentSnapshot | undefined;

  constructor(meta: SegmentMeta, pkFieldId: number, fields: readonly FieldDesc[]) {
    super(meta, pkFieldId, new PkIndex());
    this.rowIdCol = new GrowingColumn({ fieldId: ROW_ID_FIELD_ID, dataType: DataType.Int64 });
    this.tsCol = new GrowingColumn({ fieldId: TIMESTAMP_FIELD_ID, dataType: DataType.Int64 });
    const m = new Map<number, GrowingColumn>();
    for (const f of fields) m.set(f.fieldId, new GrowingColumn(f));
    this.fields = m;
    const pk = fields.find((f) => f.fieldId === pkFieldId);
    if (pk === undefined) throw new StrataError("ParameterInvalid", "schema has no primary key field");
    this.pkDesc = pk;
  }

  get rows(): number {
    return this.n;
  }

  get maxTs(): Timestamp {
    return this.max;
  }

  get bytes(): number {
    let b = this.rowIdCol.bytes + this.tsCol.bytes + this.deleteBytes;
    for (const c of this.fields.values()) b += c.bytes;
    return b;
  }

  /**
   * Appends rows: every user field of the schema exactly once, all with `rowIds.length` rows,
   * timestamps one per row. All or nothing.
   * @throws StrataError Corrupted when the fields do not match the schema.
   */
  append(
    rowIds: BigInt64Array,
    timestamps: BigInt64Array,
    fields: readonly { fieldId: number; column: Column }[],
  ): void {
    const rows = rowIds.length;
    const what = `insert into segment ${this.meta.segmentId}`;
    if (timestamps.length !== rows) throw new StrataError("Corrupted", `${what}: timestamp count mismatch`);
    if (fields.length !== this.fields.size) {
      throw new StrataError(
        "Corrupted",
        `${what}: ${fields.length} fields, the schema has ${this.fields.size}`,
      );
    }
    const seen = new Set<number>();
    for (const f of fields) {
      const col = this.fields.get(f.fieldId);
      if (col === undefined || seen.has(f.fieldId)) {
        throw new StrataError("Corrupted", `${what}: unexpected field ${f.fieldId}`);
      }
      seen.add(f.fieldId);
      checkColumn(col.desc, f.column, what);
      if (columnLength(f.column) !== rows) {
        throw new StrataError(
          "Corrupted",
          `${what}: field ${f.fieldId} has ${columnLength(f.column)} rows, expected ${rows}`,
        );
      }
    }
    if (rows === 0) return;
    this.rowIdCol.append({ type: DataType.Int64, data: rowIds });
    this.tsCol.append({ type: DataType.Int64, data: timestamps });
    for (const f of fields) (this.fields.get(f.fieldId) as GrowingColumn).append(f.column);
    for (let i = 0; i < rows; i++) {
      const t = timestamps[i] as bigint;
      if (t > this.max) this.max = t;
    }
    const from = this.n;
    this.n += rows;
    this.index.add(this.pkView(), from, this.n);
    this.snap = undefined;
  }

  snapshot(): SegmentSnapshot {
    if (this.snap !== undefined) return this.snap;
    const rows = this.n;
    const fields = this.fields;
    const cache = new Map<number, Column>();
    this.snap = {
      segment: this,
      rows,
      pks: this.pkView(),
      timestamps: this.tsView(),
      column: (fieldId) => {
        let c = cache.get(fieldId);
        if (c === undefined) {
          c = fields.get(fieldId)?.snapshot(rows);
          if (c !== undefined) cache.set(fieldId, c);
        }
        return c;
      },
    };
    return this.snap;
  }

  mayContain(pk: PrimaryKey): boolean {
    return this.pkDesc.dataType === DataType.Int64 ? typeof pk === "bigint" : typeof pk === "string";
  }

  /** The live key column: readers index it only below the row count they captured. */
  protected pkView(): PkColumn {
    return (this.fields.get(this.pkFieldId) as GrowingColumn).live(this.n) as PkColumn;
  }

  protected tsView(): BigInt64Array {
    return this.tsCol.snapshot(this.n).data as BigInt64Array;
  }
}

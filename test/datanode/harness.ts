/**
 * Drives a data node from the outside: produces real encoded Insert/Delete/TimeTick messages into a
 * DML channel (remembering every row), follows the node's tick reports, and reads the committed
 * binlogs/delta logs back from the object store to compare with what was produced (the oracle).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { setTimeout as sleep } from "node:timers/promises";
import type { Column, SparseRow } from "../../src/common/column.ts";
import { decodeJsonBytes } from "../../src/common/json.ts";
import { type Logger, silentLogger } from "../../src/common/log.ts";
import { encodeMsg, type FieldColumn, type Msg, MsgType } from "../../src/common/msg/index.ts";
import {
  type CollectionSchema,
  type CollectionSchemaInput,
  validateSchema,
} from "../../src/common/schema.ts";
import { composeTs, type Timestamp } from "../../src/common/timestamp.ts";
import { DataType } from "../../src/common/types.ts";
import { createDataNode, type DataNode, type DataNodeOptions } from "../../src/datanode/index.ts";
import type { ChannelTickReport, SegmentInfo } from "../../src/dataservice/types.ts";
import { SegmentState } from "../../src/dataservice/types.ts";
import type { Consumer, MessageQueue } from "../../src/mq/types.ts";
import type { ObjectStore } from "../../src/objectstore/types.ts";
import { decodeBinlog, decodeDeltalog } from "../../src/storage/index.ts";
import { PkStats } from "../../src/storage/pkstats.ts";
import { randomColumn } from "../storage/gen.ts";
import type { FakeDataService, FakeRootCoord } from "./fakes.ts";

export const SMALL_SCHEMA: CollectionSchemaInput = {
  name: "dn_small",
  fields: [
    { name: "pk", dataType: "Int64", isPrimaryKey: true },
    { name: "vec", dataType: "FloatVector", dim: 4 },
    { name: "tag", dataType: "VarChar", maxLength: 64 },
  ],
};

export const VARCHAR_PK_SCHEMA: CollectionSchemaInput = {
  name: "dn_varchar",
  fields: [
    { name: "pk", dataType: "VarChar", isPrimaryKey: true, maxLength: 64 },
    { name: "vec", dataType: "FloatVector", dim: 4 },
  ],
};

/** Every storable type (at most 4 vector fields, the schema limit). */
export const ALL_TYPES_SCHEMA: CollectionSchemaInput = {
  name: "dn_all",
  fields: [
    { name: "pk", dataType: "Int64", isPrimaryKey: true },
    { name: "vec", dataType: "FloatVector", dim: 8 },
    { name: "bin", dataType: "BinaryVector", dim: 16 },
    { name: "f16", dataType: "Float16Vector", dim: 4 },
    { name: "sparse", dataType: "SparseFloatVector" },
    { name: "b", dataType: "Bool" },
    { name: "i8", dataType: "Int8" },
    { name: "i16", dataType: "Int16" },
    { name: "i32", dataType: "Int32" },
    { name: "i64", dataType: "Int64" },
    { name: "f32", dataType: "Float" },
    { name: "f64", dataType: "Double" },
    { name: "s", dataType: "VarChar", maxLength: 200 },
    { name: "j", dataType: "JSON" },
    { name: "ai", dataType: "Array", elementType: "Int32", maxCapacity: 8 },
    { name: "as", dataType: "Array", elementType: "VarChar", maxCapacity: 8, maxLength: 20 },
  ],
};

function hex(a: ArrayBufferView, from: number, bytes: number): string {
  return Buffer.from(a.buffer, a.byteOffset + from, bytes).toString("hex");
}

/** One canonical string per row; equal strings mean bit-identical values. */
export function rowKeys(c: Column): string[] {
  switch (c.type) {
    case DataType.VarChar:
    case DataType.String:
      return c.data.map((s) => JSON.stringify(s));
    case DataType.JSON:
      return c.data.map((b) => hex(b, 0, b.byteLength));
    case DataType.SparseFloatVector:
      return c.data.map(
        (r: SparseRow) =>
          `${hex(r.indices, 0, r.indices.byteLength)}:${hex(r.values, 0, r.values.byteLength)}`,
      );
    case DataType.Array:
      return c.data.map((row) => `${row.type}[${rowKeys(row).join(",")}]`);
    case DataType.BinaryVector:
    case DataType.FloatVector:
    case DataType.Float16Vector:
    case DataType.BFloat16Vector: {
      const per = c.type === DataType.BinaryVector ? c.dim / 8 : c.dim * c.data.BYTES_PER_ELEMENT;
      const n = c.data.byteLength / per;
      return Array.from({ length: n }, (_, i) => hex(c.data, i * per, per));
    }
    default: {
      const w = c.data.BYTES_PER_ELEMENT;
      return Array.from({ length: c.data.length }, (_, i) => hex(c.data, i * w, w));
    }
  }
}

export interface ExpectedRow {
  readonly segmentId: bigint;
  readonly partitionId: bigint;
  readonly ts: Timestamp;
  readonly pk: bigint | string;
  /** fieldId → canonical value. */
  readonly values: Map<number, string>;
}

export interface ProducedDelete {
  readonly seq: number;
  readonly ts: Timestamp;
  readonly partitionId: bigint;
  readonly pks: readonly (bigint | string)[];
}

/** Produces DML messages into one channel and remembers what it produced. */
export class Feeder {
  readonly rows = new Map<bigint, ExpectedRow>();
  readonly inserts: { seq: number; segmentId: bigint; rows: number }[] = [];
  readonly deletes: ProducedDelete[] = [];
  readonly ticks: { seq: number; ts: Timestamp }[] = [];
  private physical = 1_700_000_000_000;
  private logical = 0;
  private nextRowId = 1n;
  private nextPk = 1;
  private readonly mq: MessageQueue;
  readonly channel: string;
  readonly collectionId: bigint;
  readonly schema: CollectionSchema;
  private readonly r: () => number;
  /** Called for every produced insert (the test's dataservice records the assignment expiry). */
  onInsert: ((segmentId: bigint, ts: Timestamp) => void) | undefined;

  constructor(
    mq: MessageQueue,
    channel: string,
    collectionId: bigint,
    schema: CollectionSchema,
    r: () => number,
  ) {
    this.mq = mq;
    this.channel = channel;
    this.collectionId = collectionId;
    this.schema = schema;
    this.r = r;
  }

  private ts(): Timestamp {
    return composeTs(this.physical, ++this.logical);
  }

  /** Physical time of the next message (ms). */
  get nowMs(): number {
    return this.physical;
  }

  /** Rows with fresh PKs (or the given ones) and random values for every other field. */
  buildInsert(segmentId: bigint, partitionId: bigint, n: number, pks?: readonly (bigint | string)[]): Msg {
    const ts = this.ts();
    const rowIds = new BigInt64Array(n);
    for (let i = 0; i < n; i++) rowIds[i] = this.nextRowId++;
    const fields: FieldColumn[] = [];
    const keys = new Map<number, string[]>();
    let pkValues: (bigint | string)[] = [];
    for (const f of this.schema.fields) {
      let column: Column;
      if (f.isPrimaryKey) {
        pkValues =
          pks !== undefined
            ? [...pks]
            : Array.from({ length: n }, () => {
                const v = this.nextPk++;
                return f.dataType === DataType.Int64 ? BigInt(v) : `pk-${v}`;
              });
        column =
          f.dataType === DataType.Int64
            ? { type: DataType.Int64, data: BigInt64Array.from(pkValues as bigint[]) }
            : { type: DataType.VarChar, data: pkValues as string[] };
      } else {
        column = randomColumn(this.r, f.dataType, n, {
          ...(f.dim !== undefined ? { dim: f.dim } : {}),
          ...(f.elementType !== undefined ? { elementType: f.elementType } : {}),
        });
      }
      fields.push({ fieldId: f.fieldId, column });
      keys.set(f.fieldId, rowKeys(column));
    }
    for (let i = 0; i < n; i++) {
      const values = new Map<number, string>();
      for (const [fid, k] of keys) values.set(fid, k[i] as string);
      this.rows.set(rowIds[i] as bigint, {
        segmentId,
        partitionId,
        ts,
        pk: pkValues[i] as bigint | string,
        values,
      });
    }
    return {
      type: MsgType.Insert,
      timestamp: ts,
      collectionId: this.collectionId,
      partitionId,
      segmentId,
      channel: this.channel,
      rowIds,
      fields,
    };
  }

  async insert(
    segmentId: bigint,
    partitionId: bigint,
    n: number,
    pks?: readonly (bigint | string)[],
  ): Promise<number> {
    const msg = this.buildInsert(segmentId, partitionId, n, pks);
    this.onInsert?.(segmentId, msg.timestamp);
    const [pos] = await this.mq.produce(this.channel, [encodeMsg(msg)]);
    const seq = (pos as { seq: number }).seq;
    this.inserts.push({ seq, segmentId, rows: n });
    return seq;
  }

  async delete(pks: readonly (bigint | string)[], partitionId = -1n): Promise<ProducedDelete> {
    const ts = this.ts();
    const isInt = this.schema.fields.find((f) => f.isPrimaryKey)?.dataType === DataType.Int64;
    const msg: Msg = {
      type: MsgType.Delete,
      timestamp: ts,
      collectionId: this.collectionId,
      partitionId,
      channel: this.channel,
      pks: isInt ? BigInt64Array.from(pks as bigint[]) : (pks as string[]),
    };
    const [pos] = await this.mq.produce(this.channel, [encodeMsg(msg)]);
    const d = { seq: (pos as { seq: number }).seq, ts, partitionId, pks };
    this.deletes.push(d);
    return d;
  }

  /** A time tick covering everything produced so far; then the clock moves `advanceMs`. */
  async tick(advanceMs = 200): Promise<number> {
    const ts = this.ts();
    const [pos] = await this.mq.produce(this.channel, [encodeMsg({ type: MsgType.TimeTick, timestamp: ts })]);
    const seq = (pos as { seq: number }).seq;
    this.ticks.push({ seq, ts });
    this.physical += advanceMs;
    this.logical = 0;
    return seq;
  }
}

/** Follows the tick-report channel. */
export class TickReports {
  readonly reports: ChannelTickReport[] = [];
  private readonly consumer: Consumer;
  private readonly loop: Promise<void>;

  private constructor(consumer: Consumer) {
    this.consumer = consumer;
    this.loop = (async () => {
      for (;;) {
        const batch = await consumer.next();
        if (batch.length === 0) return;
        for (const m of batch) this.reports.push(decodeJsonBytes<ChannelTickReport>(m.payload));
      }
    })();
  }

  static async open(mq: MessageQueue, channel: string): Promise<TickReports> {
    await mq.ensureChannel(channel);
    return new TickReports(await mq.consume(channel, { kind: "earliest" }));
  }

  /** Waits until the node reported having processed the tick at `seq` of `channel`. */
  async waitSeq(channel: string, seq: number, ms = 15_000): Promise<ChannelTickReport> {
    const end = Date.now() + ms;
    for (;;) {
      const r = this.reports.find((x) => x.channel === channel && x.seq >= seq);
      if (r !== undefined) return r;
      if (Date.now() > end) assert.fail(`no tick report for ${channel} seq ${seq}`);
      await sleep(5);
    }
  }

  async close(): Promise<void> {
    await this.consumer.close();
    await this.loop;
  }
}

export async function waitUntil(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export interface ReadRow {
  readonly ts: bigint;
  readonly values: Map<number, string>;
}

/**
 * Reads a segment's committed binlogs: every field has the same files with the same row counts,
 * headers name the right IDs; returns rowId → row. Throws on a duplicated rowId.
 */
export async function readSegmentRows(
  objects: ObjectStore,
  info: SegmentInfo,
  schema: CollectionSchema,
): Promise<Map<bigint, ReadRow>> {
  const fieldIds = [0, 1, ...schema.fields.map((f) => f.fieldId)];
  const byField = new Map(info.binlogs.map((f) => [f.fieldId, f.binlogs]));
  if (info.binlogs.length === 0) return new Map();
  assert.deepEqual(
    [...byField.keys()].sort((a, b) => a - b),
    [...fieldIds].sort((a, b) => a - b),
    "binlog field set",
  );
  const files = byField.get(0) ?? [];
  const perField = new Map<number, string[]>();
  let rowIds: bigint[] = [];
  let tss: bigint[] = [];
  for (const fid of fieldIds) {
    const logs = byField.get(fid) ?? [];
    assert.equal(logs.length, files.length, `field ${fid}: file count`);
    const keys: string[] = [];
    for (let i = 0; i < logs.length; i++) {
      const b = logs[i] as (typeof logs)[number];
      assert.equal(
        b.entries,
        (files[i] as (typeof files)[number]).entries,
        `field ${fid} file ${i}: entries`,
      );
      const bytes = await objects.get(b.path);
      assert.equal(bytes.byteLength, b.size, `${b.path}: size`);
      const { header, column } = decodeBinlog(bytes);
      assert.equal(header.segmentId, info.segmentId);
      assert.equal(header.partitionId, info.partitionId);
      assert.equal(header.collectionId, info.collectionId);
      assert.equal(header.fieldId, fid);
      assert.equal(header.rowCount, b.entries);
      assert.equal(header.timestampFrom, b.timestampFrom);
      assert.equal(header.timestampTo, b.timestampTo);
      if (fid === 0 || fid === 1) {
        assert.equal(column.type, DataType.Int64);
        const vals = [...(column.data as BigInt64Array)];
        if (fid === 0) rowIds = rowIds.concat(vals);
        else {
          for (const t of vals)
            assert.ok(t >= b.timestampFrom && t <= b.timestampTo, "row ts within the file's range");
          tss = tss.concat(vals);
        }
      } else keys.push(...rowKeys(column));
    }
    perField.set(fid, keys);
  }
  const out = new Map<bigint, ReadRow>();
  rowIds.forEach((id, i) => {
    assert.ok(!out.has(id), `row ${id} persisted twice in segment ${info.segmentId}`);
    const values = new Map<number, string>();
    for (const f of schema.fields) values.set(f.fieldId, (perField.get(f.fieldId) as string[])[i] as string);
    out.set(id, { ts: tss[i] as bigint, values });
  });
  return out;
}

/**
 * The oracle: every produced row (of segments not excluded) is in its segment's binlogs exactly
 * once with its timestamp and bit-identical values, and nothing else is.
 */
export async function assertRowsExactlyOnce(
  feeder: Feeder,
  ds: FakeDataService,
  objects: ObjectStore,
  opts: { exclude?: (row: ExpectedRow) => boolean } = {},
): Promise<void> {
  const bySegment = new Map<bigint, Map<bigint, ExpectedRow>>();
  for (const [id, row] of feeder.rows) {
    if (opts.exclude?.(row) === true) continue;
    const m = bySegment.get(row.segmentId) ?? new Map<bigint, ExpectedRow>();
    bySegment.set(row.segmentId, m);
    m.set(id, row);
  }
  for (const [segmentId, expected] of bySegment) {
    const info = ds.seg(segmentId);
    const actual = await readSegmentRows(objects, info, feeder.schema);
    assert.equal(
      actual.size,
      expected.size,
      `segment ${segmentId}: ${actual.size} rows persisted, ${expected.size} produced`,
    );
    assert.equal(info.persistedRows, expected.size, `segment ${segmentId}: persistedRows`);
    for (const [id, e] of expected) {
      const a = actual.get(id);
      assert.ok(a !== undefined, `segment ${segmentId}: row ${id} missing`);
      assert.equal(a.ts, e.ts, `row ${id}: timestamp`);
      assert.deepEqual(a.values, e.values, `row ${id}: values`);
    }
    // each PK once
    const pkField = feeder.schema.fields.find((f) => f.isPrimaryKey)?.fieldId as number;
    const pks = new Set([...actual.values()].map((r) => r.values.get(pkField)));
    assert.equal(pks.size, actual.size, `segment ${segmentId}: duplicated PKs`);
  }
}

/** The (pk, ts) delete records committed for a segment. */
export async function readDeltas(
  objects: ObjectStore,
  info: SegmentInfo,
): Promise<{ pk: bigint | string; ts: bigint }[]> {
  const out: { pk: bigint | string; ts: bigint }[] = [];
  for (const d of info.deltalogs) {
    const { header, rows } = decodeDeltalog(await objects.get(d.path));
    assert.equal(header.segmentId, info.segmentId);
    assert.equal(header.rowCount, d.entries);
    rows.pks.data.forEach((pk, i) => {
      out.push({ pk, ts: rows.timestamps[i] as bigint });
    });
  }
  return out;
}

/** PK statistics from a segment's stats logs. */
export async function readStats(objects: ObjectStore, info: SegmentInfo): Promise<PkStats[]> {
  const out: PkStats[] = [];
  for (const f of info.statslogs)
    for (const b of f.binlogs) out.push(PkStats.decode(await objects.get(b.path)));
  return out;
}

/**
 * The checkpoint oracle, over every committed saveBinlogPaths: no produced insert at or before the
 * committed checkpoint may be missing from its segment's binlogs at that moment (unless the
 * segment was flushed or dropped).
 */
export function assertCheckpointsSafe(ds: FakeDataService, feeder: Feeder): void {
  assert.ok(ds.saves.length > 0, "no saveBinlogPaths call to check");
  for (const [i, { req, after }] of ds.saves.entries()) {
    if (req.channel !== feeder.channel) continue;
    for (const ins of feeder.inserts) {
      if (ins.seq > req.checkpoint.seq || ins.rows === 0) continue;
      const s = after.get(ins.segmentId);
      if (s === undefined || s.state === SegmentState.DROPPED || s.state === SegmentState.FLUSHED) continue;
      assert.ok(
        s.persistedSeq >= ins.seq,
        `save #${i} (segment ${req.segmentId}) committed checkpoint ${req.checkpoint.seq} past unpersisted insert seq ${ins.seq} of segment ${ins.segmentId} (persistedSeq ${s.persistedSeq})`,
      );
    }
    const tick = feeder.ticks.find((t) => t.seq === req.persistedSeq);
    assert.ok(tick !== undefined, `save #${i}: persistedSeq ${req.persistedSeq} is not a tick`);
  }
}

export interface NodeEnv {
  readonly mq: MessageQueue;
  readonly objects: ObjectStore;
  readonly ds: FakeDataService;
  readonly rc: FakeRootCoord;
  readonly logger?: Logger;
}

export async function startNode(
  env: NodeEnv,
  nodeId: number,
  options: DataNodeOptions = {},
): Promise<DataNode> {
  const node = createDataNode(
    {
      nodeId,
      mq: env.mq,
      objects: env.objects,
      dataservice: env.ds,
      rootcoord: env.rc,
      logger: env.logger ?? silentLogger(),
    },
    { retryBaseMs: 5, ...options },
  );
  await node.start();
  return node;
}

export function schemaOf(input: CollectionSchemaInput): CollectionSchema {
  return validateSchema(input);
}

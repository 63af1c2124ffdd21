import type { Column } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { gather, groupByShard } from "../common/gather.ts";
import type { Logger } from "../common/log.ts";
import { encodeInsertRows, encodeMsg, type FieldColumn, MsgType } from "../common/msg/index.ts";
import { primaryField } from "../common/schema.ts";
import type { Timestamp } from "../common/timestamp.ts";
import { DataType } from "../common/types.ts";
import { type DataService, SegmentState } from "../dataservice/types.ts";
import type { MessageQueue } from "../mq/types.ts";
import { type CollectionInfo, DEFAULT_PARTITION, type RootCoord } from "../rootcoord/types.ts";
import { shardOf } from "./hash.ts";
import type { CreateIndexRequest, IndexInfo } from "./index-types.ts";
import { createIndex, describeIndex, dropIndex, type IndexDeps, statistics } from "./indexes.ts";
import { InflightTracker } from "./inflight.ts";
import { type ReadDeps, ReadPath } from "./read.ts";
import type {
  LoadState,
  QueryColumns,
  QueryRequest,
  QueryRow,
  SearchHit,
  SearchRequest,
} from "./read-types.ts";
import { SegmentAssigner } from "./segment-assigner.ts";
import type { DeleteRequest, FlushOptions, InsertRequest, MutationResult, ProxyService } from "./types.ts";
import { validateInsert, validatePks } from "./validate.ts";

export interface ProxyDeps {
  readonly proxyId: number;
  readonly rootcoord: RootCoord;
  readonly dataservice: DataService;
  readonly mq: MessageQueue;
  readonly logger: Logger;
  /** The read path; without it search/query/load fail with Unimplemented. */
  readonly read?: Omit<ReadDeps, "lastWriteTs" | "rootcoord">;
}

export interface ProxyOptions {
  /** How often the proxy reports its published timestamps to rootcoord (default 200 ms). */
  readonly timeTickIntervalMs?: number;
  /** Rows asked per segment assignment request (default 20,000). */
  readonly segmentRequestRows?: number;
}

class ProxyImpl implements ProxyService {
  readonly #d: ProxyDeps;
  readonly #tickMs: number;
  readonly #inflight = new InflightTracker();
  readonly #assigner: SegmentAssigner;
  #timer: NodeJS.Timeout | undefined;
  #reporting: Promise<void> = Promise.resolve();
  #closed = false;
  #lastWriteTs: Timestamp = 0n;
  readonly #read: ReadPath | undefined;

  constructor(deps: ProxyDeps, opts: ProxyOptions) {
    this.#d = deps;
    this.#tickMs = opts.timeTickIntervalMs ?? 200;
    this.#assigner = new SegmentAssigner(deps.dataservice, opts.segmentRequestRows ?? 20_000);
    this.#read =
      deps.read === undefined
        ? undefined
        : new ReadPath({
            ...deps.read,
            rootcoord: deps.rootcoord,
            indexes: (id) => deps.dataservice.describeIndexes(id),
            lastWriteTs: () => this.#lastWriteTs,
          });
  }

  #reader(): ReadPath {
    this.#check();
    if (this.#read === undefined) throw new StrataError("Unimplemented", "this proxy has no read path");
    return this.#read;
  }

  load(collection: string, partitions?: readonly string[], timeoutMs?: number): Promise<void> {
    return this.#reader().load(collection, partitions, timeoutMs);
  }
  beginLoad(collection: string, partitions?: readonly string[]): Promise<void> {
    return this.#reader().beginLoad(collection, partitions);
  }
  loadProgress(collection: string, partitions?: readonly string[]): Promise<number> {
    return this.#reader().loadProgress(collection, partitions);
  }
  release(collection: string, partitions?: readonly string[]): Promise<void> {
    return this.#reader().release(collection, partitions);
  }
  loadState(collection: string, partitions?: readonly string[]): Promise<LoadState> {
    return this.#reader().loadState(collection, partitions);
  }

  #indexDeps(): IndexDeps {
    this.#check();
    return {
      rootcoord: this.#d.rootcoord,
      dataservice: this.#d.dataservice,
      loadState: (c) => (this.#read === undefined ? Promise.resolve("NotLoad") : this.#read.loadState(c)),
    };
  }
  createIndex(req: CreateIndexRequest): Promise<void> {
    return createIndex(this.#indexDeps(), req);
  }
  describeIndex(collection: string, indexName?: string): Promise<IndexInfo[]> {
    return describeIndex(this.#indexDeps(), collection, indexName);
  }
  dropIndex(collection: string, indexName?: string): Promise<void> {
    return dropIndex(this.#indexDeps(), collection, indexName);
  }
  statistics(collection: string, partition?: string): Promise<{ rowCount: number }> {
    return statistics(this.#indexDeps(), collection, partition);
  }
  async flushState(segmentIds: readonly bigint[]): Promise<boolean> {
    this.#check();
    for (const segmentId of segmentIds) {
      const s = await this.#d.dataservice.getSegmentStates({ segmentId });
      const done =
        s.state === SegmentState.FLUSHED ||
        s.state === SegmentState.DROPPED ||
        s.state === SegmentState.NOT_EXIST ||
        s.state === SegmentState.NONE;
      if (!done) return false;
    }
    return true;
  }
  search(req: SearchRequest): Promise<SearchHit[][]> {
    return this.#reader().search(req);
  }
  query(req: QueryRequest): Promise<QueryRow[]> {
    return this.#reader().query(req);
  }
  queryColumns(req: QueryRequest): Promise<QueryColumns> {
    return this.#reader().queryColumns(req);
  }

  async start(): Promise<void> {
    await this.#d.rootcoord.registerProxy(this.#d.proxyId);
    await this.#reportTick();
    this.#timer = setInterval(() => {
      this.#reporting = this.#reporting.then(() => this.#reportTick());
    }, this.#tickMs);
    this.#timer.unref();
  }

  async #reportTick(): Promise<void> {
    if (this.#closed) return;
    try {
      const report = await this.#inflight.report(this.#d.proxyId, () => this.#d.rootcoord.allocTimestamp());
      await this.#d.rootcoord.updateChannelTimeTick(report);
    } catch (e) {
      if (!this.#closed) this.#d.logger.warn({ err: e }, "time tick report failed");
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#reporting;
    await this.#d.rootcoord.unregisterProxy(this.#d.proxyId).catch(() => undefined);
  }

  #check(): void {
    if (this.#closed) throw new StrataError("Closed", "proxy is closed");
  }

  createCollection(req: Parameters<ProxyService["createCollection"]>[0]) {
    this.#check();
    return this.#d.rootcoord.createCollection(req);
  }
  async dropCollection(name: string) {
    this.#check();
    const info = await this.#d.rootcoord.describeCollection(name);
    await this.#d.rootcoord.dropCollection(name);
    this.#assigner.forgetChannels(info.channels);
  }
  hasCollection(name: string) {
    return this.#d.rootcoord.hasCollection(name);
  }
  describeCollection(name: string) {
    return this.#d.rootcoord.describeCollection(name);
  }
  listCollections() {
    return this.#d.rootcoord.showCollections();
  }
  createPartition(collection: string, partition: string) {
    return this.#d.rootcoord.createPartition(collection, partition);
  }
  dropPartition(collection: string, partition: string) {
    return this.#d.rootcoord.dropPartition(collection, partition);
  }
  hasPartition(collection: string, partition: string) {
    return this.#d.rootcoord.hasPartition(collection, partition);
  }
  listPartitions(collection: string) {
    return this.#d.rootcoord.showPartitions(collection);
  }

  #partitionId(info: CollectionInfo, name: string | undefined): bigint {
    const want = name ?? DEFAULT_PARTITION;
    const p = info.partitions.find((x) => x.name === want);
    if (p === undefined)
      throw new StrataError("PartitionNotFound", `partition ${want} not found in ${info.schema.name}`);
    return p.partitionId;
  }

  /** Publishes per channel, in one produce call each, then releases the batch's time-tick hold. */
  async #publish(
    ts: Timestamp,
    channels: readonly string[],
    perChannel: Map<string, Uint8Array[]>,
  ): Promise<void> {
    try {
      await Promise.all([...perChannel].map(([ch, payloads]) => this.#d.mq.produce(ch, payloads)));
    } finally {
      this.#inflight.release(ts, channels);
    }
  }

  insert(req: InsertRequest): Promise<MutationResult> {
    return this.#write(req, false);
  }

  upsert(req: InsertRequest): Promise<MutationResult> {
    return this.#write(req, true);
  }

  async #write(req: InsertRequest, upsert: boolean): Promise<MutationResult> {
    this.#check();
    const info = await this.#d.rootcoord.describeCollection(req.collectionName);
    const partitionId = this.#partitionId(info, req.partitionName);
    const batch = validateInsert(info.schema, req.data, upsert);
    const n = batch.rowCount;
    const pkField = primaryField(info.schema);
    const ids = await this.#d.rootcoord.allocID(n);
    const rowIds = new BigInt64Array(n);
    for (let i = 0; i < n; i++) rowIds[i] = ids.start + BigInt(i);
    let pk: Column;
    let fields: FieldColumn[];
    if (batch.pk === undefined) {
      // Auto-ID: the primary key is the row ID, as in Milvus.
      pk = { type: DataType.Int64, data: rowIds };
      fields = [
        { fieldId: pkField.fieldId, column: pk },
        ...batch.fields.map((f) => ({ fieldId: f.field.fieldId, column: f.column })),
      ];
    } else {
      pk = batch.pk;
      fields = batch.fields.map((f) => ({ fieldId: f.field.fieldId, column: f.column }));
    }
    const pkValues = pk.data as BigInt64Array | readonly string[];
    const groups = groupByShard(shardOf(pkValues, info.shardsNum), info.shardsNum);
    const used = info.channels.filter((_, s) => (groups[s]?.length ?? 0) > 0);
    const ts = await this.#inflight.stamp(used, () => this.#d.rootcoord.allocTimestamp());
    const perChannel = new Map<string, Uint8Array[]>();
    try {
      for (let s = 0; s < info.shardsNum; s++) {
        const rows = groups[s] as Uint32Array;
        if (rows.length === 0) continue;
        const channel = info.channels[s] as string;
        const slices = await this.#assigner.assign(info.collectionId, partitionId, channel, rows.length, ts);
        const payloads: Uint8Array[] = [];
        let at = 0;
        for (const slice of slices) {
          const idx = rows.subarray(at, at + slice.count);
          at += slice.count;
          payloads.push(
            encodeInsertRows(
              {
                type: MsgType.Insert,
                timestamp: ts,
                collectionId: info.collectionId,
                partitionId,
                segmentId: slice.segId,
                channel,
                rowIds,
                fields,
              },
              idx,
            ),
          );
        }
        if (upsert) {
          // After the insert in the same produce: a crash between them leaves a duplicate key
          // (resolved by timestamp on read), never a lost row.
          payloads.push(
            encodeMsg({
              type: MsgType.Delete,
              timestamp: ts,
              collectionId: info.collectionId,
              partitionId: -1n,
              channel,
              pks: gather(pk, rows).data as BigInt64Array | readonly string[],
            }),
          );
        }
        perChannel.set(channel, payloads);
      }
    } catch (e) {
      this.#inflight.release(ts, used);
      throw e;
    }
    await this.#publish(ts, used, perChannel);
    if (ts > this.#lastWriteTs) this.#lastWriteTs = ts;
    return { ids: pkValues, timestamp: ts, count: n };
  }

  async delete(req: DeleteRequest): Promise<MutationResult> {
    this.#check();
    const info = await this.#d.rootcoord.describeCollection(req.collectionName);
    const partitionId = req.partitionName === undefined ? -1n : this.#partitionId(info, req.partitionName);
    if ((req.pks === undefined) === (req.filter === undefined)) {
      throw new StrataError("ParameterInvalid", "delete needs either primary keys or a filter");
    }
    let keys = req.pks;
    if (req.filter !== undefined) {
      const pkName = primaryField(info.schema).name;
      const rows = await this.#reader().query({
        collectionName: req.collectionName,
        filter: req.filter,
        outputFields: [pkName],
        consistencyLevel: "Strong",
        ...(req.partitionName === undefined ? {} : { partitionNames: [req.partitionName] }),
      });
      if (rows.length === 0) return { ids: new BigInt64Array(0), timestamp: 0n, count: 0 };
      keys = rows.map((r) => r[pkName]);
    }
    const pks = validatePks(info.schema, keys ?? []);
    const groups = groupByShard(shardOf(pks, info.shardsNum), info.shardsNum);
    const used = info.channels.filter((_, s) => (groups[s]?.length ?? 0) > 0);
    const ts = await this.#inflight.stamp(used, () => this.#d.rootcoord.allocTimestamp());
    const pkField = primaryField(info.schema);
    const pkColumn: Column =
      pkField.dataType === DataType.Int64
        ? { type: DataType.Int64, data: pks as BigInt64Array }
        : { type: DataType.VarChar, data: pks as readonly string[] };
    const perChannel = new Map<string, Uint8Array[]>();
    for (let s = 0; s < info.shardsNum; s++) {
      const rows = groups[s] as Uint32Array;
      if (rows.length === 0) continue;
      const channel = info.channels[s] as string;
      perChannel.set(channel, [
        encodeMsg({
          type: MsgType.Delete,
          timestamp: ts,
          collectionId: info.collectionId,
          partitionId,
          channel,
          pks: gather(pkColumn, rows).data as BigInt64Array | readonly string[],
        }),
      ]);
    }
    await this.#publish(ts, used, perChannel);
    if (ts > this.#lastWriteTs) this.#lastWriteTs = ts;
    return { ids: pks, timestamp: ts, count: pks.length };
  }

  async flush(
    collectionNames: readonly string[],
    opts: FlushOptions = {},
  ): Promise<{ segmentIds: bigint[] }> {
    this.#check();
    const all: bigint[] = [];
    for (const name of collectionNames) {
      const info = await this.#d.rootcoord.describeCollection(name);
      const res = await this.#d.dataservice.flush({ dbId: info.dbId, collectionId: info.collectionId });
      all.push(...res.segmentIds);
    }
    if (opts.wait ?? true) {
      const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
      for (const segmentId of all) {
        for (;;) {
          const s = await this.#d.dataservice.getSegmentStates({ segmentId });
          if (s.state === SegmentState.FLUSHED || s.state === SegmentState.DROPPED) break;
          if (Date.now() > deadline) {
            throw new StrataError(
              "Timeout",
              `flush: segment ${segmentId} still in state ${s.state} after ${opts.timeoutMs ?? 60_000} ms`,
            );
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
    return { segmentIds: all };
  }
}

export function createProxy(deps: ProxyDeps, opts: ProxyOptions = {}): ProxyService {
  return new ProxyImpl(deps, opts);
}

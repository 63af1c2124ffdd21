/**
 * Test harness for the dataservice: a rootcoord stand-in on the real TSO and ID allocator, data
 * nodes that record every call, and helpers that play the data node's part on the tick channel.
 */
import assert from "node:assert/strict";
import { StrataError } from "../../src/common/errors.ts";
import { IdAllocator } from "../../src/common/id-allocator.ts";
import { encodeJsonBytes } from "../../src/common/json.ts";
import { silentLogger } from "../../src/common/log.ts";
import { type CollectionSchema, validateSchema } from "../../src/common/schema.ts";
import { TimestampOracle } from "../../src/common/tso.ts";
import type { DataNode, FlushSegmentsRequest } from "../../src/datanode/types.ts";
import {
  createDataService,
  type DataServiceOptions,
  type ManagedDataService,
} from "../../src/dataservice/index.ts";
import type { ChannelTickReport, SaveBinlogPathsRequest, SegmentInfo } from "../../src/dataservice/types.ts";
import type { MetaKv } from "../../src/kv/types.ts";
import type { MessageQueue } from "../../src/mq/types.ts";
import type { CollectionInfo, PartitionInfo, RootCoord } from "../../src/rootcoord/types.ts";

export interface Backend {
  kv: MetaKv;
  mq: MessageQueue;
  /** Closes kv and mq and opens them again on the same state (same dirs / prefixes). */
  reopen(): Promise<void>;
  /** Closes and removes everything. */
  cleanup(): Promise<void>;
}

export interface BackendFactory {
  readonly skip: string | false;
  create(): Promise<Backend>;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export async function rejectsWith(p: Promise<unknown>, code: string, what = ""): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof StrataError, `${what}: expected StrataError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `${what}: ${e.message}`);
    return true;
  });
}

/** The rootcoord calls the dataservice needs, over the real TSO and ID allocator. */
export class FakeRootCoord implements Pick<RootCoord, "describeCollection" | "allocID" | "allocTimestamp"> {
  readonly collections: Map<bigint, CollectionInfo>;
  readonly #tso: TimestampOracle;
  readonly #ids: IdAllocator;

  private constructor(tso: TimestampOracle, ids: IdAllocator, collections: Map<bigint, CollectionInfo>) {
    this.#tso = tso;
    this.#ids = ids;
    this.collections = collections;
  }

  static async open(kv: MetaKv, collections = new Map<bigint, CollectionInfo>()): Promise<FakeRootCoord> {
    const tso = await TimestampOracle.open({ kv, key: "rootcoord/tso" });
    const ids = await IdAllocator.open({ kv, key: "rootcoord/idalloc", windowSize: 1000 });
    return new FakeRootCoord(tso, ids, collections);
  }

  async describeCollection(nameOrId: string | bigint): Promise<CollectionInfo> {
    for (const c of this.collections.values()) {
      if (c.collectionId === nameOrId || c.schema.name === nameOrId) return c;
    }
    throw new StrataError("CollectionNotFound", `collection ${String(nameOrId)} not found`);
  }

  #gate: Promise<void> | undefined;
  /** Calls to allocTimestamp currently held at the gate. */
  held = 0;

  /** Holds every allocTimestamp call until the returned function is called. */
  hold(): () => void {
    let release = (): void => {};
    this.#gate = new Promise<void>((r) => {
      release = r;
    });
    return () => {
      this.#gate = undefined;
      release();
    };
  }

  async allocTimestamp(count = 1): Promise<bigint> {
    const gate = this.#gate;
    if (gate !== undefined) {
      this.held++;
      await gate;
      this.held--;
    }
    return this.#tso.allocate(count);
  }

  async allocID(count: number): Promise<{ start: bigint; count: number }> {
    const r = await this.#ids.allocate(count);
    return { start: r.start, count };
  }

  async addCollection(name: string, shards = 2, schema = testSchema(name)): Promise<CollectionInfo> {
    const ids = await this.#ids.allocate(2);
    const ts = await this.#tso.allocate();
    const collectionId = ids.start;
    const info: CollectionInfo = {
      collectionId,
      dbId: 0n,
      schema,
      shardsNum: shards,
      channels: Array.from({ length: shards }, (_, i) => `dml_${collectionId}_${i}`),
      partitions: [{ partitionId: ids.start + 1n, name: "_default", createTs: ts }],
      createTs: ts,
    };
    this.collections.set(collectionId, info);
    return info;
  }

  async addPartition(collectionId: bigint, name: string): Promise<PartitionInfo> {
    const info = this.collections.get(collectionId);
    assert.ok(info);
    const p: PartitionInfo = {
      partitionId: await this.#ids.allocateOne(),
      name,
      createTs: await this.#tso.allocate(),
    };
    this.collections.set(collectionId, { ...info, partitions: [...info.partitions, p] });
    return p;
  }

  async close(): Promise<void> {
    await this.#tso.close();
    await this.#ids.close();
  }
}

/** Int64 PK (field 100) + FloatVector dim 4 (field 101): 16 + 8 + 16 = 40 estimated bytes per row. */
export function testSchema(name: string): CollectionSchema {
  return validateSchema({
    name,
    fields: [
      { name: "pk", dataType: "Int64", isPrimaryKey: true },
      { name: "vec", dataType: "FloatVector", dim: 4 },
    ],
  });
}
export const ROW_BYTES = 40;

export type Call =
  | { method: "watchDmChannels"; channels: string[] }
  | { method: "releaseDmChannels"; channels: string[] }
  | { method: "flush"; req: FlushSegmentsRequest };

/** A data node that records what the dataservice asks of it. */
export class RecordingDataNode implements DataNode {
  readonly calls: Call[] = [];
  readonly watched = new Set<string>();
  closed = false;

  constructor(readonly nodeId: number) {}

  #check(): void {
    if (this.closed) throw new StrataError("Closed", `data node ${this.nodeId} is closed`);
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
  }
  async drain(): Promise<void> {}
  async watchDmChannels(channelIds: readonly string[]): Promise<void> {
    this.#check();
    this.calls.push({ method: "watchDmChannels", channels: [...channelIds] });
    for (const c of channelIds) this.watched.add(c);
  }
  async watchDdChannel(): Promise<void> {}
  async setTimeTickChannel(): Promise<void> {}
  async setStatsChannel(): Promise<void> {}
  async flush(req: FlushSegmentsRequest): Promise<void> {
    this.#check();
    this.calls.push({ method: "flush", req });
  }
  async releaseDmChannels(channelIds: readonly string[]): Promise<void> {
    this.#check();
    this.calls.push({ method: "releaseDmChannels", channels: [...channelIds] });
    for (const c of channelIds) this.watched.delete(c);
  }
  watchedChannels(): readonly string[] {
    return [...this.watched];
  }

  /** Segment IDs of every flush call so far, in order. */
  flushed(): bigint[] {
    return this.calls.flatMap((c) => (c.method === "flush" ? [...c.req.segmentIds] : []));
  }
  released(): string[] {
    return this.calls.flatMap((c) => (c.method === "releaseDmChannels" ? c.channels : []));
  }
}

export const TEST_OPTIONS: DataServiceOptions = {
  segmentMaxBytes: 100 * ROW_BYTES,
  sealCheckIntervalMs: 50,
  nodeSessionTtlSeconds: 1,
  flushRetryIntervalMs: 100,
};

/** One dataservice with its stand-ins, reopenable on the same backend. */
export class Env {
  readonly nodes = new Map<number, RecordingDataNode>();
  readonly collections = new Map<bigint, CollectionInfo>();
  rc!: FakeRootCoord;
  ds!: ManagedDataService;

  private constructor(
    readonly backend: Backend,
    readonly options: DataServiceOptions,
  ) {}

  static async open(backend: Backend, options: DataServiceOptions = TEST_OPTIONS): Promise<Env> {
    const env = new Env(backend, options);
    await env.#startService();
    return env;
  }

  async #startService(): Promise<void> {
    this.rc = await FakeRootCoord.open(this.backend.kv, this.collections);
    this.ds = createDataService(
      {
        kv: this.backend.kv,
        mq: this.backend.mq,
        rootcoord: this.rc,
        dataNodes: (id) => this.nodes.get(id),
        logger: silentLogger(),
      },
      this.options,
    );
    await this.ds.start();
  }

  /** Closes the service and the backends, reopens both on the same state. */
  async restart(): Promise<void> {
    await this.ds.close();
    await this.rc.close();
    await this.backend.reopen();
    await this.#startService();
  }

  /** Starts a new service on the (already reopened) backend without closing the old one. */
  async restartAfterCrash(): Promise<void> {
    await this.rc.close();
    await this.#startService();
  }

  async close(): Promise<void> {
    await this.ds.close();
    await this.rc.close();
  }

  async addNode(nodeId: number): Promise<RecordingDataNode> {
    const node = new RecordingDataNode(nodeId);
    this.nodes.set(nodeId, node);
    const init = await this.ds.registerNode({ nodeId, address: "" });
    assert.equal(init.nodeId, nodeId);
    return node;
  }

  /** A collection announced to the dataservice, its channels watched by some node. */
  async collection(name: string, shards = 2): Promise<CollectionInfo> {
    const info = await this.rc.addCollection(name, shards);
    await this.ds.watchChannels(info.collectionId, info.channels);
    return info;
  }

  async owner(channel: string): Promise<number | undefined> {
    for (const n of await this.ds.describeNodes()) if (n.channels.includes(channel)) return n.nodeId;
    return undefined;
  }

  /** Waits until `node` was asked to watch `channels`. */
  async watching(node: RecordingDataNode, channels: readonly string[]): Promise<void> {
    await waitFor(`node ${node.nodeId} to watch ${channels.join(",")}`, () =>
      channels.every((c) => node.watched.has(c)),
    );
  }

  /** Publishes a tick report as a data node would and waits until the dataservice processed it. */
  async report(
    nodeId: number,
    info: CollectionInfo,
    channel: string,
    timestamp: bigint,
    segments: readonly (readonly [bigint, number])[] = [],
  ): Promise<void> {
    const report: ChannelTickReport = {
      nodeId,
      channel,
      collectionId: info.collectionId,
      timestamp,
      seq: 1,
      segments: segments.map(([segmentId, numRows]) => ({ segmentId, numRows })),
    };
    const tt = await this.ds.getTimeTickChannel();
    const [pos] = await this.backend.mq.produce(tt, [encodeJsonBytes(report)]);
    await this.processed(pos!.seq);
  }

  /** Waits until the dataservice's durable checkpoint on the tick channel reached `seq`. */
  async processed(seq: number): Promise<void> {
    const tt = await this.ds.getTimeTickChannel();
    await waitFor(`tick report ${seq} to be processed`, async () => {
      return ((await this.backend.mq.loadCheckpoint("dataservice", tt)) ?? 0) >= seq;
    });
  }

  async state(segmentId: bigint): Promise<number> {
    return (await this.ds.getSegmentStates({ segmentId })).state;
  }
}

/** A sync of `seg` as a data node would commit it: one file per field (0, 1, 100, 101) and PK stats. */
export function syncRequest(
  seg: SegmentInfo,
  nodeId: number,
  o: { tag: string; rows: number; persistedSeq: number; checkpointSeq: number; flushed?: boolean },
): SaveBinlogPathsRequest {
  const base = `${seg.collectionId}/${seg.partitionId}/${seg.segmentId}`;
  return {
    nodeId,
    segmentId: seg.segmentId,
    collectionId: seg.collectionId,
    partitionId: seg.partitionId,
    channel: seg.channel,
    fieldBinlogs: [0, 1, 100, 101].map((fieldId) => ({
      fieldId,
      binlogs: [
        {
          path: `insert_log/${base}/${fieldId}/${o.tag}`,
          entries: o.rows,
          timestampFrom: 1n,
          timestampTo: 2n,
          size: 64,
        },
      ],
    })),
    statslogs: [
      {
        fieldId: 100,
        binlogs: [
          {
            path: `stats_log/${base}/100/${o.tag}`,
            entries: o.rows,
            timestampFrom: 1n,
            timestampTo: 2n,
            size: 8,
          },
        ],
      },
    ],
    deltalogs: [],
    persistedRows: o.rows,
    persistedSeq: o.persistedSeq,
    checkpoint: { channel: seg.channel, seq: o.checkpointSeq, timestamp: 3n },
    flushed: o.flushed ?? false,
  };
}

/** A delta-only sync of `seg` (deletes of its rows after its flush): one delta log, nothing else. */
export function deltaRequest(
  seg: SegmentInfo,
  nodeId: number,
  o: { tag: string; entries: number; persistedSeq: number; checkpointSeq: number },
): SaveBinlogPathsRequest {
  return {
    nodeId,
    segmentId: seg.segmentId,
    collectionId: seg.collectionId,
    partitionId: seg.partitionId,
    channel: seg.channel,
    fieldBinlogs: [],
    statslogs: [],
    deltalogs: [
      {
        path: `delta_log/${seg.collectionId}/${seg.partitionId}/${seg.segmentId}/${o.tag}`,
        entries: o.entries,
        timestampFrom: 5n,
        timestampTo: 6n,
        size: 16 * o.entries,
      },
    ],
    persistedRows: seg.persistedRows,
    persistedSeq: o.persistedSeq,
    checkpoint: { channel: seg.channel, seq: o.checkpointSeq, timestamp: 7n },
    flushed: false,
  };
}

/** Records every state seen per segment and asserts none ever moves backwards. */
export class StateTrace {
  readonly #seen = new Map<bigint, number[]>();
  static readonly ORDER = [2, 3, 5, 4, 6]; // GROWING, SEALED, FLUSHING, FLUSHED, DROPPED

  async observe(env: Env, ...segmentIds: bigint[]): Promise<void> {
    for (const id of segmentIds) {
      const s = await env.state(id);
      const list = this.#seen.get(id) ?? [];
      const last = list.at(-1);
      if (last !== undefined) {
        assert.ok(
          StateTrace.ORDER.indexOf(s) >= StateTrace.ORDER.indexOf(last),
          `segment ${id} moved back from state ${last} to ${s} (trace ${list.join(" → ")})`,
        );
      }
      if (last !== s) list.push(s);
      this.#seen.set(id, list);
    }
  }

  trace(id: bigint): number[] {
    return this.#seen.get(id) ?? [];
  }
}

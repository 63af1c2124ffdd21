/**
 * A standalone Strata instance (real kv, mq, rootcoord, dataservice, data node) that produces
 * real flushed segments, plus a query service under test wired to recording query nodes.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Strata } from "../../src/api/embedded.ts";
import { silentLogger } from "../../src/common/log.ts";
import { openEtcdKv } from "../../src/kv/index.ts";
import { openNatsMq } from "../../src/mq/index.ts";
import {
  createQueryService,
  type ManagedQueryService,
  type QueryServiceDeps,
  type QueryServiceEvent,
  type QueryServiceOptions,
} from "../../src/queryservice/index.ts";
import type { CollectionInfo } from "../../src/rootcoord/types.ts";
import { tempDir } from "../helpers/env.ts";
import { RecordingNode } from "./recording-node.ts";

export const DIM = 4;

export class World {
  db: Strata;
  readonly #cleanup: () => Promise<void>;
  readonly dir: string;
  readonly overrides: Record<string, unknown> | undefined;
  /** Nodes the resolver returns. */
  readonly nodes = new Map<number, RecordingNode>();
  readonly events: QueryServiceEvent[] = [];
  qs: ManagedQueryService | undefined;
  #nextPk = 0;

  private constructor(
    db: Strata,
    dir: string,
    cleanup: () => Promise<void>,
    overrides: Record<string, unknown> | undefined,
  ) {
    this.db = db;
    this.dir = dir;
    this.#cleanup = cleanup;
    this.overrides = overrides;
  }

  static async open(overrides?: Record<string, unknown>): Promise<World> {
    const t = await tempDir("strata-qs-");
    const db = await Strata.open({ dataDir: t.dir, ...(overrides === undefined ? {} : { overrides }) });
    return new World(db, t.dir, t.cleanup, overrides);
  }

  get ds() {
    return this.db.internals.dataservice;
  }

  /** A collection with `_default` plus the named partitions. */
  async createCollection(
    name: string,
    partitions: readonly string[] = [],
    shardsNum = 2,
  ): Promise<CollectionInfo> {
    await this.db.createCollection({
      schema: {
        name,
        fields: [
          { name: "id", dataType: "Int64", isPrimaryKey: true },
          { name: "vec", dataType: "FloatVector", dim: DIM },
        ],
      },
      shardsNum,
    });
    for (const p of partitions) await this.db.createPartition(name, p);
    return this.db.describeCollection(name);
  }

  /** Inserts `n` fresh rows into the partition (default `_default`). */
  async insert(collection: string, n: number, partition?: string): Promise<void> {
    const id = new BigInt64Array(n);
    for (let i = 0; i < n; i++) id[i] = BigInt(this.#nextPk++);
    const vec = new Float32Array(n * DIM).map((_, i) => (i % 7) - 3);
    await this.db.insert(collection, { columns: { id, vec } }, partition === undefined ? {} : { partition });
  }

  /** Flushes; returns the segments the flush sealed (FLUSHED when it returns). */
  async flush(collection: string): Promise<bigint[]> {
    const r = await this.db.flush(collection, { timeoutMs: 30_000 });
    return r.segmentIds;
  }

  /** FLUSHED segment IDs of a partition, sorted. */
  async flushedOf(info: CollectionInfo, partitionId: bigint): Promise<bigint[]> {
    const { segmentIds } = await this.ds.showSegments({ collectionId: info.collectionId, partitionId });
    const out: bigint[] = [];
    for (const id of segmentIds) {
      if ((await this.ds.getSegmentStates({ segmentId: id })).state === 4) out.push(id);
    }
    return out.sort((a, b) => (a < b ? -1 : 1));
  }

  addNode(nodeId: number, baseMem = 0): RecordingNode {
    const n = new RecordingNode(nodeId, this.ds, baseMem);
    this.nodes.set(nodeId, n);
    return n;
  }

  /** Starts a query service on the instance's kv/mq/dataservice/rootcoord, resolving `nodes`. */
  async startQs(
    options: QueryServiceOptions = {},
    dataservice: QueryServiceDeps["dataservice"] = this.ds,
  ): Promise<ManagedQueryService> {
    const i = this.db.internals;
    const qs = createQueryService(
      {
        kv: i.backends.kv,
        mq: i.backends.mq,
        dataservice,
        rootcoord: i.rootcoord,
        queryNodes: (id) => this.nodes.get(id),
        logger: silentLogger(),
        onStateChange: (e) => this.events.push(e),
      },
      { handoffIntervalMs: 50, probeIntervalMs: 100, ...options },
    );
    await qs.start();
    this.qs = qs;
    return qs;
  }

  async register(...ids: number[]): Promise<void> {
    const qs = this.qs;
    assert.ok(qs !== undefined);
    for (const id of ids) await qs.registerNode({ nodeId: id, address: "" });
  }

  /** Partition state transitions of one partition, as [from, to] pairs, in order. */
  partitionTransitions(collectionId: bigint, partitionId: bigint): [number, number][] {
    return this.events.flatMap((e) =>
      e.kind === "partition" && e.collectionId === collectionId && e.partitionId === partitionId
        ? [[e.from, e.to] as [number, number]]
        : [],
    );
  }

  nodeTransitions(nodeId: number): [number | null, number | null][] {
    return this.events.flatMap((e) =>
      e.kind === "node" && e.nodeId === nodeId ? [[e.from, e.to] as [number | null, number | null]] : [],
    );
  }

  /** Closes the query service and the whole instance, then opens the instance again on the same data. */
  async reopen(): Promise<void> {
    await this.qs?.close();
    this.qs = undefined;
    await this.db.close();
    this.db = await Strata.open({
      dataDir: this.dir,
      ...(this.overrides === undefined ? {} : { overrides: this.overrides }),
    });
  }

  async close(): Promise<void> {
    try {
      await this.qs?.close();
      await this.db.close();
      if (this.overrides !== undefined) await cleanupDistributed(this.overrides);
    } finally {
      await this.#cleanup();
    }
  }
}

/** Removes this test's keys from etcd and its streams from NATS (the S3 bucket stays, as elsewhere). */
async function cleanupDistributed(o: Record<string, unknown>): Promise<void> {
  const kvConf = o.kv as { rootPath: string; etcd: { endpoints: string[] } };
  const mqConf = o.mq as { nats: { servers: string[]; prefix: string } };
  const kv = await openEtcdKv({ endpoints: kvConf.etcd.endpoints, prefix: `${kvConf.rootPath}/` });
  try {
    await kv.deletePrefix("");
  } finally {
    await kv.close();
  }
  const mq = await openNatsMq({ servers: mqConf.nats.servers, prefix: mqConf.nats.prefix });
  try {
    for (const c of await mq.listChannels()) await mq.dropChannel(c);
  } finally {
    await mq.close();
  }
}

/** Polls `cond` until true; fails with `what` after `timeoutMs`. */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code, `expected ${code}, got ${String(e)}`);
    return true;
  });
}

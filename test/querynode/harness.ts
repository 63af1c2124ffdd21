/**
 * A standalone Strata (real embedded log, meta store and object store; real proxy, rootcoord,
 * dataservice and data node) for the data, and a query node built against the same backends.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Strata } from "../../src/api/embedded.ts";
import { silentLogger } from "../../src/common/log.ts";
import type { CollectionSchemaInput } from "../../src/common/schema.ts";
import type { Timestamp } from "../../src/common/timestamp.ts";
import { SegmentState } from "../../src/dataservice/types.ts";
import { createQueryNode, type QueryNodeDeps, type QueryNodeOptions } from "../../src/querynode/index.ts";
import type { MetricType, NodeScope, NodeSearchRequest, QueryNode } from "../../src/querynode/types.ts";
import type { CollectionInfo } from "../../src/rootcoord/types.ts";
import { tempDir } from "../helpers/env.ts";

export interface World {
  readonly db: Strata;
  /** The collection as created; `refreshInfo` re-reads it (new partitions). */
  info: CollectionInfo;
  readonly cleanup: () => Promise<void>;
}

export async function refreshInfo(w: World): Promise<void> {
  w.info = await w.db.describeCollection(w.info.schema.name);
}

export async function openWorld(
  schema: CollectionSchemaInput,
  overrides: Record<string, unknown> = {},
): Promise<World> {
  const t = await tempDir("strata-qn-");
  const db = await Strata.open({
    dataDir: t.dir,
    overrides: {
      rootcoord: { timeTickIntervalMs: 50 },
      dataservice: { assignmentExpirationMs: 100 },
      ...overrides,
    },
  });
  const info = await db.createCollection({ schema, shardsNum: 2 });
  return {
    db,
    info,
    cleanup: async () => {
      await db.close();
      await t.cleanup();
    },
  };
}

/** A standalone Strata in a temp dir with fast time ticks; `cleanup` closes it and removes the dir. */
export async function openTempStrata(prefix: string): Promise<{ db: Strata; cleanup: () => Promise<void> }> {
  const t = await tempDir(prefix);
  const db = await Strata.open({
    dataDir: t.dir,
    logLevel: "error",
    overrides: { rootcoord: { timeTickIntervalMs: 50 } },
  });
  return {
    db,
    cleanup: async () => {
      await db.close();
      await t.cleanup();
    },
  };
}

export function newNode(
  w: World,
  nodeId = 7,
  options: QueryNodeOptions = {},
  dataservice: QueryNodeDeps["dataservice"] = w.db.internals.dataservice,
): QueryNode {
  const s = w.db.internals;
  return createQueryNode(
    {
      nodeId,
      mq: s.backends.mq,
      objects: s.backends.objects,
      dataservice,
      rootcoord: s.rootcoord,
      logger: silentLogger(),
    },
    options,
  );
}

/** FLUSHED segments of the collection, per partition. */
export async function flushedSegments(w: World): Promise<{ partitionId: bigint; segmentIds: bigint[] }[]> {
  const ds = w.db.internals.dataservice;
  const out: { partitionId: bigint; segmentIds: bigint[] }[] = [];
  for (const p of w.info.partitions) {
    const { segmentIds } = await ds.showSegments({
      collectionId: w.info.collectionId,
      partitionId: p.partitionId,
    });
    const flushed: bigint[] = [];
    for (const id of segmentIds) {
      const s = await ds.getSegmentInfo(id);
      if (s.state === SegmentState.FLUSHED && s.persistedRows > 0) flushed.push(id);
    }
    out.push({ partitionId: p.partitionId, segmentIds: flushed });
  }
  return out;
}

/** Loads every flushed segment of the collection not loaded yet; returns the IDs loaded now. */
export async function loadFlushed(w: World, node: QueryNode): Promise<bigint[]> {
  const have = new Set(node.segments().sealed);
  const loaded: bigint[] = [];
  for (const p of await flushedSegments(w)) {
    const ids = p.segmentIds.filter((id) => !have.has(id));
    if (ids.length === 0) continue;
    await node.loadSegments({
      dbId: w.info.dbId,
      collectionId: w.info.collectionId,
      partitionId: p.partitionId,
      segmentIds: ids,
      fieldIds: [],
    });
    loaded.push(...ids);
  }
  return loaded;
}

/** A Strong-consistency scope over everything the node holds: read at a fresh TSO timestamp. */
export async function strongScope(
  w: World,
  node: QueryNode,
  extra: Partial<NodeScope> = {},
): Promise<NodeScope> {
  const ts: Timestamp = await w.db.internals.rootcoord.allocTimestamp();
  return {
    collectionId: w.info.collectionId,
    partitionIds: w.info.partitions.map((p) => p.partitionId),
    sealedSegmentIds: node.segments().sealed,
    channels: w.info.channels,
    excludeGrowing: [],
    readTs: ts,
    guaranteeTs: ts,
    timeoutMs: 10_000,
    ...extra,
  };
}

export function searchReq(
  scope: NodeScope,
  fieldId: number,
  metric: MetricType,
  queries: NodeSearchRequest["queries"],
  nq: number,
  topk: number,
  outputFieldIds: readonly number[] = [],
): NodeSearchRequest {
  return { ...scope, vectorFieldId: fieldId, metric, queries, nq, topk, outputFieldIds };
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

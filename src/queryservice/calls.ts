/**
 * The node calls the query service makes, as plain work items: collected under the service lock
 * (marking each placement in flight), issued outside it, and answered back under the lock.
 */
import type { QueryNode } from "../querynode/types.ts";
import type { LoadedCollection, Progress } from "./collections.ts";
import type { NodeRegistry } from "./nodes.ts";
import type { QueryChannelRecord } from "./records.ts";
import type { QueryChannels } from "./types.ts";

/** Follow some DML channels of one collection. */
export interface WatchWork {
  readonly kind: "watch";
  readonly nodeId: number;
  readonly collectionId: bigint;
  readonly items: readonly { readonly channel: string; readonly token: number }[];
}

/** Load some sealed segments of one partition. */
export interface LoadWork {
  readonly kind: "load";
  readonly nodeId: number;
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly items: readonly { readonly segmentId: bigint; readonly token: number }[];
}

/** Serve some query channel pairs. */
export interface QueryChannelWork {
  readonly kind: "queryChannels";
  readonly nodeId: number;
  readonly pairs: readonly { readonly n: number; readonly channels: QueryChannels }[];
}

export type Work = WatchWork | LoadWork | QueryChannelWork;

/** A best-effort call that frees something on a node (release); its failure changes no placement. */
export interface ReleaseCall {
  readonly nodeId: number;
  readonly what: string;
  /** What it frees (`itemKey`): nothing of it is sent to the node again until the release answered. */
  readonly keys: readonly string[];
  readonly run: (node: QueryNode) => Promise<void>;
}

/**
 * Names a segment or channel on a node. A load must not overtake a release of the same thing on
 * the same node (the node would end up without it), so loads wait for such releases.
 */
export function itemKey(nodeId: number, item: bigint | string): string {
  return typeof item === "bigint" ? `${nodeId}/s/${item}` : `${nodeId}/c/${item}`;
}

export function releaseSegmentsCall(
  nodeId: number,
  dbId: bigint,
  collectionId: bigint,
  partitionId: bigint,
  segmentIds: readonly bigint[],
): ReleaseCall {
  return {
    nodeId,
    what: "releaseSegments",
    keys: segmentIds.map((id) => itemKey(nodeId, id)),
    run: (n) => n.releaseSegments({ dbId, collectionId, partitionId, segmentIds }),
  };
}

export function releaseChannelsCall(nodeId: number, channels: readonly string[]): ReleaseCall {
  return {
    nodeId,
    what: "releaseDmChannels",
    keys: channels.map((c) => itemKey(nodeId, c)),
    run: (n) => n.releaseDmChannels(channels),
  };
}

/** Groups `(key, value)` pairs into lists per key, keeping first-seen order. */
export function groupBy<K, V>(pairs: Iterable<readonly [K, V]>): Map<K, V[]> {
  const out = new Map<K, V[]>();
  for (const [k, v] of pairs) {
    const list = out.get(k);
    if (list === undefined) out.set(k, [v]);
    else list.push(v);
  }
  return out;
}

/** Backoff before retrying a call that failed `failures` times: doubling from `baseMs`, capped. */
export function retryDelay(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 16));
}

/** Which placements a dispatch wants called (beyond: on a registered node, not in flight). */
export type Want = (p: Progress, now: number) => boolean;

/** The usual: not on its node yet, and not backing off. */
export const due: Want = (p, now) => !p.ready && p.retryAt <= now;

/**
 * Collects the calls that placements need (those `want` selects, on registered nodes, not in
 * flight, not waiting for a release of the same thing on the same node; only `onlyNode` when
 * given) and the pending query channel deliveries, and marks them in flight. Caller holds the
 * service lock.
 */
export function collectWork(
  collections: Iterable<LoadedCollection>,
  nodes: NodeRegistry,
  queryChannels: readonly QueryChannelRecord[],
  want: Want,
  releasing: (key: string) => boolean,
  onlyNode?: number,
): Work[] {
  const now = Date.now();
  const work: Work[] = [];
  const eligible = (p: Progress, item: bigint | string): p is Progress & { nodeId: number } =>
    p.nodeId !== null &&
    (onlyNode === undefined || p.nodeId === onlyNode) &&
    nodes.has(p.nodeId) &&
    !p.inflight &&
    want(p, now) &&
    !releasing(itemKey(p.nodeId, item));
  for (const coll of collections) {
    const watches: [number, { channel: string; token: number }][] = [];
    for (const c of coll.channels.values()) {
      if (!eligible(c, c.channel)) continue;
      c.inflight = true;
      watches.push([c.nodeId, { channel: c.channel, token: c.token }]);
    }
    for (const [nodeId, items] of groupBy(watches)) {
      work.push({ kind: "watch", nodeId, collectionId: coll.collectionId, items });
    }
    const loads: [string, { segmentId: bigint; token: number }][] = [];
    for (const s of coll.segments.values()) {
      if (!eligible(s, s.segmentId)) continue;
      s.inflight = true;
      loads.push([`${s.nodeId}/${s.partitionId}`, { segmentId: s.segmentId, token: s.token }]);
    }
    for (const [key, items] of groupBy(loads)) {
      const [node, pid] = key.split("/") as [string, string];
      work.push({
        kind: "load",
        nodeId: Number(node),
        dbId: coll.dbId,
        collectionId: coll.collectionId,
        partitionId: BigInt(pid),
        items: items.sort((a, b) => (a.segmentId < b.segmentId ? -1 : a.segmentId > b.segmentId ? 1 : 0)),
      });
    }
  }
  for (const n of nodes.values()) {
    if (onlyNode !== undefined && n.info.nodeId !== onlyNode) continue;
    if (n.pendingQueryChannels.size === 0 || n.queryChannelsInflight || n.queryChannelRetryAt > now) continue;
    const pairs = queryChannels.filter((q) => n.pendingQueryChannels.has(q.n));
    if (pairs.length === 0) continue;
    n.queryChannelsInflight = true;
    work.push({ kind: "queryChannels", nodeId: n.info.nodeId, pairs });
  }
  return work;
}

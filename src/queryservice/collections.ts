/**
 * The in-memory load state of one collection: loaded partitions with their states, and the
 * placement of its channels and sealed segments with the progress of each node call. The service
 * changes it only under its lock, on a clone that replaces the original once the meta store has
 * the new placement.
 */
import { groupBy, type ReleaseCall, releaseChannelsCall, releaseSegmentsCall } from "./calls.ts";
import type { ChannelPlacementRecord, CollectionRecord, SegmentPlacementRecord } from "./records.ts";
import { PartitionState } from "./types.ts";

/** Progress of the node call that puts one channel or segment on its node. */
export interface Progress {
  nodeId: number | null;
  /** The node has it (its call resolved). */
  ready: boolean;
  /** A call is under way; its answer counts only if `token` still matches. */
  inflight: boolean;
  /** Changes whenever the placement is (re)assigned, so a late answer for an old one is recognised. */
  token: number;
  failures: number;
  /** Do not call again before this wall-clock ms (backoff after failures). */
  retryAt: number;
}

export interface SegmentPlacement extends Progress {
  readonly segmentId: bigint;
  readonly partitionId: bigint;
  readonly sizeBytes: number;
  readonly numRows: number;
}

export interface ChannelPlacement extends Progress {
  readonly channel: string;
}

export interface PartitionEntry {
  readonly partitionId: bigint;
  state: PartitionState;
  /**
   * Its segments were listed after every channel was being followed: a segment that became
   * FLUSHED before a node started following its channel is skipped by the node's replay, so only
   * such a listing proves no sealed segment is missing.
   */
  caughtUp: boolean;
  /** Reached IN_MEMORY in this service's lifetime: falling back means recovery, not loading. */
  everInMemory: boolean;
}

export const fresh = (nodeId: number | null, token: number): Progress => ({
  nodeId,
  ready: false,
  inflight: false,
  token,
  failures: 0,
  retryAt: 0,
});

const byBigint = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

export class LoadedCollection {
  readonly collectionId: bigint;
  readonly dbId: bigint;
  readonly partitions = new Map<bigint, PartitionEntry>();
  readonly channels = new Map<string, ChannelPlacement>();
  readonly segments = new Map<bigint, SegmentPlacement>();

  constructor(collectionId: bigint, dbId: bigint) {
    this.collectionId = collectionId;
    this.dbId = dbId;
  }

  /** A copy whose entries can be changed without touching this one. */
  clone(): LoadedCollection {
    const c = new LoadedCollection(this.collectionId, this.dbId);
    for (const [k, v] of this.partitions) c.partitions.set(k, { ...v });
    for (const [k, v] of this.channels) c.channels.set(k, { ...v });
    for (const [k, v] of this.segments) c.segments.set(k, { ...v });
    return c;
  }

  toRecord(): CollectionRecord {
    const channels: ChannelPlacementRecord[] = [...this.channels.values()]
      .map((c) => ({ channel: c.channel, nodeId: c.nodeId }))
      .sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
    const segments: SegmentPlacementRecord[] = [...this.segments.values()]
      .map((s) => ({
        segmentId: s.segmentId,
        partitionId: s.partitionId,
        nodeId: s.nodeId,
        sizeBytes: s.sizeBytes,
        numRows: s.numRows,
      }))
      .sort((a, b) => byBigint(a.segmentId, b.segmentId));
    return {
      collectionId: this.collectionId,
      dbId: this.dbId,
      partitionIds: [...this.partitions.keys()].sort(byBigint),
      channels,
      segments,
    };
  }

  /** After a restart: every placement must be sent again; partitions start from NOT_PRESENT. */
  static fromRecord(r: CollectionRecord, nextToken: () => number): LoadedCollection {
    const c = new LoadedCollection(r.collectionId, r.dbId);
    for (const p of r.partitionIds) {
      c.partitions.set(p, {
        partitionId: p,
        state: PartitionState.NOT_PRESENT,
        caughtUp: false,
        everInMemory: false,
      });
    }
    for (const ch of r.channels)
      c.channels.set(ch.channel, { channel: ch.channel, ...fresh(ch.nodeId, nextToken()) });
    for (const s of r.segments) {
      c.segments.set(s.segmentId, {
        segmentId: s.segmentId,
        partitionId: s.partitionId,
        sizeBytes: s.sizeBytes,
        numRows: s.numRows,
        ...fresh(s.nodeId, nextToken()),
      });
    }
    return c;
  }

  /**
   * A copy without the partitions and their segments, and without channels when no partition
   * stays (`whole`), with the node calls that free what was removed.
   */
  withoutPartitions(ids: readonly bigint[]): {
    draft: LoadedCollection;
    calls: ReleaseCall[];
    whole: boolean;
  } {
    const draft = this.clone();
    const drop = new Set(ids);
    for (const id of ids) draft.partitions.delete(id);
    const segs: [string, bigint][] = [];
    for (const s of [...draft.segments.values()]) {
      if (!drop.has(s.partitionId)) continue;
      draft.segments.delete(s.segmentId);
      if (s.nodeId !== null) segs.push([`${s.nodeId}/${s.partitionId}`, s.segmentId]);
    }
    const calls: ReleaseCall[] = [];
    for (const [key, list] of groupBy(segs)) {
      const [node, pid] = key.split("/") as [string, string];
      calls.push(releaseSegmentsCall(Number(node), this.dbId, this.collectionId, BigInt(pid), list));
    }
    const whole = draft.partitions.size === 0;
    if (whole) {
      const held = [...draft.channels.values()].flatMap((c) =>
        c.nodeId === null ? [] : [[c.nodeId, c.channel] as const],
      );
      for (const [node, list] of groupBy(held)) calls.push(releaseChannelsCall(node, list));
      draft.channels.clear();
    }
    return { draft, calls, whole };
  }

  allChannelsReady(): boolean {
    for (const c of this.channels.values()) if (!c.ready) return false;
    return true;
  }

  /**
   * The state the partition's placement supports: IN_MEMORY when every channel and every one of
   * its sealed segments is on its node and a listing proved nothing is missing; PARTIAL_IN_MEMORY
   * once anything it needs is; else ON_DISK.
   */
  target(partitionId: bigint): PartitionState {
    const p = this.partitions.get(partitionId);
    if (p === undefined) return PartitionState.NOT_PRESENT;
    let any = false;
    let all = p.caughtUp;
    for (const c of this.channels.values()) {
      if (c.ready) any = true;
      else all = false;
    }
    for (const s of this.segments.values()) {
      if (s.partitionId !== partitionId) continue;
      if (s.ready) any = true;
      else all = false;
    }
    if (all) return PartitionState.IN_MEMORY;
    return any ? PartitionState.PARTIAL_IN_MEMORY : PartitionState.ON_DISK;
  }
}

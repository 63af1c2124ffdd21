import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { DataService } from "../dataservice/types.ts";
import type { MessageQueue } from "../mq/types.ts";
import type { RootCoord } from "../rootcoord/types.ts";
import { type CollectionState, collectionState } from "./collection.ts";
import type { ChannelHost, DmChannel } from "./dm-channel.ts";
import type { SealedSegment, Segment, SegmentSnapshot } from "./segment.ts";
import { TSafe } from "./tsafe.ts";
import type { NodeScope } from "./types.ts";

export interface ReplicaDeps {
  readonly nodeId: number;
  readonly mq: MessageQueue;
  readonly dataservice: Pick<DataService, "getVChannelInfo">;
  readonly rootcoord: Pick<RootCoord, "describeCollection">;
  readonly logger: Logger;
  readonly queueCapacity: number;
  readonly pruneIntervalMs: number;
  /** Runs a call with the node's retry policy. */
  readonly retry: <T>(fn: () => Promise<T>, what: string) => Promise<T>;
}

/**
 * The collection replica of the seeds: the collections this node serves, its sealed segments,
 * its watched channels (each with its growing segments and delete buffer) and tSafe per channel.
 * Everything a request reads is resolved here.
 */
export class Replica implements ChannelHost {
  readonly tsafe = new TSafe();
  readonly collections = new Map<bigint, CollectionState>();
  readonly sealed = new Map<bigint, SealedSegment>();
  readonly channels = new Map<string, DmChannel>();
  readonly mq: MessageQueue;
  readonly dataservice: Pick<DataService, "getVChannelInfo">;
  readonly logger: Logger;
  readonly queueCapacity: number;
  readonly pruneIntervalMs: number;
  /**
   * Bumped whenever a channel starts buffering deletes or drops buffered ones. A load whose delta
   * logs were listed under an older epoch re-lists them before it becomes visible, so no delete
   * falls between its delta logs and the channel's buffer.
   */
  epoch = 0;
  private readonly deps: ReplicaDeps;
  private readonly describing = new Map<bigint, Promise<CollectionState>>();

  constructor(deps: ReplicaDeps) {
    this.deps = deps;
    this.mq = deps.mq;
    this.dataservice = deps.dataservice;
    this.logger = deps.logger;
    this.queueCapacity = deps.queueCapacity;
    this.pruneIntervalMs = deps.pruneIntervalMs;
  }

  *sealedOf(channel: string): Iterable<SealedSegment> {
    for (const s of this.sealed.values()) if (s.meta.channel === channel) yield s;
  }

  hasSealed(segmentId: bigint): boolean {
    return this.sealed.has(segmentId);
  }

  bumpEpoch(): void {
    this.epoch++;
  }

  /** The collection's schema and partitions, described by rootcoord once (concurrent callers share it). */
  collection(collectionId: bigint): Promise<CollectionState> {
    const known = this.collections.get(collectionId);
    if (known !== undefined) return Promise.resolve(known);
    let p = this.describing.get(collectionId);
    if (p === undefined) {
      p = this.deps
        .retry(() => this.deps.rootcoord.describeCollection(collectionId), "describeCollection")
        .then((info) => {
          const c = collectionState(info);
          this.collections.set(collectionId, c);
          return c;
        })
        .finally(() => this.describing.delete(collectionId));
      this.describing.set(collectionId, p);
    }
    return p;
  }

  /** Whether the partition exists, describing the collection again when it is not known yet. */
  async partitionExists(coll: CollectionState, partitionId: bigint): Promise<boolean> {
    if (coll.partitions.has(partitionId)) return true;
    const fresh = collectionState(await this.deps.rootcoord.describeCollection(coll.collectionId));
    this.collections.set(coll.collectionId, fresh);
    return fresh.partitions.has(partitionId);
  }

  /**
   * Makes a loaded sealed segment visible: the channel's buffered deletes are applied, then (in
   * the same synchronous step) it joins the sealed segments and replaces its growing copy, which
   * the channel stops filling.
   */
  addSealed(seg: SealedSegment): void {
    const ch = this.channels.get(seg.meta.channel);
    if (ch !== undefined) {
      for (const d of ch.buffer.entries()) {
        if (d.partitionId === -1n || d.partitionId === seg.meta.partitionId) seg.applyDeletes(d.pks, d.ts);
      }
    }
    this.sealed.set(seg.meta.segmentId, seg);
    if (ch?.growing.delete(seg.meta.segmentId)) {
      ch.handedOff.add(seg.meta.segmentId);
      ch.skip.add(seg.meta.segmentId);
    }
  }

  /** Drops the sealed copy and any growing copy of a segment (later inserts into it are ignored). */
  release(segmentId: bigint): void {
    this.sealed.get(segmentId)?.dispose();
    this.sealed.delete(segmentId);
    for (const ch of this.channels.values()) {
      ch.handedOff.delete(segmentId);
      if (ch.growing.delete(segmentId)) ch.skip.add(segmentId);
    }
  }

  /** Bytes held: sealed and growing segments, deletes and the channels' delete buffers. */
  memory(): number {
    let mem = 0;
    for (const s of this.sealed.values()) mem += s.bytes;
    for (const ch of this.channels.values()) mem += ch.bytes;
    return mem;
  }

  /** Bytes of one partition's segments, and whether any sealed segment of it is held. */
  partitionMemory(collectionId: bigint, partitionId: bigint): { bytes: number; sealed: boolean } {
    let bytes = 0;
    let sealed = false;
    for (const s of this.sealed.values()) {
      if (s.meta.collectionId === collectionId && s.meta.partitionId === partitionId) {
        bytes += s.bytes;
        sealed = true;
      }
    }
    for (const ch of this.channels.values()) {
      if (ch.collection.collectionId !== collectionId) continue;
      for (const g of ch.growing.values()) if (g.meta.partitionId === partitionId) bytes += g.bytes;
    }
    return { bytes, sealed };
  }

  segments(): {
    sealed: bigint[];
    growing: bigint[];
    rows: Map<bigint, number>;
    indexes: Map<bigint, { fieldId: number; buildId: bigint; indexType: string }[]>;
  } {
    const growing: bigint[] = [];
    const rows = new Map<bigint, number>();
    const indexes = new Map<bigint, { fieldId: number; buildId: bigint; indexType: string }[]>();
    for (const s of this.sealed.values()) {
      rows.set(s.meta.segmentId, s.rows);
      if (s.indexes.size > 0) {
        indexes.set(
          s.meta.segmentId,
          [...s.indexes].map(([fieldId, x]) => ({
            fieldId,
            buildId: x.file.buildId,
            indexType: x.file.indexType,
          })),
        );
      }
    }
    for (const ch of this.channels.values()) {
      for (const g of ch.growing.values()) {
        growing.push(g.meta.segmentId);
        rows.set(g.meta.segmentId, g.rows);
      }
    }
    return { sealed: [...this.sealed.keys()], growing, rows, indexes };
  }

  /**
   * One snapshot per segment the scope reads, each segment ID once: the listed sealed segments,
   * then the channels' growing segments not excluded. A growing copy dropped at handoff is served
   * by its sealed copy here until the scope excludes it, so a scope built before the handoff
   * still reads every row once.
   * @throws StrataError SegmentNotFound, ChannelNotFound, ParameterInvalid (wrong collection).
   */
  snapshots(coll: CollectionState, scope: NodeScope): SegmentSnapshot[] {
    const node = this.deps.nodeId;
    const partitions = new Set(scope.partitionIds);
    const excluded = new Set(scope.excludeGrowing);
    const seen = new Set<bigint>();
    const out: SegmentSnapshot[] = [];
    const add = (s: Segment): void => {
      if (seen.has(s.meta.segmentId) || !partitions.has(s.meta.partitionId)) return;
      seen.add(s.meta.segmentId);
      out.push(s.snapshot());
    };
    for (const id of scope.sealedSegmentIds) {
      const s = this.sealed.get(id);
      if (s === undefined)
        throw new StrataError("SegmentNotFound", `segment ${id} is not loaded on query node ${node}`);
      if (s.meta.collectionId !== coll.collectionId) {
        throw new StrataError(
          "ParameterInvalid",
          `segment ${id} belongs to collection ${s.meta.collectionId}, not ${coll.collectionId}`,
        );
      }
      add(s);
    }
    for (const name of scope.channels) {
      const ch = this.channels.get(name);
      if (ch === undefined)
        throw new StrataError("ChannelNotFound", `channel ${name} is not watched by query node ${node}`);
      if (ch.failure !== undefined) throw ch.failure;
      if (ch.collection.collectionId !== coll.collectionId) {
        throw new StrataError(
          "ParameterInvalid",
          `channel ${name} belongs to collection ${ch.collection.collectionId}, not ${coll.collectionId}`,
        );
      }
      for (const g of ch.growing.values()) if (!excluded.has(g.meta.segmentId)) add(g);
      for (const id of ch.handedOff) {
        const s = this.sealed.get(id);
        if (s !== undefined && !excluded.has(id)) add(s);
      }
    }
    return out;
  }
}

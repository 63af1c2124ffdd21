/**
 * What the dataservice persists in the meta store (docs/write-path.md, "Meta-store layout"), and
 * the segment state machine.
 */
import { StrataError } from "../common/errors.ts";
import { decodeJsonBytes, encodeJsonBytes } from "../common/json.ts";
import type { Timestamp } from "../common/timestamp.ts";
import type { Binlog, FieldBinlogs, NodeInfo, SegmentInfo } from "./types.ts";
import { type ChannelCheckpoint, SegmentState } from "./types.ts";

export const SEGMENT_PREFIX = "dataservice/segment/";
export const CHANNEL_PREFIX = "dataservice/channel/";
export const SESSION_PREFIX = "session/datanode/";

export const segmentKey = (collectionId: bigint, segmentId: bigint): string =>
  `${SEGMENT_PREFIX}${collectionId}/${segmentId}`;
export const channelKey = (channel: string): string => `${CHANNEL_PREFIX}${channel}`;
export const sessionKey = (nodeId: number): string => `${SESSION_PREFIX}${nodeId}`;

/** Rows handed out to a proxy that may still arrive in the channel (until `expireTime`). */
export interface Allocation {
  readonly count: number;
  readonly expireTime: Timestamp;
}

/**
 * The persisted segment: the public `SegmentInfo` plus the allocation bookkeeping. Allocations are
 * persisted with every assignment (before it is returned), so a restarted dataservice never
 * over-fills a segment nor forgets an expiry; `lastExpireTime` is the max over all of them.
 */
export interface SegmentRecord extends SegmentInfo {
  /** Allocations not yet known to be past the channel tick (conservative: may hold expired ones). */
  readonly allocations: readonly Allocation[];
  /** TSO time of the latest assignment (idle-seal policy). */
  readonly lastAllocTime: Timestamp;
}

/** Channel → owner and checkpoint. `nodeId` null: no live data node holds it. */
export interface ChannelRecord {
  readonly channel: string;
  readonly collectionId: bigint;
  readonly nodeId: number | null;
  readonly checkpoint: ChannelCheckpoint;
  /**
   * Seq of the tick channel's last record when the channel was last (re)given to `nodeId`. Tick
   * reports at or below it predate that watch and are ignored: a node that restarted replays from
   * the checkpoint, and its earlier reports must not make a segment flushable before its replay
   * has caught up.
   */
  readonly watchedAfterTtSeq: number;
}

export function encodeRecord(r: SegmentRecord | ChannelRecord | NodeInfo): Uint8Array {
  return encodeJsonBytes(r);
}

function bad(what: string, key: string): never {
  throw new StrataError("Corrupted", `meta record ${key} is not a valid ${what}`);
}

export function decodeSegment(key: string, bytes: Uint8Array): SegmentRecord {
  const r = decodeJsonBytes<SegmentRecord>(bytes, `segment record ${key}`);
  if (
    typeof r !== "object" ||
    r === null ||
    typeof r.segmentId !== "bigint" ||
    typeof r.collectionId !== "bigint" ||
    typeof r.partitionId !== "bigint" ||
    typeof r.channel !== "string" ||
    typeof r.state !== "number" ||
    typeof r.lastExpireTime !== "bigint" ||
    !Array.isArray(r.allocations) ||
    !Array.isArray(r.binlogs)
  ) {
    bad("segment", key);
  }
  return r;
}

export function decodeChannel(key: string, bytes: Uint8Array): ChannelRecord {
  const r = decodeJsonBytes<ChannelRecord>(bytes, `channel record ${key}`);
  if (
    typeof r !== "object" ||
    r === null ||
    typeof r.channel !== "string" ||
    typeof r.collectionId !== "bigint" ||
    (r.nodeId !== null && typeof r.nodeId !== "number") ||
    typeof r.checkpoint?.seq !== "number" ||
    typeof r.watchedAfterTtSeq !== "number"
  ) {
    bad("channel", key);
  }
  return r;
}

/** The public view: a `SegmentInfo` without the internal bookkeeping fields. */
export function toSegmentInfo(r: SegmentRecord): SegmentInfo {
  return {
    segmentId: r.segmentId,
    collectionId: r.collectionId,
    partitionId: r.partitionId,
    channel: r.channel,
    state: r.state,
    createTime: r.createTime,
    sealedTime: r.sealedTime,
    numRows: r.numRows,
    persistedRows: r.persistedRows,
    maxRows: r.maxRows,
    lastExpireTime: r.lastExpireTime,
    persistedSeq: r.persistedSeq,
    binlogs: r.binlogs,
    statslogs: r.statslogs,
    deltalogs: r.deltalogs,
  };
}

const NEXT: Readonly<Record<number, readonly SegmentState[]>> = {
  [SegmentState.GROWING]: [SegmentState.SEALED, SegmentState.DROPPED],
  [SegmentState.SEALED]: [SegmentState.FLUSHING, SegmentState.DROPPED],
  [SegmentState.FLUSHING]: [SegmentState.FLUSHED, SegmentState.DROPPED],
  [SegmentState.FLUSHED]: [SegmentState.DROPPED],
};

/** Returns the record in state `to`; refuses any move the state machine does not allow. */
export function transition(
  r: SegmentRecord,
  to: SegmentState,
  patch: Partial<SegmentRecord> = {},
): SegmentRecord {
  if (!(NEXT[r.state] ?? []).includes(to)) {
    throw new StrataError(
      "ServiceInternal",
      `segment ${r.segmentId}: illegal state change ${r.state} → ${to}`,
    );
  }
  return { ...r, ...patch, state: to };
}

/** Rows the segment may still be given: maxRows − reported rows − rows of live allocations. */
export function roomOf(r: SegmentRecord): number {
  let used = r.numRows;
  for (const a of r.allocations) used += a.count;
  return r.maxRows - used;
}

/** Math.max does not take bigints. */
function laterOf(a: Timestamp, b: Timestamp): Timestamp {
  if (a >= b) return a;
  return b;
}

/** Allocations kept per segment before the oldest two are merged (conservatively) into one. */
const MAX_ALLOCATIONS = 32;

export function addAllocation(r: SegmentRecord, a: Allocation, now: Timestamp): SegmentRecord {
  const allocations = [...r.allocations, a];
  while (allocations.length > MAX_ALLOCATIONS) {
    const [x, y] = allocations.splice(0, 2) as [Allocation, Allocation];
    allocations.unshift({
      count: x.count + y.count,
      expireTime: laterOf(x.expireTime, y.expireTime),
    });
  }
  return {
    ...r,
    allocations,
    lastAllocTime: now,
    lastExpireTime: laterOf(a.expireTime, r.lastExpireTime),
  };
}

/** Appends `added` (files not already present) to `existing`, field by field, fields in ID order. */
export function mergeFieldBinlogs(
  existing: readonly FieldBinlogs[],
  added: readonly FieldBinlogs[],
  have: ReadonlySet<string>,
): FieldBinlogs[] {
  const byField = new Map<number, Binlog[]>(existing.map((f) => [f.fieldId, [...f.binlogs]]));
  for (const f of added) {
    const fresh = f.binlogs.filter((b) => !have.has(b.path));
    if (fresh.length === 0) continue;
    const list = byField.get(f.fieldId) ?? [];
    list.push(...fresh);
    byField.set(f.fieldId, list);
  }
  return [...byField.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([fieldId, binlogs]) => ({ fieldId, binlogs }));
}

import type { Timestamp } from "../common/timestamp.ts";
import { addAllocation, roomOf, type SegmentRecord } from "./records.ts";
import { type SegIDAssignment, type SegIDRequest, SegmentState } from "./types.ts";

export interface AssignContext {
  /** The channel's segments as committed. */
  readonly segmentsOf: (channel: string) => Iterable<SegmentRecord>;
  readonly maxRowsOf: (collectionId: bigint) => number;
  readonly newSegmentId: () => Promise<bigint>;
  /** TSO now: creation and allocation time. */
  readonly now: Timestamp;
  readonly expireTime: Timestamp;
}

export interface AssignPlan {
  /** Segments to commit (new and changed), before the reply. */
  readonly touched: SegmentRecord[];
  readonly opened: SegmentRecord[];
  readonly out: SegIDAssignment[];
}

const byId = (a: SegmentRecord, b: SegmentRecord): number =>
  a.segmentId < b.segmentId ? -1 : a.segmentId > b.segmentId ? 1 : 0;

function newSegment(segmentId: bigint, r: SegIDRequest, maxRows: number, now: Timestamp): SegmentRecord {
  return {
    segmentId,
    collectionId: r.collectionId,
    partitionId: r.partitionId,
    channel: r.channelName,
    state: SegmentState.GROWING,
    createTime: now,
    sealedTime: 0n,
    numRows: 0,
    persistedRows: 0,
    maxRows,
    lastExpireTime: 0n,
    persistedSeq: 0,
    binlogs: [],
    statslogs: [],
    deltalogs: [],
    allocations: [],
    lastAllocTime: now,
  };
}

/**
 * Splits each request over the GROWING segments of its (collection, partition, channel) in ID
 * order, each taking what its room allows (maxRows − reported rows − live allocations), then over
 * new segments of maxRows each. Every assignment records an allocation valid until `expireTime`.
 */
export async function planAssignments(
  reqs: readonly SegIDRequest[],
  ctx: AssignContext,
): Promise<AssignPlan> {
  const touched = new Map<bigint, SegmentRecord>();
  const opened: SegmentRecord[] = [];
  const out: SegIDAssignment[] = [];
  for (const r of reqs) {
    const give = (seg: SegmentRecord, n: number): void => {
      touched.set(seg.segmentId, addAllocation(seg, { count: n, expireTime: ctx.expireTime }, ctx.now));
      out.push({
        segId: seg.segmentId,
        channelName: r.channelName,
        count: n,
        collectionId: r.collectionId,
        partitionId: r.partitionId,
        expireTime: ctx.expireTime,
      });
    };
    const pool = new Map<bigint, SegmentRecord>();
    for (const s of ctx.segmentsOf(r.channelName)) pool.set(s.segmentId, s);
    // Segments changed or opened earlier in this call are not committed yet.
    for (const s of touched.values()) pool.set(s.segmentId, s);
    const candidates = [...pool.values()]
      .filter(
        (s) =>
          s.state === SegmentState.GROWING &&
          s.channel === r.channelName &&
          s.collectionId === r.collectionId &&
          s.partitionId === r.partitionId,
      )
      .sort(byId);
    let remaining = r.count;
    for (const seg of candidates) {
      if (remaining === 0) break;
      const room = roomOf(seg);
      if (room <= 0) continue;
      const n = Math.min(room, remaining);
      give(seg, n);
      remaining -= n;
    }
    const maxRows = ctx.maxRowsOf(r.collectionId);
    while (remaining > 0) {
      const seg = newSegment(await ctx.newSegmentId(), r, maxRows, ctx.now);
      opened.push(seg);
      const n = Math.min(maxRows, remaining);
      give(seg, n);
      remaining -= n;
    }
  }
  return { touched: [...touched.values()], opened, out };
}

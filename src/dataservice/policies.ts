import { physicalOf, type Timestamp } from "../common/timestamp.ts";
import type { ResolvedOptions } from "./options.ts";
import type { SegmentRecord } from "./records.ts";
import { SegmentState } from "./types.ts";

export type SealReason = "size" | "lifetime" | "idle";

/**
 * Why a GROWING segment should be sealed now, if at all: its reported rows reached maxRows; it is
 * older than segmentMaxLifetimeMs; or it has rows and got no assignment for segmentMaxIdleMs.
 * Size uses reported rows, not assigned ones: a live allocation overlaps the rows already
 * consumed from it, so counting both would seal half-full segments.
 */
export function sealReason(seg: SegmentRecord, nowMs: number, o: ResolvedOptions): SealReason | undefined {
  if (seg.state !== SegmentState.GROWING) return undefined;
  if (seg.numRows >= seg.maxRows) return "size";
  if (nowMs - physicalOf(seg.createTime) > o.segmentMaxLifetimeMs) return "lifetime";
  if (seg.numRows > 0 && nowMs - physicalOf(seg.lastAllocTime) > o.segmentMaxIdleMs) return "idle";
  return undefined;
}

/**
 * A data node's tick report applied to one open segment: its row count (never below what is
 * persisted; kept when the report does not mention it) and its allocations, without those that
 * expired at or before the tick — every row written under them has been consumed and counted.
 * Returns the same object when nothing changed.
 */
export function applyTick(
  seg: SegmentRecord,
  tick: Timestamp,
  reportedRows: number | undefined,
): SegmentRecord {
  const numRows = reportedRows === undefined ? seg.numRows : Math.max(reportedRows, seg.persistedRows);
  const allocations = seg.allocations.filter((a) => a.expireTime > tick);
  if (numRows === seg.numRows && allocations.length === seg.allocations.length) return seg;
  return { ...seg, numRows, allocations };
}

/** Every row routed to a sealed segment has a timestamp ≤ its last expiry: once the channel's tick passed that, the owner holds them all. */
export function flushable(seg: SegmentRecord, tick: Timestamp): boolean {
  return seg.lastExpireTime <= tick;
}

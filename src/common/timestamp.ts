/**
 * Hybrid timestamps (DESIGN.md §4): `physicalMs << 18 | logical`, as `bigint` because the value
 * exceeds 2^53. Ordering of hybrid timestamps is ordering of (physical, logical).
 */

export type Timestamp = bigint;

export const LOGICAL_BITS = 18n;
export const MAX_LOGICAL = (1 << 18) - 1;
const LOGICAL_MASK = (1n << LOGICAL_BITS) - 1n;

export function composeTs(physicalMs: number, logical: number): Timestamp {
  if (!Number.isSafeInteger(physicalMs) || physicalMs < 0) throw new RangeError(`bad physical ${physicalMs}`);
  if (!Number.isInteger(logical) || logical < 0 || logical > MAX_LOGICAL) {
    throw new RangeError(`bad logical ${logical}`);
  }
  return (BigInt(physicalMs) << LOGICAL_BITS) | BigInt(logical);
}

export function physicalOf(ts: Timestamp): number {
  return Number(ts >> LOGICAL_BITS);
}

export function logicalOf(ts: Timestamp): number {
  return Number(ts & LOGICAL_MASK);
}

/** The timestamp `ms` milliseconds before `ts` at logical 0 (e.g. Bounded consistency's now − 5 s). */
export function subtractMs(ts: Timestamp, ms: number): Timestamp {
  const p = physicalOf(ts) - ms;
  return p <= 0 ? 0n : composeTs(p, 0);
}

/** Wall-clock view for logs and messages. */
export function tsToDate(ts: Timestamp): Date {
  return new Date(physicalOf(ts));
}

export const ZERO_TS: Timestamp = 0n;
/** Larger than any timestamp the oracle can issue (int64 max, as Milvus' MaxTimestamp). */
export const MAX_TS: Timestamp = (1n << 63n) - 1n;

import type { Column } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { gather } from "../common/gather.ts";
import type { FieldColumn } from "../common/msg/index.ts";
import type { Timestamp } from "../common/timestamp.ts";
import { DataType } from "../common/types.ts";
import { type ExprPlan, evaluate, fieldsOf } from "../expr/index.ts";
import type { CollectionState } from "./collection.ts";
import { concatColumns, type FieldDesc } from "./columns.ts";
import { type FilterCache, planKey } from "./filter-cache.ts";
import { SealedSegment, type SegmentSnapshot } from "./segment.ts";
import type { NodeScope } from "./types.ts";

function invalid(msg: string): StrataError {
  return new StrataError("ParameterInvalid", msg);
}

function isIdList(v: unknown): v is readonly bigint[] {
  return Array.isArray(v) && v.every((x) => typeof x === "bigint");
}

/** @throws StrataError ParameterInvalid for a malformed scope. */
export function checkScope(s: NodeScope): void {
  if (typeof s !== "object" || s === null) throw invalid("request must be an object");
  if (typeof s.collectionId !== "bigint") throw invalid("collectionId must be a bigint");
  if (!isIdList(s.partitionIds) || s.partitionIds.length === 0) {
    throw invalid("partitionIds must be a non-empty list of bigint IDs");
  }
  if (!isIdList(s.sealedSegmentIds)) throw invalid("sealedSegmentIds must be a list of bigint IDs");
  if (!isIdList(s.excludeGrowing)) throw invalid("excludeGrowing must be a list of bigint IDs");
  if (!Array.isArray(s.channels) || !s.channels.every((c) => typeof c === "string")) {
    throw invalid("channels must be a list of channel names");
  }
  if (typeof s.readTs !== "bigint" || s.readTs < 0n) throw invalid("readTs must be a non-negative bigint");
  if (typeof s.guaranteeTs !== "bigint" || s.guaranteeTs < 0n) {
    throw invalid("guaranteeTs must be a non-negative bigint");
  }
  if (typeof s.timeoutMs !== "number" || !Number.isFinite(s.timeoutMs) || s.timeoutMs < 0) {
    throw invalid(`timeoutMs must be a non-negative finite number, got ${String(s.timeoutMs)}`);
  }
}

/** @throws StrataError ParameterInvalid for a field the collection does not have. */
export function fieldDesc(c: CollectionState, fieldId: number): FieldDesc {
  const d = c.fields.find((f) => f.fieldId === fieldId);
  if (d === undefined) throw invalid(`collection ${c.collectionId} has no field ${fieldId}`);
  return d;
}

/** A read's filter cache and the plan's key in it (undefined: this plan is not kept). */
export interface FilterLookup {
  readonly cache: FilterCache;
  readonly key: string | undefined;
}

/** The cache lookup for a request's filter, computed once per request (none when nothing is kept). */
export function filterLookup(cache: FilterCache, filter: ExprPlan | undefined): FilterLookup | undefined {
  return filter === undefined || !cache.keeps ? undefined : { cache, key: planKey(filter) };
}

/** Selected rows of one segment; `passing` is their count when it came for free. */
export interface Selection {
  readonly bits: Uint8Array;
  readonly passing: number | undefined;
}

/**
 * The rows of one segment a request may see at `readTs`: written at or before it, not deleted at
 * it, and matching the filter (evaluated once over the segment's columns, or taken from `lookup`'s
 * cache for a sealed segment). One byte per row, non-zero = selected; read-only (it may be the
 * filter's own, shared result).
 */
export function selectRows(
  snap: SegmentSnapshot,
  readTs: Timestamp,
  filter: ExprPlan | undefined,
  lookup?: FilterLookup,
): Selection {
  const everything = snap.segment.allVisible(readTs);
  if (filter === undefined || snap.rows === 0) {
    return everything
      ? { bits: new Uint8Array(snap.rows).fill(1), passing: snap.rows }
      : { bits: snap.segment.visible(snap, readTs), passing: undefined };
  }
  const evaluateHere = () => {
    const columns = new Map<number, Column>();
    for (const fieldId of fieldsOf(filter)) {
      const c = snap.column(fieldId);
      if (c === undefined) {
        throw invalid(
          `filter needs field ${fieldId}, which segment ${snap.segment.meta.segmentId} did not load`,
        );
      }
      columns.set(fieldId, c);
    }
    return evaluate(filter, columns, snap.rows);
  };
  const seg = snap.segment;
  let f: Uint8Array;
  let passing: number | undefined;
  if (lookup !== undefined && seg instanceof SealedSegment) {
    const hit = lookup.cache.get(seg.meta.segmentId, snap.rows, lookup.key, evaluateHere);
    f = hit.bits;
    passing = hit.passing;
  } else {
    f = evaluateHere();
  }
  // Callers only read the result, so the filter's own bitset serves when every row is visible.
  if (everything) return { bits: f, passing };
  const bits = seg.visible(snap, readTs);
  for (let i = 0; i < bits.length; i++) bits[i] = (bits[i] as number) & (f[i] as number);
  return { bits, passing: undefined };
}

/** Where each hit lives: index into the request's snapshots, and the row in that segment. */
export interface HitRefs {
  readonly target: Uint32Array;
  readonly row: Uint32Array;
}

/** The primary keys of hits, as the result type wants them. */
export function gatherPks(
  snaps: readonly SegmentSnapshot[],
  refs: HitRefs,
  pkType: CollectionState["pkType"],
): BigInt64Array | string[] {
  const n = refs.row.length;
  if (pkType === DataType.Int64) {
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = ((snaps[refs.target[i] as number] as SegmentSnapshot).pks as BigInt64Array)[
        refs.row[i] as number
      ] as bigint;
    }
    return out;
  }
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = ((snaps[refs.target[i] as number] as SegmentSnapshot).pks as readonly string[])[
      refs.row[i] as number
    ] as string;
  }
  return out;
}

/**
 * Output fields for the hits, in hit order: gathered per segment (one typed-array copy each), then
 * laid out in the hits' order.
 */
export function gatherFields(
  c: CollectionState,
  snaps: readonly SegmentSnapshot[],
  refs: HitRefs,
  fieldIds: readonly number[],
): FieldColumn[] {
  const n = refs.row.length;
  const perTarget: number[][] = snaps.map(() => []);
  for (let i = 0; i < n; i++) (perTarget[refs.target[i] as number] as number[]).push(i);
  const out: FieldColumn[] = [];
  for (const fieldId of fieldIds) {
    const desc = fieldDesc(c, fieldId);
    const parts: Column[] = [];
    const position = new Uint32Array(n);
    let at = 0;
    for (let t = 0; t < snaps.length; t++) {
      const hits = perTarget[t] as number[];
      if (hits.length === 0) continue;
      const snap = snaps[t] as SegmentSnapshot;
      const col = snap.column(fieldId);
      if (col === undefined) {
        throw invalid(`output field ${fieldId} is not loaded in segment ${snap.segment.meta.segmentId}`);
      }
      const rows = new Uint32Array(hits.length);
      for (let k = 0; k < hits.length; k++) {
        rows[k] = refs.row[hits[k] as number] as number;
        position[hits[k] as number] = at++;
      }
      parts.push(gather(col, rows));
    }
    out.push({ fieldId, column: gather(concatColumns(desc, parts), position) });
  }
  return out;
}

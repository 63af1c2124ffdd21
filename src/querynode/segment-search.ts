import { isStrataError, StrataError } from "../common/errors.ts";
import { countPassing } from "../index/index.ts";
import type { IndexBatcher } from "./index-batcher.ts";
import type { SegmentSearch, SegmentTopK } from "./search.ts";
import { SealedSegment, type SegmentSnapshot } from "./segment.ts";
import type { NodeSearchRequest } from "./types.ts";

/**
 * The plan for one segment (`allow` undefined: every row may be returned). Its built index when it
 * has one for the field and metric: unfiltered (batched with concurrent requests), or with the
 * bitset when the index's filtered search is cheaper than scanning the passing rows. Otherwise an
 * exact scan of the rows the bitset lets through: growing and small segments, selective filters
 * (the raw vectors are read on demand if the segment holds the index only), unusable indexes.
 */
export async function searchSegment(
  snap: SegmentSnapshot,
  allow: Uint8Array | undefined,
  req: NodeSearchRequest,
  exact: SegmentSearch,
  batcher?: IndexBatcher,
  /** How many rows `allow` passes, when the caller knows. */
  knownPassing?: number,
): Promise<SegmentTopK> {
  const seg = snap.segment;
  const sealed = seg instanceof SealedSegment ? seg : undefined;
  const x = sealed?.vectorIndex(req.vectorFieldId);
  const q = req.queries;
  if (x !== undefined && x.index.metric === req.metric && x.index.count === snap.rows && !Array.isArray(q)) {
    const qs = q as Float32Array | Uint8Array;
    const params = req.searchParams ?? {};
    try {
      const passing = allow === undefined ? snap.rows : (knownPassing ?? countPassing(allow));
      if (passing === snap.rows) {
        return await (batcher?.search(x.index, qs, req.nq, req.topk, params) ??
          x.index.search(qs, req.nq, req.topk, params));
      }
      if (allow !== undefined && !x.index.prefersExactScan(passing, req.topk, params)) {
        return x.index.search(qs, req.nq, req.topk, params, allow, passing);
      }
    } catch (e) {
      // Released while this request was planned: answer from the raw vectors instead.
      if (!isStrataError(e, "Closed")) throw e;
    }
  }
  const col = snap.column(req.vectorFieldId) ?? (await sealed?.ensureColumn(req.vectorFieldId));
  if (col === undefined) {
    throw new StrataError(
      "ParameterInvalid",
      `vector field ${req.vectorFieldId} is not loaded in segment ${seg.meta.segmentId}`,
    );
  }
  return exact(col, req.metric, q, req.nq, req.topk, allow ?? new Uint8Array(snap.rows).fill(1));
}

/** Reads on demand the raw columns of `fieldIds` that index-only segments do not hold. */
export async function ensureColumns(
  snaps: readonly SegmentSnapshot[],
  fieldIds: readonly number[],
): Promise<void> {
  const loads: Promise<unknown>[] = [];
  for (const s of snaps) {
    if (!(s.segment instanceof SealedSegment)) continue;
    for (const id of fieldIds) if (s.column(id) === undefined) loads.push(s.segment.ensureColumn(id));
  }
  await Promise.all(loads);
}

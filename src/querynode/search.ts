import type { Column, SparseRow } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { DataType } from "../common/types.ts";
import { largerIsBetter, MAX_TOPK, mergeTopK, metricsFor } from "../index/index.ts";
import type { CollectionState } from "./collection.ts";
import type { FilterCache } from "./filter-cache.ts";
import type { IndexBatcher } from "./index-batcher.ts";
import { fieldDesc, filterLookup, gatherFields, selectRows } from "./read.ts";
import type { SegmentSnapshot } from "./segment.ts";
import { ensureColumns, searchSegment } from "./segment-search.ts";
import type { Hits, MetricType, NodeSearchRequest, NodeSearchResult } from "./types.ts";

/** Per-query top-k of one segment: `offsets[q * topk + i]` (−1 pads), scores in the metric's sense. */
export interface SegmentTopK {
  readonly offsets: Int32Array;
  readonly scores: Float32Array;
}

/** The exact top-k search of one segment's vector column restricted to `allow` (1 byte per row). */
export type SegmentSearch = (
  column: Column,
  metric: MetricType,
  queries: Float32Array | Uint8Array | readonly SparseRow[],
  nq: number,
  topk: number,
  allow: Uint8Array,
) => Promise<SegmentTopK>;

/** @throws StrataError ParameterInvalid for a request that does not fit the collection. */
export function checkSearch(c: CollectionState, req: NodeSearchRequest): void {
  const f = fieldDesc(c, req.vectorFieldId);
  const allowed: readonly string[] = metricsFor(f.dataType);
  if (allowed.length === 0)
    throw new StrataError("ParameterInvalid", `field ${f.fieldId} is not a vector field`);
  if (!allowed.includes(req.metric)) {
    throw new StrataError(
      "ParameterInvalid",
      `metric ${String(req.metric)} does not apply to field ${f.fieldId}; use one of ${allowed.join(", ")}`,
    );
  }
  if (!Number.isSafeInteger(req.nq) || req.nq < 1) {
    throw new StrataError("ParameterInvalid", `nq must be a positive integer, got ${String(req.nq)}`);
  }
  if (!Number.isSafeInteger(req.topk) || req.topk < 1 || req.topk > MAX_TOPK) {
    throw new StrataError(
      "ParameterInvalid",
      `topk must be an integer in [1, ${MAX_TOPK}], got ${String(req.topk)}`,
    );
  }
  const dim = f.dim ?? 0;
  const q = req.queries;
  let ok: boolean;
  switch (f.dataType) {
    case DataType.SparseFloatVector:
      ok = Array.isArray(q) && q.length === req.nq;
      break;
    case DataType.BinaryVector:
      ok = q instanceof Uint8Array && q.length === (req.nq * dim) / 8;
      break;
    default:
      ok = q instanceof Float32Array && q.length === req.nq * dim;
  }
  if (!ok) {
    throw new StrataError(
      "ParameterInvalid",
      `queries do not hold ${req.nq} vectors of field ${f.fieldId} (dim ${dim}, data type ${f.dataType})`,
    );
  }
  for (const id of req.outputFieldIds) fieldDesc(c, id);
}

interface Candidate {
  part: number;
  target: number;
  row: number;
  score: number;
}

/**
 * Searches every snapshot (bitset = visible at readTs ∧ filter), then merges per query: one hit
 * per primary key (the row written last wins; on equal timestamps the better score), best first.
 */
export async function runSearch(
  c: CollectionState,
  snaps: readonly SegmentSnapshot[],
  req: NodeSearchRequest,
  search: SegmentSearch,
  batcher?: IndexBatcher,
  filters?: FilterCache,
): Promise<NodeSearchResult> {
  const { nq, topk, metric } = req;
  const lookup = filters === undefined ? undefined : filterLookup(filters, req.filter);
  // Segments are searched concurrently (large exact scans on the pool's workers); each bitset is
  // built on this thread first, once per segment.
  const jobs: { target: number; allow: Uint8Array | undefined; passing: number | undefined }[] = [];
  for (let t = 0; t < snaps.length; t++) {
    const snap = snaps[t] as SegmentSnapshot;
    if (snap.rows === 0) continue;
    if (req.filter === undefined && snap.segment.allVisible(req.readTs)) {
      jobs.push({ target: t, allow: undefined, passing: snap.rows });
      continue;
    }
    const { bits, passing } = selectRows(snap, req.readTs, req.filter, lookup);
    if (passing === 0 || (passing === undefined && bits.indexOf(1) < 0)) continue;
    jobs.push({ target: t, allow: bits, passing });
  }
  const parts = await Promise.all(
    jobs.map(async (j) => ({
      target: j.target,
      res: await searchSegment(snaps[j.target] as SegmentSnapshot, j.allow, req, search, batcher, j.passing),
    })),
  );
  await ensureColumns(
    parts.map((p) => snaps[p.target] as SegmentSnapshot),
    req.outputFieldIds,
  );
  const results: Hits[] = [];
  if (parts.length === 1) {
    const only = parts[0] as (typeof parts)[number];
    for (let q = 0; q < nq; q++) {
      const hits = singleList(c, snaps, only.target, only.res, q, req);
      if (hits === undefined) break;
      results.push(hits);
    }
    if (results.length === nq) return { results };
    results.length = 0;
  }
  const better = largerIsBetter(metric) ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  for (let q = 0; q < nq; q++) {
    // One candidate per key first: the row written last (upsert history), then the better score.
    const best = new Map<bigint | string, Candidate>();
    for (let p = 0; p < parts.length; p++) {
      const { target, res } = parts[p] as (typeof parts)[number];
      const snap = snaps[target] as SegmentSnapshot;
      for (let i = 0; i < topk; i++) {
        const row = res.offsets[q * topk + i] as number;
        if (row < 0) break;
        const score = res.scores[q * topk + i] as number;
        const pk = snap.pks[row] as bigint | string;
        const cur = best.get(pk);
        if (cur !== undefined) {
          const curTs = (snaps[cur.target] as SegmentSnapshot).timestamps[cur.row] as bigint;
          const ts = snap.timestamps[row] as bigint;
          if (ts < curTs || (ts === curTs && !better(score, cur.score))) continue;
        }
        best.set(pk, { part: p, target, row, score });
      }
    }
    // Per segment, its surviving candidates stay best-first; the index merges them by score.
    const lists = parts.map(({ target, res }, p) => {
      const l = { pks: [] as (bigint | string)[], scores: [] as number[] };
      const snap = snaps[target] as SegmentSnapshot;
      for (let i = 0; i < topk; i++) {
        const row = res.offsets[q * topk + i] as number;
        if (row < 0) break;
        const pk = snap.pks[row] as bigint | string;
        const w = best.get(pk) as Candidate;
        if (w.part !== p || w.row !== row) continue;
        l.pks.push(pk);
        l.scores.push(w.score);
      }
      return l;
    });
    const merged = mergeTopK(
      lists.map((l) => ({
        pks: c.pkType === DataType.Int64 ? BigInt64Array.from(l.pks as bigint[]) : (l.pks as string[]),
        scores: Float32Array.from(l.scores),
      })),
      topk,
      metric,
    );
    const n = merged.pks.length;
    const refs = { target: new Uint32Array(n), row: new Uint32Array(n) };
    for (let i = 0; i < n; i++) {
      const w = best.get(merged.pks[i] as bigint | string) as Candidate;
      refs.target[i] = w.target;
      refs.row[i] = w.row;
    }
    results.push({
      pks: merged.pks,
      scores: merged.scores,
      fields: gatherFields(c, snaps, refs, req.outputFieldIds),
    });
  }
  return { results };
}

/**
 * One query's hits when a single segment answered: its list is already best-first, so it is the
 * answer as it stands unless a key appears twice in it (a key inserted twice without a delete),
 * which only the general merge settles (undefined then). Saves the merge's per-hit objects on the
 * common path of one sealed segment per node.
 */
function singleList(
  c: CollectionState,
  snaps: readonly SegmentSnapshot[],
  target: number,
  res: SegmentTopK,
  q: number,
  req: NodeSearchRequest,
): Hits | undefined {
  const { topk } = req;
  const snap = snaps[target] as SegmentSnapshot;
  const base = q * topk;
  let n = 0;
  while (n < topk && (res.offsets[base + n] as number) >= 0) n++;
  const row = res.offsets.slice(base, base + n) as Int32Array;
  let pks: BigInt64Array | string[];
  if (c.pkType === DataType.Int64) {
    const big = new BigInt64Array(n);
    for (let i = 0; i < n; i++) big[i] = snap.pks[row[i] as number] as bigint;
    pks = big;
  } else {
    const str = new Array<string>(n);
    for (let i = 0; i < n; i++) str[i] = snap.pks[row[i] as number] as string;
    pks = str;
  }
  if (n <= 32) {
    // Short lists (k is 10 typically): pairwise is cheaper than a set.
    for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) if (pks[i] === pks[j]) return undefined;
  } else if (new Set<bigint | string>(pks).size !== n) return undefined;
  const fields =
    req.outputFieldIds.length === 0
      ? []
      : gatherFields(
          c,
          snaps,
          { target: new Uint32Array(n).fill(target), row: Uint32Array.from(row) },
          req.outputFieldIds,
        );
  return { pks, scores: res.scores.slice(base, base + n), fields };
}

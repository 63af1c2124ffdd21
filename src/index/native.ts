import usearch, { type MetricKind } from "usearch";
import type { Column } from "../common/column.ts";
import { DataType } from "../common/types.ts";
import { largerIsBetter, type MetricType } from "./metric.ts";
import { emptyResult, type SearchResult } from "./topk.ts";
import { countPassing } from "./vector-index.ts";

/**
 * Exact float search through usearch's native SIMD scan, which runs near the memory-bandwidth
 * limit (the JS kernels reach about a quarter of it). usearch has no filter, so rows the bitset
 * excludes are over-fetched and dropped afterwards while few are excluded (≤ `NATIVE_MAX_EXCLUDED`);
 * when at most half the rows pass, the passing rows are copied together and scanned; in between,
 * the caller falls back to the JS kernels.
 *
 * usearch 2.25 reads typed arrays from the start of their buffer (ignoring `byteOffset`) and
 * refuses SharedArrayBuffers, so only columns that own a plain buffer from offset 0 qualify;
 * queries are copied.
 */
export const NATIVE_MAX_EXCLUDED = 4096;

const KIND: Partial<Record<MetricType, MetricKind>> = {
  L2: usearch.MetricKind.L2sq,
  IP: usearch.MetricKind.IP,
  COSINE: usearch.MetricKind.Cos,
};

/** The native top-k, or undefined when this column, metric or bitset does not qualify. */
export function nativeSearch(
  vectors: Column,
  queries: Float32Array,
  nq: number,
  metric: MetricType,
  topk: number,
  allow: Uint8Array | undefined,
): SearchResult | undefined {
  const kind = KIND[metric];
  if (kind === undefined || vectors.type !== DataType.FloatVector) return undefined;
  const data = vectors.data;
  if (data.byteOffset !== 0 || data.buffer instanceof SharedArrayBuffer) return undefined;
  const dim = vectors.dim;
  const n = data.length / dim;
  if (n === 0 || queries.length !== nq * dim) return undefined;
  let excluded = 0;
  if (allow !== undefined) {
    excluded = n - countPassing(allow);
    if (excluded === n) return emptyResult(nq, topk);
    if (excluded > NATIVE_MAX_EXCLUDED) {
      // Few rows pass: copy them together (one pass over the passing rows, cheaper than scanning
      // every row) and scan the copy natively; keys map back through `rows`.
      const passing = n - excluded;
      if (passing * 2 > n) return undefined;
      const rows = new Int32Array(passing);
      const gathered = new Float32Array(passing * dim);
      let at = 0;
      for (let i = 0; i < n; ) {
        if (allow[i] === 0) {
          i++;
          continue;
        }
        // One copy per run of passing rows.
        let j = i;
        while (j < n && allow[j] !== 0) rows[at + (j - i)] = j++;
        gathered.set(data.subarray(i * dim, j * dim), at * dim);
        at += j - i;
        i = j;
      }
      return finish(gathered, rows, queries, nq, dim, kind, metric, topk, Math.min(passing, topk), undefined);
    }
  }
  return finish(data, undefined, queries, nq, dim, kind, metric, topk, Math.min(n, topk + excluded), allow);
}

function finish(
  data: Float32Array,
  rows: Int32Array | undefined,
  queries: Float32Array,
  nq: number,
  dim: number,
  kind: MetricKind,
  metric: MetricType,
  topk: number,
  count: number,
  allow: Uint8Array | undefined,
): SearchResult {
  const n = data.length / dim;
  const q = queries.slice();
  const res = usearch.exactSearch(data, q, dim, count, kind, nq > 1 ? 0 : 1) as {
    keys: BigUint64Array;
    distances: Float32Array;
  };
  const offsets = new Int32Array(nq * topk).fill(-1);
  const scores = new Float32Array(nq * topk).fill(Number.NaN);
  const sim = largerIsBetter(metric);
  const hits: { row: number; score: number }[] = [];
  for (let qi = 0; qi < nq; qi++) {
    hits.length = 0;
    for (let j = qi * count; j < (qi + 1) * count && hits.length < topk; j++) {
      const key = Number(res.keys[j]);
      if (key >= n) continue;
      const row = rows === undefined ? key : (rows[key] as number);
      if (allow !== undefined && allow[row] === 0) continue;
      const d = res.distances[j] as number;
      // usearch reports distances: IP and cosine as 1 − similarity.
      hits.push({ row, score: Math.fround(sim ? 1 - d : d) });
    }
    // Equal scores go to the lower row, as in the JS kernels.
    hits.sort((a, b) => (sim ? b.score - a.score : a.score - b.score) || a.row - b.row);
    for (let i = 0; i < hits.length; i++) {
      const h = hits[i] as { row: number; score: number };
      offsets[qi * topk + i] = h.row;
      scores[qi * topk + i] = h.score;
    }
  }
  return { nq, topk, offsets, scores };
}

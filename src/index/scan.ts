import { hammingOne, jaccardOne } from "./kernels-binary.ts";
import { dotFour, dotOne, l2Four, l2One, queryNorm, rowNorms } from "./kernels-float.ts";
import { sparseDotDense, sparseDotMerge } from "./kernels-sparse.ts";
import { largerIsBetter, MetricType } from "./metric.ts";
import type { PreparedQueries } from "./queries.ts";
import type { BinarySegment, FloatSegment, PreparedSegment, SparseSegment } from "./segment.ts";
import { type SearchResult, TopKHeaps } from "./topk.ts";

/** Rows per block are chosen so a block of float rows is about this size: it stays in L2 while
 * every query (group) passes over it. */
const BLOCK_BYTES = 256 * 1024;
/** From this many queries on, the 4-query register-blocked kernels beat one query at a time
 * (even with up to three padding slots). */
const BATCH_FROM_NQ = 3;
/** A sparse query whose largest index is below this is scattered into a dense scratch array. */
const SPARSE_DENSE_LIMIT = 1 << 20;

/**
 * Scans rows [r0, r1) of an already validated segment with already validated queries. Offsets in
 * the result are segment offsets, so partial scans of disjoint ranges merge directly.
 */
export function scanSegment(
  seg: PreparedSegment,
  q: PreparedQueries,
  metric: MetricType,
  topk: number,
  bitset: Uint8Array | undefined,
  r0: number,
  r1: number,
): SearchResult {
  const heaps = new TopKHeaps(q.nq, topk);
  if (seg.kind === "float" && q.kind === "float") scanFloat(seg, q.data, q.nq, metric, heaps, bitset, r0, r1);
  else if (seg.kind === "binary" && q.kind === "binary")
    scanBinary(seg, q.words, q.nq, metric, heaps, bitset, r0, r1);
  else if (seg.kind === "sparse" && q.kind === "sparse") scanSparse(seg, q.rows, heaps, bitset, r0, r1);
  else throw new Error(`scanSegment: ${q.kind} queries against a ${seg.kind} segment`);
  return heaps.finish(largerIsBetter(metric));
}

/** The allowed rows of [b, e) into `rows`; returns how many. */
function collect(rows: Int32Array, b: number, e: number, bitset: Uint8Array | undefined): number {
  let c = 0;
  if (bitset === undefined) {
    for (let r = b; r < e; r++) rows[c++] = r;
  } else {
    for (let r = b; r < e; r++) if (bitset[r] !== 0) rows[c++] = r;
  }
  return c;
}

export function floatBlockRows(dim: number): number {
  return Math.max(8, Math.min(1024, Math.floor(BLOCK_BYTES / (4 * dim)))) & ~3;
}

function scanFloat(
  seg: FloatSegment,
  Q: Float64Array,
  nq: number,
  metric: MetricType,
  heaps: TopKHeaps,
  bitset: Uint8Array | undefined,
  r0: number,
  r1: number,
): void {
  const d = seg.dim;
  const X = seg.data;
  const BR = floatBlockRows(d);
  const rows = new Int32Array(BR);
  const batched = nq >= BATCH_FROM_NQ;
  const tile = new Float64Array(batched ? 4 * BR : BR);
  const l2 = metric === MetricType.L2;
  const cosine = metric === MetricType.COSINE;
  const qn = new Float64Array(cosine ? nq : 0);
  for (let i = 0; i < qn.length; i++) qn[i] = queryNorm(Q, i * d, d);
  const xn = new Float64Array(cosine ? BR : 0);
  const cached = seg.norms;
  const last = nq - 1;
  for (let b = r0; b < r1; b += BR) {
    const cnt = collect(rows, b, Math.min(r1, b + BR), bitset);
    if (cnt === 0) continue;
    if (cosine) {
      if (cached !== undefined) for (let i = 0; i < cnt; i++) xn[i] = cached[rows[i]!]!;
      else rowNorms(X, d, rows, cnt, xn);
    }
    if (batched) {
      for (let g = 0; g < nq; g += 4) {
        // Short last group: repeat the last query; its extra rows of the tile are not folded.
        const a0 = g * d;
        const a1 = Math.min(g + 1, last) * d;
        const a2 = Math.min(g + 2, last) * d;
        const a3 = Math.min(g + 3, last) * d;
        if (l2) l2Four(X, d, rows, cnt, Q, a0, a1, a2, a3, tile, BR);
        else dotFour(X, d, rows, cnt, Q, a0, a1, a2, a3, tile, BR);
        const n = Math.min(4, nq - g);
        for (let u = 0; u < n; u++) {
          if (l2) foldKeys(tile, u * BR, rows, cnt, heaps, g + u);
          else if (cosine) foldCosine(tile, u * BR, rows, cnt, heaps, g + u, qn[g + u]!, xn);
          else foldNegated(tile, u * BR, rows, cnt, heaps, g + u);
        }
      }
    } else {
      for (let qi = 0; qi < nq; qi++) {
        if (l2) {
          l2One(X, d, rows, cnt, Q, qi * d, tile);
          foldKeys(tile, 0, rows, cnt, heaps, qi);
        } else {
          dotOne(X, d, rows, cnt, Q, qi * d, tile);
          if (cosine) foldCosine(tile, 0, rows, cnt, heaps, qi, qn[qi]!, xn);
          else foldNegated(tile, 0, rows, cnt, heaps, qi);
        }
      }
    }
  }
}

/** Distances: the key is the value. */
function foldKeys(
  tile: Float64Array,
  to: number,
  rows: Int32Array,
  cnt: number,
  heaps: TopKHeaps,
  qi: number,
): void {
  const bound = heaps.bound;
  let lim = bound[qi]!;
  for (let i = 0; i < cnt; i++) {
    const v = tile[to + i]!;
    if (v <= lim) {
      heaps.push(qi, Math.fround(v), rows[i]!);
      lim = bound[qi]!;
    }
  }
}

/** Inner product: larger is better, so the key is the negated value. */
function foldNegated(
  tile: Float64Array,
  to: number,
  rows: Int32Array,
  cnt: number,
  heaps: TopKHeaps,
  qi: number,
): void {
  const bound = heaps.bound;
  let lim = bound[qi]!;
  for (let i = 0; i < cnt; i++) {
    const v = -tile[to + i]!;
    if (v <= lim) {
      heaps.push(qi, Math.fround(v), rows[i]!);
      lim = bound[qi]!;
    }
  }
}

/** Cosine similarity dot / (|q| |x|), negated; a zero vector on either side has similarity 0. */
function foldCosine(
  tile: Float64Array,
  to: number,
  rows: Int32Array,
  cnt: number,
  heaps: TopKHeaps,
  qi: number,
  qn: number,
  xn: Float64Array,
): void {
  const bound = heaps.bound;
  let lim = bound[qi]!;
  for (let i = 0; i < cnt; i++) {
    const n = xn[i]!;
    const v = qn === 0 || n === 0 ? 0 : -(tile[to + i]! / (qn * n));
    if (v <= lim) {
      heaps.push(qi, Math.fround(v), rows[i]!);
      lim = bound[qi]!;
    }
  }
}

function scanBinary(
  seg: BinarySegment,
  Q: Uint32Array,
  nq: number,
  metric: MetricType,
  heaps: TopKHeaps,
  bitset: Uint8Array | undefined,
  r0: number,
  r1: number,
): void {
  const W = seg.wordsPerRow;
  const BR = 1024;
  const rows = new Int32Array(BR);
  const tile = new Float64Array(BR);
  const hamming = metric === MetricType.HAMMING;
  for (let b = r0; b < r1; b += BR) {
    const cnt = collect(rows, b, Math.min(r1, b + BR), bitset);
    if (cnt === 0) continue;
    for (let qi = 0; qi < nq; qi++) {
      if (hamming) hammingOne(seg.words, W, rows, cnt, Q, qi * W, tile);
      else jaccardOne(seg.words, W, rows, cnt, Q, qi * W, tile);
      foldKeys(tile, 0, rows, cnt, heaps, qi);
    }
  }
}

/**
 * Sparse IP. As in Milvus (knowhere's sparse brute force), only rows with a positive product are
 * candidates: a row sharing no dimension with the query is not a match.
 */
function scanSparse(
  seg: SparseSegment,
  queries: readonly { readonly indices: Uint32Array; readonly values: Float32Array }[],
  heaps: TopKHeaps,
  bitset: Uint8Array | undefined,
  r0: number,
  r1: number,
): void {
  let maxIdx = -1;
  for (const qr of queries) {
    const n = qr.indices.length;
    if (n > 0) maxIdx = Math.max(maxIdx, qr.indices[n - 1]!);
  }
  const useDense = maxIdx < SPARSE_DENSE_LIMIT;
  const dense = new Float64Array(useDense ? maxIdx + 1 : 0);
  const { data, indptr, indices, values } = seg;
  const bound = heaps.bound;
  for (let qi = 0; qi < queries.length; qi++) {
    const qr = queries[qi]!;
    if (qr.indices.length === 0) continue;
    if (useDense) for (let p = 0; p < qr.indices.length; p++) dense[qr.indices[p]!] = qr.values[p]!;
    let lim = bound[qi]!;
    for (let r = r0; r < r1; r++) {
      if (bitset !== undefined && bitset[r] === 0) continue;
      let s: number;
      if (data !== undefined) {
        const row = data[r]!;
        s = useDense
          ? sparseDotDense(row.indices, row.values, 0, row.indices.length, dense, maxIdx)
          : sparseDotMerge(row.indices, row.values, 0, row.indices.length, qr.indices, qr.values);
      } else {
        const a = indptr![r]!;
        const e = indptr![r + 1]!;
        s = useDense
          ? sparseDotDense(indices!, values!, a, e, dense, maxIdx)
          : sparseDotMerge(indices!, values!, a, e, qr.indices, qr.values);
      }
      if (s > 0 && -s <= lim) {
        heaps.push(qi, Math.fround(-s), r);
        lim = bound[qi]!;
      }
    }
    if (useDense) for (let p = 0; p < qr.indices.length; p++) dense[qr.indices[p]!] = 0;
  }
}

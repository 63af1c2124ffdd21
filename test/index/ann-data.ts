// Data and recall helpers for the approximate-index tests.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DataType } from "../../src/common/types.ts";
import { searchExact } from "../../src/index/exact.ts";
import { largerIsBetter, type MetricType } from "../../src/index/metric.ts";
import type { SearchResult } from "../../src/index/topk.ts";
import { gaussians, rng } from "./data.ts";
import { floatScore } from "./reference.ts";

export interface Dataset {
  readonly base: Float32Array;
  readonly queries: Float32Array;
  readonly n: number;
  readonly nq: number;
  readonly dim: number;
}

/**
 * The clustered mixture of shared/research/perf-notes.md §3.2: `centres` centres from N(0,1)^d,
 * each with its own σ ~ U(0.25, 0.6); points are centre + σ·N(0,1)^d; queries from the same mixture.
 */
export function clustered(n: number, dim: number, nq: number, seed: number, centres = 1000): Dataset {
  const r = rng(seed);
  const c = gaussians(r, centres * dim);
  const sigma = Float32Array.from({ length: centres }, () => 0.25 + r() * 0.35);
  const fill = (rows: number) => {
    const out = new Float32Array(rows * dim);
    const noise = gaussians(r, rows * dim);
    for (let i = 0; i < rows; i++) {
      const k = Math.floor(r() * centres);
      const s = sigma[k]!;
      for (let j = 0; j < dim; j++) out[i * dim + j] = c[k * dim + j]! + s * noise[i * dim + j]!;
    }
    return out;
  };
  return { base: fill(n), queries: fill(nq), n, nq, dim };
}

/** Clustered binary vectors: the signs of a clustered float set (dim bits, LSB-first bytes). */
export function clusteredBits(
  n: number,
  bits: number,
  nq: number,
  seed: number,
): {
  base: Uint8Array;
  queries: Uint8Array;
  n: number;
  nq: number;
  dim: number;
} {
  const f = clustered(n, bits, nq, seed, 500);
  const pack = (v: Float32Array, rows: number) => {
    const out = new Uint8Array((rows * bits) / 8);
    for (let i = 0; i < rows * bits; i++) if (v[i]! > 0) out[i >> 3]! |= 1 << (i & 7);
    return out;
  };
  return { base: pack(f.base, n), queries: pack(f.queries, nq), n, nq, dim: bits };
}

/** The 778 × 384 MiniLM embeddings of SAP Fiori docs (unit norm); the last `nq` rows are queries. */
export function fioriEmbeddings(nq: number): Dataset {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve("@sap-ux/fiori-docs-embeddings/package.json"));
  const buf = readFileSync(join(dir, "data", "embeddings", "embeddings.bin"));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const dim = 384;
  const rows = all.length / dim;
  const n = rows - nq;
  return { base: all.slice(0, n * dim), queries: all.slice(n * dim), n, nq, dim };
}

/** Exact top-k by the tested exact scan (itself checked against test/index/reference.ts). */
export function exactTopK(
  data: Float32Array | Uint8Array,
  dim: number,
  queries: Float32Array | Uint8Array,
  nq: number,
  metric: MetricType,
  k: number,
  filter?: Uint8Array,
): SearchResult {
  const vectors =
    data instanceof Uint8Array
      ? ({ type: DataType.BinaryVector, dim, data } as const)
      : ({ type: DataType.FloatVector, dim, data } as const);
  return searchExact({
    vectors,
    queries,
    nq,
    metric,
    topk: k,
    ...(filter === undefined ? {} : { bitset: filter }),
  });
}

/**
 * Recall@k, tie-aware: a returned row counts when its exact score is at least as good as the exact
 * k-th best (binary distances tie a lot, and any of the tied rows is a right answer). Returned rows
 * must be distinct and pass the filter, else the call throws.
 */
export function recallAtK(
  got: SearchResult,
  want: SearchResult,
  metric: MetricType,
  exactScore: (q: number, row: number) => number,
  filter?: Uint8Array,
): number {
  const k = want.topk;
  const larger = largerIsBetter(metric);
  let hits = 0;
  let total = 0;
  for (let q = 0; q < want.nq; q++) {
    let kth = Number.NaN;
    let wantCount = 0;
    for (let i = 0; i < k; i++) {
      const s = want.scores[q * k + i]!;
      if (want.offsets[q * k + i]! < 0) break;
      kth = s;
      wantCount++;
    }
    total += wantCount;
    const seen = new Set<number>();
    for (let i = 0; i < got.topk && i < k; i++) {
      const off = got.offsets[q * got.topk + i]!;
      if (off < 0) continue;
      if (seen.has(off)) throw new Error(`query ${q}: row ${off} returned twice`);
      seen.add(off);
      if (filter !== undefined && filter[off] === 0)
        throw new Error(`query ${q}: row ${off} does not pass the filter`);
      const s = Math.fround(exactScore(q, off));
      const tol = 1e-5 * Math.max(1, Math.abs(kth));
      if (larger ? s >= kth - tol : s <= kth + tol) hits++;
    }
  }
  return total === 0 ? 1 : hits / total;
}

/** Exact scores of single rows, for recallAtK. */
export function floatScorer(data: Float32Array, queries: Float32Array, dim: number, metric: MetricType) {
  return (q: number, row: number): number =>
    floatScore(data, row, queries, q, dim, metric as "L2" | "IP" | "COSINE");
}

export function binaryScorer(
  data: Uint8Array,
  queries: Uint8Array,
  dim: number,
  metric: "HAMMING" | "JACCARD",
) {
  const B = dim / 8;
  return (q: number, row: number): number => {
    let diff = 0;
    let and = 0;
    let or = 0;
    for (let i = 0; i < B; i++) {
      const a = queries[q * B + i]!;
      const b = data[row * B + i]!;
      diff += popcount(a ^ b);
      and += popcount(a & b);
      or += popcount(a | b);
    }
    return metric === "HAMMING" ? diff : or === 0 ? 0 : 1 - and / or;
  };
}

function popcount(x: number): number {
  let c = 0;
  let v = x;
  while (v !== 0) {
    v &= v - 1;
    c++;
  }
  return c;
}

/** A seeded random filter passing about a fraction p of n rows. */
export function randomFilter(n: number, p: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r() < p ? 1 : 0;
  return out;
}

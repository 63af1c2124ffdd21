// An obviously-correct exact search for the tests: one row at a time, plain loops, a full sort.
import assert from "node:assert/strict";
import type { SparseRow } from "../../src/common/column.ts";
import type { SearchResult } from "../../src/index/index.ts";

export interface Hit {
  readonly offset: number;
  readonly score: number;
}

type Metric = "L2" | "IP" | "COSINE" | "HAMMING" | "JACCARD";

function rank(hits: Hit[], larger: boolean, topk: number): Hit[] {
  hits.sort((a, b) =>
    a.score !== b.score ? (larger ? b.score - a.score : a.score - b.score) : a.offset - b.offset,
  );
  return hits.slice(0, topk);
}

/** The exact score of query row `q` against data row `r` (plain float64 loop, unrounded). */
export function floatScore(
  data: Float32Array,
  r: number,
  queries: Float32Array,
  q: number,
  dim: number,
  metric: "L2" | "IP" | "COSINE",
): number {
  let dot = 0;
  let l2 = 0;
  let qq = 0;
  let xx = 0;
  for (let j = 0; j < dim; j++) {
    const a = queries[q * dim + j]!;
    const b = data[r * dim + j]!;
    dot += a * b;
    l2 += (a - b) * (a - b);
    qq += a * a;
    xx += b * b;
  }
  if (metric === "L2") return l2;
  if (metric === "IP") return dot;
  return qq === 0 || xx === 0 ? 0 : dot / (Math.sqrt(qq) * Math.sqrt(xx));
}

/** Float vectors (already float32 values), row-major. */
export function refFloat(
  data: Float32Array,
  dim: number,
  queries: Float32Array,
  metric: Metric,
  topk: number,
  bitset?: Uint8Array,
): Hit[][] {
  const n = data.length / dim;
  const out: Hit[][] = [];
  for (let q = 0; q < queries.length / dim; q++) {
    const hits: Hit[] = [];
    for (let r = 0; r < n; r++) {
      if (bitset !== undefined && bitset[r] === 0) continue;
      const s = floatScore(data, r, queries, q, dim, metric as "L2" | "IP" | "COSINE");
      if (Number.isNaN(s)) continue;
      hits.push({ offset: r, score: Math.fround(s) });
    }
    out.push(rank(hits, metric !== "L2", topk));
  }
  return out;
}

function bit(bytes: Uint8Array, base: number, i: number): number {
  return (bytes[base + (i >> 3)]! >> (i & 7)) & 1;
}

/** Binary vectors, dim/8 bytes per row; bit by bit. */
export function refBinary(
  data: Uint8Array,
  dim: number,
  queries: Uint8Array,
  metric: "HAMMING" | "JACCARD",
  topk: number,
  bitset?: Uint8Array,
): Hit[][] {
  const B = dim / 8;
  const out: Hit[][] = [];
  for (let q = 0; q < queries.length / B; q++) {
    const hits: Hit[] = [];
    for (let r = 0; r < data.length / B; r++) {
      if (bitset !== undefined && bitset[r] === 0) continue;
      let diff = 0;
      let and = 0;
      let or = 0;
      for (let i = 0; i < dim; i++) {
        const a = bit(queries, q * B, i);
        const b = bit(data, r * B, i);
        diff += a ^ b;
        and += a & b;
        or += a | b;
      }
      const s = metric === "HAMMING" ? diff : or === 0 ? 0 : 1 - and / or;
      hits.push({ offset: r, score: Math.fround(s) });
    }
    out.push(rank(hits, false, topk));
  }
  return out;
}

/** Sparse IP through a Map; only positive products count as matches (Milvus). */
export function refSparse(
  rows: readonly SparseRow[],
  queries: readonly SparseRow[],
  topk: number,
  bitset?: Uint8Array,
): Hit[][] {
  return queries.map((q) => {
    const m = new Map<number, number>();
    q.indices.forEach((idx, i) => {
      m.set(idx, q.values[i]!);
    });
    const hits: Hit[] = [];
    rows.forEach((row, r) => {
      if (bitset !== undefined && bitset[r] === 0) return;
      let s = 0;
      row.indices.forEach((idx, i) => {
        const v = m.get(idx);
        if (v !== undefined) s += v * row.values[i]!;
      });
      if (s > 0) hits.push({ offset: r, score: Math.fround(s) });
    });
    return rank(hits, true, topk);
  });
}

/** IEEE binary16 by its definition (no bit tricks), for checking the decoder. */
export function refHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * 2 ** -14 * (m / 1024);
  if (e === 31) return m === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (e - 15) * (1 + m / 1024);
}

export function refBHalf(h: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, h << 16);
  return dv.getFloat32(0);
}

/** Scores equal within 1e-5 relative (exactly, when `exact`). */
export function closeEnough(got: number, want: number, exact: boolean): boolean {
  if (exact || got === want) return Object.is(got, want) || got === want;
  return Math.abs(got - want) <= 1e-5 * Math.max(Math.abs(want), 1e-6);
}

/** Asserts a SearchResult equals the reference: offsets exactly, scores within tolerance, padding. */
export function assertSameAsReference(
  res: SearchResult,
  ref: Hit[][],
  ctx: string,
  exactScores = false,
): void {
  assert.equal(res.nq, ref.length, `${ctx}: nq`);
  for (let q = 0; q < ref.length; q++) {
    const want = ref[q]!;
    for (let i = 0; i < res.topk; i++) {
      const off = res.offsets[q * res.topk + i]!;
      const score = res.scores[q * res.topk + i]!;
      const w = want[i];
      if (w === undefined) {
        if (off !== -1 || !Number.isNaN(score)) {
          assert.fail(`${ctx}: query ${q} rank ${i}: expected padding, got offset ${off} score ${score}`);
        }
        continue;
      }
      if (off !== w.offset || !closeEnough(score, w.score, exactScores)) {
        assert.fail(
          `${ctx}: query ${q} rank ${i}: got (${off}, ${score}) want (${w.offset}, ${w.score}); ` +
            `want top: ${JSON.stringify(want.slice(0, Math.min(want.length, i + 3)))}`,
        );
      }
    }
  }
}

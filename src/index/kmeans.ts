import usearch, { type BatchMatches, type Matches } from "usearch";
import { seededRandom } from "../common/random.ts";

/**
 * Seeded k-means for IVF coarse quantizers: k-means++ seeding on a sub-sample, then Lloyd
 * iterations on a training sample of at most `samplePerCentroid · k` rows (Faiss' default cap is
 * 256 per centroid; more rows barely move the centroids). Everything is squared-L2 on float32 rows;
 * the same seed and data give the same centroids on the same machine.
 *
 * The nearest-centroid step dominates (sample × k × dim per iteration). Large steps go to usearch's
 * native exact search (SIMD, optionally threaded), about 5× the JS kernel, which still serves small
 * steps where the call overhead does not pay: a 200k × 128 set with nlist 256 trains in a few
 * seconds instead of ~20. SIMD sums in another order than JS, so a near-tie may resolve differently
 * on another CPU; index bytes are reproducible per machine, not across instruction sets.
 */

export interface KMeansOptions {
  readonly k: number;
  readonly seed: number;
  /** Lloyd iterations; stops earlier when no assignment changes. Default 10. */
  readonly iterations?: number;
  /** Training rows per centroid. Default 256. */
  readonly samplePerCentroid?: number;
  /** Native threads for the nearest-centroid step. Default 1. */
  readonly threads?: number;
}

/** From this much work (rows × centroids × dim) the native exact search takes the assignment step. */
const NATIVE_FROM = 1 << 22;

/** `m` distinct row indices out of n (partial Fisher–Yates), ascending for cache-friendly reads. */
function sampleRows(n: number, m: number, rand: () => number): Int32Array {
  if (m >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.slice(0, m).sort();
}

function gather(data: Float32Array, dim: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    out.set(data.subarray(r * dim, (r + 1) * dim), i * dim);
  }
  return out;
}

function sqDist(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) {
    const d = a[ao + j]! - b[bo + j]!;
    s += d * d;
  }
  return s;
}

/** Trains k centroids (k × dim, row-major). Requires 1 ≤ k ≤ n. */
export function trainKMeans(data: Float32Array, n: number, dim: number, opts: KMeansOptions): Float32Array {
  const { k } = opts;
  if (!Number.isInteger(k) || k < 1 || k > n)
    throw new RangeError(`k-means: k must be in [1, ${n}], got ${k}`);
  const rand = seededRandom(opts.seed);
  const S = Math.min(n, k * (opts.samplePerCentroid ?? 256));
  const sample = S === n ? data.subarray(0, n * dim) : gather(data, dim, sampleRows(n, S, rand));
  // k-means++ costs k passes over its rows, so it seeds from a smaller sub-sample.
  const m = Math.min(S, Math.max(4096, 8 * k));
  const initRows = m === S ? sample : gather(sample, dim, sampleRows(S, m, rand));
  const centroids = kmeansPlusPlus(initRows, m, dim, k, rand);
  const assign = new Int32Array(S).fill(-1);
  const iterations = opts.iterations ?? 10;
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  const dist = new Float32Array(S);
  for (let it = 0; it < iterations; it++) {
    const changed = assignNearest(sample, S, dim, centroids, k, assign, dist, opts.threads ?? 1);
    if (changed === 0 && it > 0) break;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < S; i++) {
      const c = assign[i]!;
      counts[c]!++;
      const so = c * dim;
      const xo = i * dim;
      for (let j = 0; j < dim; j++) sums[so + j]! += sample[xo + j]!;
    }
    for (let c = 0; c < k; c++) {
      const cnt = counts[c]!;
      if (cnt === 0) continue;
      for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j]! / cnt;
    }
    splitEmpty(sample, S, dim, centroids, k, counts, assign, dist, rand);
  }
  return centroids;
}

function kmeansPlusPlus(
  x: Float32Array,
  m: number,
  dim: number,
  k: number,
  rand: () => number,
): Float32Array {
  const centroids = new Float32Array(k * dim);
  const first = Math.floor(rand() * m);
  centroids.set(x.subarray(first * dim, (first + 1) * dim), 0);
  const d2 = new Float64Array(m);
  let total = 0;
  for (let i = 0; i < m; i++) {
    d2[i] = sqDist(x, i * dim, centroids, 0, dim);
    total += d2[i]!;
  }
  for (let c = 1; c < k; c++) {
    let pick: number;
    if (total <= 0) {
      // Fewer distinct rows than centroids: any row will do; duplicates are split later.
      pick = Math.floor(rand() * m);
    } else {
      let target = rand() * total;
      pick = m - 1;
      for (let i = 0; i < m; i++) {
        target -= d2[i]!;
        if (target < 0) {
          pick = i;
          break;
        }
      }
    }
    centroids.set(x.subarray(pick * dim, (pick + 1) * dim), c * dim);
    total = 0;
    for (let i = 0; i < m; i++) {
      const d = sqDist(x, i * dim, centroids, c * dim, dim);
      if (d < d2[i]!) d2[i] = d;
      total += d2[i]!;
    }
  }
  return centroids;
}

/**
 * An empty cluster takes over a row far from its centroid in the largest cluster, nudged off it,
 * so no list stays empty while another is crowded.
 */
function splitEmpty(
  x: Float32Array,
  n: number,
  dim: number,
  centroids: Float32Array,
  k: number,
  counts: Int32Array,
  assign: Int32Array,
  dist: Float32Array,
  rand: () => number,
): void {
  for (let c = 0; c < k; c++) {
    if (counts[c] !== 0) continue;
    let big = 0;
    for (let j = 1; j < k; j++) if (counts[j]! > counts[big]!) big = j;
    if (counts[big]! < 2) return;
    let far = -1;
    let farD = -1;
    for (let i = 0; i < n; i++) {
      if (assign[i] === big && dist[i]! > farD) {
        farD = dist[i]!;
        far = i;
      }
    }
    for (let j = 0; j < dim; j++) {
      const v = x[far * dim + j]!;
      centroids[c * dim + j] = v + (rand() - 0.5) * 1e-4 * (Math.abs(v) + 1e-3);
    }
    assign[far] = c;
    counts[c] = 1;
    counts[big]!--;
    dist[far] = 0;
  }
}

/**
 * Nearest centroid (squared L2) of each of n rows into `out`; `dist` receives the squared distance
 * when given. Returns how many entries of `out` changed.
 */
export function assignNearest(
  x: Float32Array,
  n: number,
  dim: number,
  centroids: Float32Array,
  k: number,
  out: Int32Array,
  dist?: Float32Array,
  threads = 1,
): number {
  if (n * k * dim >= NATIVE_FROM && n > 1) return assignNative(x, n, dim, centroids, k, out, dist, threads);
  return assignJs(x, n, dim, centroids, k, out, dist);
}

function assignNative(
  x: Float32Array,
  n: number,
  dim: number,
  centroids: Float32Array,
  k: number,
  out: Int32Array,
  dist: Float32Array | undefined,
  threads: number,
): number {
  // exactSearch reads typed arrays from the start of their buffer, so pass exact, plain copies.
  const plain = (a: Float32Array, len: number) =>
    a.byteOffset === 0 && a.buffer instanceof ArrayBuffer && a.buffer.byteLength === len * 4
      ? a
      : a.slice(0, len);
  let changed = 0;
  // In slices, so the result arrays (16 bytes per row) stay small for large samples.
  const step = 1 << 16;
  const cents = plain(centroids, k * dim);
  for (let r0 = 0; r0 < n; r0 += step) {
    const rows = Math.min(step, n - r0);
    const q = x.slice(r0 * dim, (r0 + rows) * dim);
    const res = usearch.exactSearch(cents, q, dim, 1, usearch.MetricKind.L2sq, threads) as
      | Matches
      | BatchMatches;
    const keys = new Uint32Array(res.keys.buffer, res.keys.byteOffset, res.keys.length * 2);
    for (let i = 0; i < rows; i++) {
      const c = keys[2 * i]!;
      if (out[r0 + i] !== c) {
        out[r0 + i] = c;
        changed++;
      }
      if (dist !== undefined) dist[r0 + i] = res.distances[i]!;
    }
  }
  return changed;
}

/** ‖c‖² − 2x·c with four centroids per pass, so each row element is loaded once for four products. */
export function assignJs(
  x: Float32Array,
  n: number,
  dim: number,
  centroids: Float32Array,
  k: number,
  out: Int32Array,
  dist?: Float32Array,
): number {
  const cn = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += centroids[c * dim + j]! ** 2;
    cn[c] = s;
  }
  const k4 = k & ~3;
  let changed = 0;
  for (let i = 0; i < n; i++) {
    const xo = i * dim;
    let best = -1;
    let bestD = Number.POSITIVE_INFINITY;
    let c = 0;
    for (; c < k4; c += 4) {
      const o0 = c * dim;
      const o1 = o0 + dim;
      const o2 = o1 + dim;
      const o3 = o2 + dim;
      let d0 = 0;
      let d1 = 0;
      let d2 = 0;
      let d3 = 0;
      for (let j = 0; j < dim; j++) {
        const v = x[xo + j]!;
        d0 += v * centroids[o0 + j]!;
        d1 += v * centroids[o1 + j]!;
        d2 += v * centroids[o2 + j]!;
        d3 += v * centroids[o3 + j]!;
      }
      const s0 = cn[c]! - 2 * d0;
      const s1 = cn[c + 1]! - 2 * d1;
      const s2 = cn[c + 2]! - 2 * d2;
      const s3 = cn[c + 3]! - 2 * d3;
      if (s0 < bestD) {
        bestD = s0;
        best = c;
      }
      if (s1 < bestD) {
        bestD = s1;
        best = c + 1;
      }
      if (s2 < bestD) {
        bestD = s2;
        best = c + 2;
      }
      if (s3 < bestD) {
        bestD = s3;
        best = c + 3;
      }
    }
    for (; c < k; c++) {
      const o = c * dim;
      let d = 0;
      for (let j = 0; j < dim; j++) d += x[xo + j]! * centroids[o + j]!;
      const s = cn[c]! - 2 * d;
      if (s < bestD) {
        bestD = s;
        best = c;
      }
    }
    if (out[i] !== best) {
      out[i] = best;
      changed++;
    }
    if (dist !== undefined) {
      let xx = 0;
      for (let j = 0; j < dim; j++) xx += x[xo + j]! ** 2;
      dist[i] = Math.max(0, xx + bestD);
    }
  }
  return changed;
}

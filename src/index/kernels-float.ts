/**
 * Dense float kernels. Each writes one score per (query, listed row) into a tile; the scan folds the
 * tile into the top-k heaps. Rows come as a list of offsets so a bitset costs nothing inside the
 * kernels. Accumulation is in float64 (JS numbers): float32 products are exact in float64, so the
 * only rounding that matters is the final float32 one.
 *
 * Two shapes, chosen by measurement on the standard machine (200k x 128, see bench/search-kernels.ts):
 * - one query: two rows at a time, four accumulator lanes per row (j mod 4), then a scalar tail;
 * - four queries at a time: a 4-row x 4-query register block with one sequential accumulator per
 *   pair, which loads each row element once for four queries and each query element once for four
 *   rows (about 1.6x the single-query rate per query).
 * Per-row summation order never depends on which other rows are listed, so a row's score is the
 * same whatever the bitset; the two shapes may differ from each other in the last float32 bit.
 */

/** One query, L2 (sum of squared differences). */
export function l2One(
  X: Float32Array,
  d: number,
  rows: Int32Array,
  cnt: number,
  q: Float64Array,
  qo: number,
  tile: Float64Array,
): void {
  const d4 = d & ~3;
  let i = 0;
  for (; i + 2 <= cnt; i += 2) {
    const x0 = rows[i]! * d;
    const x1 = rows[i + 1]! * d;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    let b3 = 0;
    for (let j = 0; j < d4; j += 4) {
      const w0 = q[qo + j]!;
      const w1 = q[qo + j + 1]!;
      const w2 = q[qo + j + 2]!;
      const w3 = q[qo + j + 3]!;
      let t = w0 - X[x0 + j]!;
      a0 += t * t;
      t = w1 - X[x0 + j + 1]!;
      a1 += t * t;
      t = w2 - X[x0 + j + 2]!;
      a2 += t * t;
      t = w3 - X[x0 + j + 3]!;
      a3 += t * t;
      t = w0 - X[x1 + j]!;
      b0 += t * t;
      t = w1 - X[x1 + j + 1]!;
      b1 += t * t;
      t = w2 - X[x1 + j + 2]!;
      b2 += t * t;
      t = w3 - X[x1 + j + 3]!;
      b3 += t * t;
    }
    let s0 = a0 + a1 + a2 + a3;
    let s1 = b0 + b1 + b2 + b3;
    for (let j = d4; j < d; j++) {
      const w = q[qo + j]!;
      let t = w - X[x0 + j]!;
      s0 += t * t;
      t = w - X[x1 + j]!;
      s1 += t * t;
    }
    tile[i] = s0;
    tile[i + 1] = s1;
  }
  if (i < cnt) {
    const x0 = rows[i]! * d;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let j = 0; j < d4; j += 4) {
      let t = q[qo + j]! - X[x0 + j]!;
      a0 += t * t;
      t = q[qo + j + 1]! - X[x0 + j + 1]!;
      a1 += t * t;
      t = q[qo + j + 2]! - X[x0 + j + 2]!;
      a2 += t * t;
      t = q[qo + j + 3]! - X[x0 + j + 3]!;
      a3 += t * t;
    }
    let s0 = a0 + a1 + a2 + a3;
    for (let j = d4; j < d; j++) {
      const t = q[qo + j]! - X[x0 + j]!;
      s0 += t * t;
    }
    tile[i] = s0;
  }
}

/** One query, inner product. */
export function dotOne(
  X: Float32Array,
  d: number,
  rows: Int32Array,
  cnt: number,
  q: Float64Array,
  qo: number,
  tile: Float64Array,
): void {
  const d4 = d & ~3;
  let i = 0;
  for (; i + 2 <= cnt; i += 2) {
    const x0 = rows[i]! * d;
    const x1 = rows[i + 1]! * d;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    let b3 = 0;
    for (let j = 0; j < d4; j += 4) {
      const w0 = q[qo + j]!;
      const w1 = q[qo + j + 1]!;
      const w2 = q[qo + j + 2]!;
      const w3 = q[qo + j + 3]!;
      a0 += w0 * X[x0 + j]!;
      a1 += w1 * X[x0 + j + 1]!;
      a2 += w2 * X[x0 + j + 2]!;
      a3 += w3 * X[x0 + j + 3]!;
      b0 += w0 * X[x1 + j]!;
      b1 += w1 * X[x1 + j + 1]!;
      b2 += w2 * X[x1 + j + 2]!;
      b3 += w3 * X[x1 + j + 3]!;
    }
    let s0 = a0 + a1 + a2 + a3;
    let s1 = b0 + b1 + b2 + b3;
    for (let j = d4; j < d; j++) {
      const w = q[qo + j]!;
      s0 += w * X[x0 + j]!;
      s1 += w * X[x1 + j]!;
    }
    tile[i] = s0;
    tile[i + 1] = s1;
  }
  if (i < cnt) {
    const x0 = rows[i]! * d;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let j = 0; j < d4; j += 4) {
      a0 += q[qo + j]! * X[x0 + j]!;
      a1 += q[qo + j + 1]! * X[x0 + j + 1]!;
      a2 += q[qo + j + 2]! * X[x0 + j + 2]!;
      a3 += q[qo + j + 3]! * X[x0 + j + 3]!;
    }
    let s0 = a0 + a1 + a2 + a3;
    for (let j = d4; j < d; j++) s0 += q[qo + j]! * X[x0 + j]!;
    tile[i] = s0;
  }
}

/**
 * Four queries (element offsets q0..q3 into q; repeats allowed for padding), L2. Writes query g's
 * scores at tile[g * stride + i].
 */
export function l2Four(
  X: Float32Array,
  d: number,
  rows: Int32Array,
  cnt: number,
  q: Float64Array,
  q0: number,
  q1: number,
  q2: number,
  q3: number,
  tile: Float64Array,
  stride: number,
): void {
  let i = 0;
  for (; i + 4 <= cnt; i += 4) {
    const x0 = rows[i]! * d;
    const x1 = rows[i + 1]! * d;
    const x2 = rows[i + 2]! * d;
    const x3 = rows[i + 3]! * d;
    let s00 = 0;
    let s01 = 0;
    let s02 = 0;
    let s03 = 0;
    let s10 = 0;
    let s11 = 0;
    let s12 = 0;
    let s13 = 0;
    let s20 = 0;
    let s21 = 0;
    let s22 = 0;
    let s23 = 0;
    let s30 = 0;
    let s31 = 0;
    let s32 = 0;
    let s33 = 0;
    for (let j = 0; j < d; j++) {
      const v0 = X[x0 + j]!;
      const v1 = X[x1 + j]!;
      const v2 = X[x2 + j]!;
      const v3 = X[x3 + j]!;
      let w = q[q0 + j]!;
      let t = w - v0;
      s00 += t * t;
      t = w - v1;
      s01 += t * t;
      t = w - v2;
      s02 += t * t;
      t = w - v3;
      s03 += t * t;
      w = q[q1 + j]!;
      t = w - v0;
      s10 += t * t;
      t = w - v1;
      s11 += t * t;
      t = w - v2;
      s12 += t * t;
      t = w - v3;
      s13 += t * t;
      w = q[q2 + j]!;
      t = w - v0;
      s20 += t * t;
      t = w - v1;
      s21 += t * t;
      t = w - v2;
      s22 += t * t;
      t = w - v3;
      s23 += t * t;
      w = q[q3 + j]!;
      t = w - v0;
      s30 += t * t;
      t = w - v1;
      s31 += t * t;
      t = w - v2;
      s32 += t * t;
      t = w - v3;
      s33 += t * t;
    }
    tile[i] = s00;
    tile[i + 1] = s01;
    tile[i + 2] = s02;
    tile[i + 3] = s03;
    tile[stride + i] = s10;
    tile[stride + i + 1] = s11;
    tile[stride + i + 2] = s12;
    tile[stride + i + 3] = s13;
    tile[2 * stride + i] = s20;
    tile[2 * stride + i + 1] = s21;
    tile[2 * stride + i + 2] = s22;
    tile[2 * stride + i + 3] = s23;
    tile[3 * stride + i] = s30;
    tile[3 * stride + i + 1] = s31;
    tile[3 * stride + i + 2] = s32;
    tile[3 * stride + i + 3] = s33;
  }
  for (; i < cnt; i++) {
    const x0 = rows[i]! * d;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < d; j++) {
      const v = X[x0 + j]!;
      let t = q[q0 + j]! - v;
      s0 += t * t;
      t = q[q1 + j]! - v;
      s1 += t * t;
      t = q[q2 + j]! - v;
      s2 += t * t;
      t = q[q3 + j]! - v;
      s3 += t * t;
    }
    tile[i] = s0;
    tile[stride + i] = s1;
    tile[2 * stride + i] = s2;
    tile[3 * stride + i] = s3;
  }
}

/** Four queries, inner product; layout as l2Four. */
export function dotFour(
  X: Float32Array,
  d: number,
  rows: Int32Array,
  cnt: number,
  q: Float64Array,
  q0: number,
  q1: number,
  q2: number,
  q3: number,
  tile: Float64Array,
  stride: number,
): void {
  let i = 0;
  for (; i + 4 <= cnt; i += 4) {
    const x0 = rows[i]! * d;
    const x1 = rows[i + 1]! * d;
    const x2 = rows[i + 2]! * d;
    const x3 = rows[i + 3]! * d;
    let s00 = 0;
    let s01 = 0;
    let s02 = 0;
    let s03 = 0;
    let s10 = 0;
    let s11 = 0;
    let s12 = 0;
    let s13 = 0;
    let s20 = 0;
    let s21 = 0;
    let s22 = 0;
    let s23 = 0;
    let s30 = 0;
    let s31 = 0;
    let s32 = 0;
    let s33 = 0;
    for (let j = 0; j < d; j++) {
      const v0 = X[x0 + j]!;
      const v1 = X[x1 + j]!;
      const v2 = X[x2 + j]!;
      const v3 = X[x3 + j]!;
      let w = q[q0 + j]!;
      s00 += w * v0;
      s01 += w * v1;
      s02 += w * v2;
      s03 += w * v3;
      w = q[q1 + j]!;
      s10 += w * v0;
      s11 += w * v1;
      s12 += w * v2;
      s13 += w * v3;
      w = q[q2 + j]!;
      s20 += w * v0;
      s21 += w * v1;
      s22 += w * v2;
      s23 += w * v3;
      w = q[q3 + j]!;
      s30 += w * v0;
      s31 += w * v1;
      s32 += w * v2;
      s33 += w * v3;
    }
    tile[i] = s00;
    tile[i + 1] = s01;
    tile[i + 2] = s02;
    tile[i + 3] = s03;
    tile[stride + i] = s10;
    tile[stride + i + 1] = s11;
    tile[stride + i + 2] = s12;
    tile[stride + i + 3] = s13;
    tile[2 * stride + i] = s20;
    tile[2 * stride + i + 1] = s21;
    tile[2 * stride + i + 2] = s22;
    tile[2 * stride + i + 3] = s23;
    tile[3 * stride + i] = s30;
    tile[3 * stride + i + 1] = s31;
    tile[3 * stride + i + 2] = s32;
    tile[3 * stride + i + 3] = s33;
  }
  for (; i < cnt; i++) {
    const x0 = rows[i]! * d;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < d; j++) {
      const v = X[x0 + j]!;
      s0 += q[q0 + j]! * v;
      s1 += q[q1 + j]! * v;
      s2 += q[q2 + j]! * v;
      s3 += q[q3 + j]! * v;
    }
    tile[i] = s0;
    tile[stride + i] = s1;
    tile[2 * stride + i] = s2;
    tile[3 * stride + i] = s3;
  }
}

/** Euclidean norm of each listed row (for COSINE when the segment has no cached norms). */
export function rowNorms(X: Float32Array, d: number, rows: Int32Array, cnt: number, out: Float64Array): void {
  for (let i = 0; i < cnt; i++) out[i] = rowNorm(X, rows[i]! * d, d);
}

/** Euclidean norm of X[o .. o + d), in the single-query kernels' lane order. */
export function rowNorm(X: Float32Array, o: number, d: number): number {
  const d4 = d & ~3;
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  for (let j = 0; j < d4; j += 4) {
    const t0 = X[o + j]!;
    const t1 = X[o + j + 1]!;
    const t2 = X[o + j + 2]!;
    const t3 = X[o + j + 3]!;
    a0 += t0 * t0;
    a1 += t1 * t1;
    a2 += t2 * t2;
    a3 += t3 * t3;
  }
  let s = a0 + a1 + a2 + a3;
  for (let j = d4; j < d; j++) {
    const t = X[o + j]!;
    s += t * t;
  }
  return Math.sqrt(s);
}

/** rowNorm for a float64 query vector (kept separate so each stays monomorphic). */
export function queryNorm(q: Float64Array, o: number, d: number): number {
  const d4 = d & ~3;
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  for (let j = 0; j < d4; j += 4) {
    const t0 = q[o + j]!;
    const t1 = q[o + j + 1]!;
    const t2 = q[o + j + 2]!;
    const t3 = q[o + j + 3]!;
    a0 += t0 * t0;
    a1 += t1 * t1;
    a2 += t2 * t2;
    a3 += t3 * t3;
  }
  let s = a0 + a1 + a2 + a3;
  for (let j = d4; j < d; j++) {
    const t = q[o + j]!;
    s += t * t;
  }
  return Math.sqrt(s);
}

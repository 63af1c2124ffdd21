/**
 * Binary kernels over 32-bit words. Rows are padded to whole words with zero bits, which change
 * neither XOR, AND nor OR popcounts.
 */

function pop32(x: number): number {
  // SWAR popcount; the first subtraction may go negative, which the following & re-wraps mod 2^32.
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  v = (v + (v >>> 4)) & 0x0f0f0f0f;
  return Math.imul(v, 0x01010101) >>> 24;
}

/** Hamming distance (differing bits) from query words q[qo .. qo + W) to each listed row. */
export function hammingOne(
  X: Uint32Array,
  W: number,
  rows: Int32Array,
  cnt: number,
  q: Uint32Array,
  qo: number,
  tile: Float64Array,
): void {
  for (let i = 0; i < cnt; i++) {
    const xo = rows[i]! * W;
    let s = 0;
    for (let j = 0; j < W; j++) s += pop32(X[xo + j]! ^ q[qo + j]!);
    tile[i] = s;
  }
}

/** Jaccard distance 1 - |a AND b| / |a OR b|; two all-zero vectors are at distance 0. */
export function jaccardOne(
  X: Uint32Array,
  W: number,
  rows: Int32Array,
  cnt: number,
  q: Uint32Array,
  qo: number,
  tile: Float64Array,
): void {
  for (let i = 0; i < cnt; i++) {
    const xo = rows[i]! * W;
    let both = 0;
    let either = 0;
    for (let j = 0; j < W; j++) {
      const a = X[xo + j]!;
      const b = q[qo + j]!;
      both += pop32(a & b);
      either += pop32(a | b);
    }
    tile[i] = either === 0 ? 0 : 1 - both / either;
  }
}

/**
 * Per-dimension 8-bit scalar quantization (IVF_SQ8): x_d ≈ min_d + scale_d · code_d with
 * scale_d = (max_d − min_d) / 255, from the min and max of each dimension over the data.
 * Distances are computed on the codes without decoding rows (see SQ8 query forms in ivf.ts).
 */

export interface Sq8Params {
  readonly min: Float32Array;
  readonly scale: Float32Array;
}

export function trainSq8(data: Float32Array, n: number, dim: number): Sq8Params {
  const lo = new Float32Array(dim).fill(Number.POSITIVE_INFINITY);
  const hi = new Float32Array(dim).fill(Number.NEGATIVE_INFINITY);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let j = 0; j < dim; j++) {
      const v = data[o + j]!;
      if (v < lo[j]!) lo[j] = v;
      if (v > hi[j]!) hi[j] = v;
    }
  }
  const scale = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    if (n === 0) lo[j] = 0;
    // A constant dimension gets scale 0: every code is 0 and decodes to the constant exactly.
    else scale[j] = (hi[j]! - lo[j]!) / 255;
  }
  return { min: lo, scale };
}

/** Encodes row `src` of `data` into `codes` at row `dst`. */
export function encodeSq8Row(
  p: Sq8Params,
  data: Float32Array,
  src: number,
  codes: Uint8Array,
  dst: number,
  dim: number,
): void {
  const so = src * dim;
  const co = dst * dim;
  for (let j = 0; j < dim; j++) {
    const s = p.scale[j]!;
    const c = s === 0 ? 0 : Math.round((data[so + j]! - p.min[j]!) / s);
    codes[co + j] = c < 0 ? 0 : c > 255 ? 255 : c;
  }
}

/** Σ_d (scale_d · code_d)², the row-only term of the squared L2 distance on codes. */
export function sq8RowTerm(p: Sq8Params, codes: Uint8Array, row: number, dim: number): number {
  const o = row * dim;
  let s = 0;
  for (let j = 0; j < dim; j++) {
    const v = p.scale[j]! * codes[o + j]!;
    s += v * v;
  }
  return s;
}

/** The decoded row (for tests and diagnostics). */
export function decodeSq8Row(p: Sq8Params, codes: Uint8Array, row: number, dim: number): Float32Array {
  const out = new Float32Array(dim);
  for (let j = 0; j < dim; j++) out[j] = p.min[j]! + p.scale[j]! * codes[row * dim + j]!;
  return out;
}

/**
 * Sparse inner product of one stored row (indices ind[start .. end), strictly increasing) with a query.
 * Both forms add the products of shared dimensions in increasing index order, so they agree exactly.
 */

/** Against a query scattered into `dense` (zero where the query has no entry), for indices <= maxIdx. */
export function sparseDotDense(
  ind: Uint32Array,
  val: Float32Array,
  start: number,
  end: number,
  dense: Float64Array,
  maxIdx: number,
): number {
  let s = 0;
  for (let p = start; p < end; p++) {
    const idx = ind[p]!;
    if (idx <= maxIdx) s += dense[idx]! * val[p]!;
  }
  return s;
}

/** Against a query given as sorted (qi, qv), by merging the two index lists. */
export function sparseDotMerge(
  ind: Uint32Array,
  val: Float32Array,
  start: number,
  end: number,
  qi: Uint32Array,
  qv: Float32Array,
): number {
  let s = 0;
  let a = start;
  let b = 0;
  const qn = qi.length;
  while (a < end && b < qn) {
    const x = ind[a]!;
    const y = qi[b]!;
    if (x === y) {
      s += qv[b]! * val[a]!;
      a++;
      b++;
    } else if (x < y) a++;
    else b++;
  }
  return s;
}

// Seeded test data for the index tests.
import type { SparseRow } from "../../src/common/column.ts";
import { rng } from "../helpers/env.ts";

export type Rand = () => number;

export { rng };

/** Standard normal values (Box–Muller). */
export function gaussians(r: Rand, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - r();
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Small integers in [-k, k]: sums are exact, so ties are exact and frequent. */
export function smallInts(r: Rand, n: number, k: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * (2 * k + 1)) - k;
  return out;
}

export function bytes(r: Rand, n: number, pOne = 0.5): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let k = 0; k < 8; k++) if (r() < pOne) b |= 1 << k;
    out[i] = b;
  }
  return out;
}

/** 1 with probability p. */
export function bitset(r: Rand, n: number, p: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r() < p ? 1 : 0;
  return out;
}

/** A sparse row with up to maxNnz entries drawn from [0, maxIndex). */
export function sparseRow(r: Rand, maxNnz: number, maxIndex: number, signed = false): SparseRow {
  const n = Math.floor(r() * (maxNnz + 1));
  const set = new Set<number>();
  while (set.size < Math.min(n, maxIndex)) set.add(Math.floor(r() * maxIndex));
  const indices = Uint32Array.from([...set].sort((a, b) => a - b));
  const values = new Float32Array(indices.length);
  for (let i = 0; i < values.length; i++) values[i] = signed ? r() * 2 - 1 : r() + 0.01;
  return { indices, values };
}

import { seededRandom as mulberry32 } from "../src/common/random.ts";

/**
 * The seeded clustered dataset of ../shared/research/perf-notes.md §3.2: 1,000 centres drawn from
 * N(0,1)^d, each cluster with its own σ ~ U(0.25, 0.6), points = centre + σ·N(0,1)^d.
 */
export { mulberry32 };

export interface Clustered {
  readonly base: Float32Array;
  readonly queries: Float32Array;
  readonly n: number;
  readonly nq: number;
  readonly dim: number;
}

export function clustered(n: number, dim: number, nq: number, seed: number, centres = 1000): Clustered {
  const r = mulberry32(seed);
  let spare: number | undefined;
  const gauss = () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    spare = m * Math.sin(2 * Math.PI * v);
    return m * Math.cos(2 * Math.PI * v);
  };
  const c = new Float32Array(centres * dim);
  for (let i = 0; i < c.length; i++) c[i] = gauss();
  const sigma = Float32Array.from({ length: centres }, () => 0.25 + r() * 0.35);
  const point = (out: Float32Array, at: number) => {
    const k = Math.floor(r() * centres);
    const s = sigma[k] as number;
    for (let j = 0; j < dim; j++) out[at + j] = (c[k * dim + j] as number) + s * gauss();
  };
  const base = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) point(base, i * dim);
  const queries = new Float32Array(nq * dim);
  for (let i = 0; i < nq; i++) point(queries, i * dim);
  return { base, queries, n, nq, dim };
}

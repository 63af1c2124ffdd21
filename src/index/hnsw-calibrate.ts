import { seededRandom } from "../common/random.ts";
import { type HnswNative, type NativeHnswHandle, NativeMode } from "./hnsw-native.ts";

/**
 * How wide the addon's two-hop walk must be, measured on the graph it will search.
 *
 * The two-hop walk (hnsw.ts, nativePlan) needs more or less width than usearch's filtered walk for
 * the same recall depending on the graph, not on anything the plan knows: at 10 % passing it
 * reached that recall at 0.5–0.75 × the width on 200k × 128 clustered rows (M 16, efConstruction
 * 200), but needed ~2× on 20k × 48 built with efConstruction 64 and 1.5–2.5× on 50k × 768 cosine.
 * A fixed widening either wastes most of the walk on good graphs or loses recall on weak ones, so
 * each graph the addon builds is measured once, at build time, and the factors go into its index
 * file (trailer property `twoHopWidths`).
 *
 * The measure, per fraction passing s in TWO_HOP_LEVELS: CALIBRATION_QUERIES queries near the data
 * (midpoints of a seeded random row and its nearest neighbour) are searched under a seeded random
 * filter passing a fraction s. The target is the recall@10, against the exact top-10 of the
 * passing rows (the addon's exact scan), of usearch's filtered walk at width REFERENCE_EF, capped
 * at RECALL_CAP. The factor is the smallest of WIDTH_LADDER whose two-hop walk at REFERENCE_EF ×
 * factor comes within RECALL_SLACK of it (found by binary search: recall grows with the width), or
 * Infinity when the widest does not: below ~5–10 % passing the passing rows can stop being
 * connected through two hops and no width makes up for it, so the plan keeps usearch's walk there.
 * Where the recall curve is flat near the target, the factor found varies with the seed (0.5–1.25
 * on the 200k set, 1–2.5 on 50k × 768) at the same recall to within ~1 %.
 * Stored in files as 0 (JSON has no Infinity); null is a level not measured (NaN here).
 * Above the last level the last factor is used (two-hop connects better as more rows pass).
 * Cost: an exact scan of s·n rows and up to 6 walks per query and level (~0.7 s on 50k × 768; a
 * linear climb of the ladder took 0.3–0.5 s on 200k × 128 and 0.5–1.3 s on 50k × 768). The 7 %
 * level is there because 5 % is often out of the two-hop walk's reach (both bench sets) while 7 %
 * is not (200k: factor 1), and between a reachable and an unreachable level the plan must assume
 * the worst.
 */
export const TWO_HOP_LEVELS: readonly number[] = [0.05, 0.07, 0.1];
export const WIDTH_LADDER: readonly number[] = [0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4];
const REFERENCE_EF = 32;
const K = 10;
const CALIBRATION_QUERIES = 100;
/** Five top-10 hits in 1,000 (100 queries give 1,000 slots), about the measure's own noise. */
const RECALL_SLACK = 0.005;
/**
 * Where the filtered walk's recall is higher, the two-hop walk only has to reach this: between
 * 0.99 and 1 the measure is a handful of queries' misses, and chasing it doubled the width.
 */
const RECALL_CAP = 0.99;
/** Below this many passing rows at a level the measure is too coarse; that level is not calibrated. */
const MIN_PASSING = 500;

/** Width factors measured per TWO_HOP_LEVELS entry (NaN: not measured, Infinity: never enough). */
export type TwoHopWidths = readonly number[];

/**
 * Measures the two-hop width factors of a float graph the addon holds (`vectors` are its rows, in
 * row order). Returns undefined when the graph is too small for any level to be measured. Pure
 * reads of the graph; `threads` spreads the batched searches.
 */
export function calibrateTwoHop(
  lib: HnswNative,
  handle: NativeHnswHandle,
  vectors: Float32Array,
  n: number,
  dim: number,
  threads: number,
  seed = n * 2654435761 + dim,
): TwoHopWidths | undefined {
  const nq = Math.min(CALIBRATION_QUERIES, Math.floor(n / 20));
  if (nq < 8) return undefined;
  const random = seededRandom(seed); // not Math.random: the same graph measures the same
  const widest = Math.ceil(REFERENCE_EF * WIDTH_LADDER[WIDTH_LADDER.length - 1]!);
  const out = {
    keys: new Int32Array(nq * widest),
    distances: new Float32Array(nq * widest),
    counts: new Uint32Array(nq),
  };
  // Queries between two close rows, like a new vector near the data, rather than a stored row
  // (a walk finds a stored row's own place too easily): the midpoint of a random row and its
  // nearest other row. Both rows fail every filter below, so neither is an answer.
  const rows = new Int32Array(nq * 2);
  const queries = new Float32Array(nq * dim);
  for (let i = 0; i < nq; i++) {
    const r = Math.floor(random() * n);
    rows[2 * i] = r;
    queries.set(vectors.subarray(r * dim, (r + 1) * dim), i * dim);
  }
  lib.search(handle, queries, nq, 2, REFERENCE_EF, threads, undefined, NativeMode.Walk, out);
  for (let i = 0; i < nq; i++) {
    const a = rows[2 * i]!;
    const first = out.keys[2 * i]!;
    const b = out.counts[i]! < 2 ? a : first === a ? out.keys[2 * i + 1]! : first;
    rows[2 * i + 1] = b;
    for (let j = 0; j < dim; j++) queries[i * dim + j] = (vectors[a * dim + j]! + vectors[b * dim + j]!) / 2;
  }
  const topOf = (wanted: number, ef: number, filter: Uint8Array, mode: NativeMode): Int32Array[] => {
    lib.search(handle, queries, nq, wanted, ef, threads, filter, mode, out);
    return Array.from({ length: nq }, (_, q) =>
      out.keys.slice(q * wanted, q * wanted + Math.min(K, out.counts[q]!)),
    );
  };
  const widths: number[] = [];
  let measured = false;
  for (const s of TWO_HOP_LEVELS) {
    const allow = new Uint8Array(n);
    let passing = 0;
    for (let i = 0; i < n; i++) {
      if (random() < s) {
        allow[i] = 1;
        passing++;
      }
    }
    for (const r of rows) {
      passing -= allow[r]!;
      allow[r] = 0;
    }
    if (passing < MIN_PASSING) {
      widths.push(Number.NaN);
      continue;
    }
    const truth = topOf(K, K, allow, NativeMode.Scan).map((t) => new Set(t));
    const recall = (found: Int32Array[]): number => {
      let hits = 0;
      found.forEach((f, q) => {
        for (const r of f) if (truth[q]!.has(r)) hits++;
      });
      return hits / (nq * K);
    };
    const walk = recall(topOf(REFERENCE_EF, REFERENCE_EF, allow, NativeMode.Walk));
    const target = Math.min(walk, RECALL_CAP) - RECALL_SLACK;
    const reaches = (f: number): boolean => {
      const ef = Math.max(K, Math.ceil(REFERENCE_EF * f));
      return recall(topOf(ef, ef, allow, NativeMode.TwoHop)) >= target;
    };
    // Recall grows with the width, so: the widest rung first (when it misses, none is taken:
    // the usual case at 5 %, where a rung-by-rung climb cost nine walks, the widest ones most),
    // then a binary search for the narrowest that reaches the target.
    let width = Number.POSITIVE_INFINITY;
    let lo = 0;
    let hi = WIDTH_LADDER.length - 1;
    if (reaches(WIDTH_LADDER[hi]!)) {
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (reaches(WIDTH_LADDER[mid]!)) hi = mid;
        else lo = mid + 1;
      }
      width = WIDTH_LADDER[hi]!;
    }
    widths.push(width);
    measured = true;
  }
  return measured ? widths : undefined;
}

/**
 * The width factor for a fraction `s` passing, from measured `widths`: interpolated between the
 * levels (in log s; Infinity next to a level where no width was enough), the nearest measured
 * level's beyond them; undefined when none was measured.
 */
export function twoHopWidthAt(widths: TwoHopWidths, s: number): number | undefined {
  const pts: [number, number][] = [];
  TWO_HOP_LEVELS.forEach((level, i) => {
    const w = widths[i];
    if (w !== undefined && !Number.isNaN(w)) pts.push([Math.log(level), w]);
  });
  if (pts.length === 0) return undefined;
  const x = Math.log(s);
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  if (x <= first[0]) return first[1];
  if (x >= last[0]) return last[1];
  for (let i = 1; i < pts.length; i++) {
    const [x1, y1] = pts[i]!;
    const [x0, y0] = pts[i - 1]!;
    if (x <= x1) {
      if (y0 === Number.POSITIVE_INFINITY || y1 === Number.POSITIVE_INFINITY)
        return x === x1 ? y1 : Number.POSITIVE_INFINITY;
      return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
    }
  }
  return last[1];
}

/** Widths as an index file stores them: with their levels, Infinity as 0, NaN as null. */
export interface StoredTwoHopWidths {
  readonly levels: readonly number[];
  readonly widths: readonly (number | null)[];
}

export function storedTwoHopWidths(widths: TwoHopWidths): StoredTwoHopWidths {
  return {
    levels: TWO_HOP_LEVELS,
    widths: widths.map((w) => (Number.isNaN(w) ? null : w === Number.POSITIVE_INFINITY ? 0 : w)),
  };
}

/**
 * Widths read back from a file: `{ widths }`, with `widths` undefined when they were measured at
 * other levels than this build's TWO_HOP_LEVELS (sound, but not usable here: the plan's fixed rule
 * stands in); undefined when they are not what storedTwoHopWidths writes (one entry per level,
 * each null, 0 or a factor in the ladder's range).
 */
export function parseTwoHopWidths(v: unknown): { widths: TwoHopWidths | undefined } | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const { levels, widths } = v as { levels?: unknown; widths?: unknown };
  if (!Array.isArray(levels) || !Array.isArray(widths) || levels.length !== widths.length) return undefined;
  if (!levels.every((l) => typeof l === "number" && l > 0 && l < 1)) return undefined;
  const lo = WIDTH_LADDER[0]!;
  const hi = WIDTH_LADDER[WIDTH_LADDER.length - 1]!;
  const out: number[] = [];
  for (const w of widths as unknown[]) {
    if (w === null) out.push(Number.NaN);
    else if (w === 0) out.push(Number.POSITIVE_INFINITY);
    else if (typeof w === "number" && w >= lo && w <= hi) out.push(w);
    else return undefined;
  }
  const same = levels.length === TWO_HOP_LEVELS.length && levels.every((l, i) => l === TWO_HOP_LEVELS[i]);
  return { widths: same ? out : undefined };
}

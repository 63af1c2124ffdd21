// The two-hop walk's width, measured per graph at build time (src/index/hnsw-calibrate.ts): what is
// measured, that it is kept, and that the plan using it still meets the brute-force oracle.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HnswIndex } from "../../src/index/hnsw.ts";
import {
  calibrateTwoHop,
  parseTwoHopWidths,
  storedTwoHopWidths,
  TWO_HOP_LEVELS,
  twoHopWidthAt,
  WIDTH_LADDER,
} from "../../src/index/hnsw-calibrate.ts";
import { loadHnswNative, NativeMode } from "../../src/index/hnsw-native.ts";
import { indexToBytes, loadIndexBytes, verifyIndexBytes } from "../../src/index/index-file.ts";
import { clustered, exactTopK, floatScorer, randomFilter, recallAtK } from "./ann-data.ts";

const SEED = 53;
const N = 12_000;
const DIM = 32;
const NQ = 80;
const K = 10;
const d = clustered(N, DIM, NQ, SEED, 300);
const lib = loadHnswNative();
const INF = Number.POSITIVE_INFINITY;

describe("two-hop width factors: interpolation and storage", () => {
  it("interpolates in log s between measured levels, clamps beyond them, and keeps Infinity", () => {
    assert.equal(TWO_HOP_LEVELS.length, 3);
    const [a, b, c] = TWO_HOP_LEVELS as [number, number, number];
    assert.equal(twoHopWidthAt([3, 2, 1], a), 3);
    assert.equal(twoHopWidthAt([3, 2, 1], c), 1);
    assert.equal(twoHopWidthAt([3, 2, 1], a / 10), 3, "below the first level: the first factor");
    assert.equal(twoHopWidthAt([3, 2, 1], 0.9), 1, "above the last: the last");
    const mid = Math.sqrt(b * c);
    assert.ok(Math.abs(twoHopWidthAt([3, 2, 1], mid)! - 1.5) < 1e-9, "halfway in log s");
    assert.equal(twoHopWidthAt([INF, 2, 1], Math.sqrt(a * b)), INF, "next to a level no width reached");
    assert.equal(twoHopWidthAt([INF, 2, 1], b), 2);
    assert.ok(Math.abs(twoHopWidthAt([INF, 2, 1], mid)! - 1.5) < 1e-9, "reachable on both sides");
    assert.equal(twoHopWidthAt([Number.NaN, 2, 1], a), 2, "an unmeasured level is skipped");
    assert.equal(twoHopWidthAt([Number.NaN, Number.NaN, Number.NaN], b), undefined);
  });

  it("storage: with its levels, Infinity as 0, NaN as null; other levels are dropped, bad values refused", () => {
    const widths = [INF, Number.NaN, 0.75];
    const stored = storedTwoHopWidths(widths);
    assert.deepEqual(stored, { levels: TWO_HOP_LEVELS, widths: [0, null, 0.75] });
    assert.deepEqual(parseTwoHopWidths(JSON.parse(JSON.stringify(stored))), { widths });
    // Measured at other levels (another build of Strata): sound, but not usable positionally.
    assert.deepEqual(parseTwoHopWidths({ levels: [0.05, 0.1], widths: [0, 1] }), { widths: undefined });
    for (const bad of [
      { levels: [0.05, 0.1], widths: [1] },
      { levels: [0.05, 2, 0.1], widths: [1, 1, 1] },
      { levels: TWO_HOP_LEVELS, widths: [0.1, 1, 1] },
      { levels: TWO_HOP_LEVELS, widths: [1, 5, 1] },
      { levels: TWO_HOP_LEVELS, widths: ["1", 1, 1] },
      { widths: [1, 1, 1] },
      [1, 1, 1],
      null,
    ])
      assert.equal(parseTwoHopWidths(bad), undefined, JSON.stringify(bad));
  });
});

describe(`two-hop calibration on clustered ${N} × ${DIM} (seed ${SEED})`, { skip: lib === undefined }, () => {
  it("measures one factor per level, from the ladder or Infinity, the same for the same graph and seed", () => {
    const idx = HnswIndex.build(
      { type: "HNSW", metric: "L2", dim: DIM, params: { M: 12, efConstruction: 48 } },
      d.base,
      { threads: 1 },
    );
    const widths = idx.twoHopWidths;
    assert.ok(widths !== undefined, "an addon build is calibrated");
    assert.equal(widths.length, TWO_HOP_LEVELS.length);
    for (const w of widths) assert.ok(w === INF || WIDTH_LADDER.includes(w), `factor ${w}`);
    // The file keeps them; and measuring the same graph again with the same seed gives them again.
    const bytes = indexToBytes(idx);
    const reopened = loadIndexBytes(bytes) as HnswIndex;
    assert.deepEqual(reopened.twoHopWidths, widths);
    const native = loadHnswNative()!;
    const h = native.openBytes(bytes.subarray(0, verifyIndexBytes(bytes).payloadLength));
    assert.deepEqual(calibrateTwoHop(native, h, d.base, N, DIM, 2), widths, "two threads, same answer");
    native.close(h);
    reopened.close();
    idx.close();
  });

  it("too small a graph is not measured, and then the fixed rule plans", () => {
    const small = d.base.subarray(0, 150 * DIM);
    const idx = HnswIndex.build({ type: "HNSW", metric: "L2", dim: DIM, params: { M: 8 } }, small);
    assert.equal(idx.twoHopWidths, undefined);
    idx.close();
  });

  it("the calibrated plan keeps filtered recall: 5 %, 10 % and 25 % passing, vs brute force and usearch's walk", () => {
    const idx = HnswIndex.build(
      { type: "HNSW", metric: "COSINE", dim: DIM, params: { M: 16, efConstruction: 64 } },
      d.base,
      { threads: 2 },
    );
    assert.ok(idx.twoHopWidths !== undefined);
    const sc = floatScorer(d.base, d.queries, DIM, "COSINE");
    const native = loadHnswNative()!;
    const bytes = indexToBytes(idx);
    const h = native.openBytes(bytes.subarray(0, verifyIndexBytes(bytes).payloadLength));
    for (const p of [0.05, 0.1, 0.25]) {
      const filter = randomFilter(N, p, SEED + Math.round(p * 100));
      const truth = exactTopK(d.base, DIM, d.queries, NQ, "COSINE", K, filter);
      // Graph only (no exact scan), so the walk the widths steer is what is measured.
      const graphOnly = loadIndexBytes(bytes, { hnsw: { filterExactFactor: 0 } }) as HnswIndex;
      const got = graphOnly.search(d.queries, NQ, K, { ef: 32 }, filter);
      const r = recallAtK(got, truth, "COSINE", sc, filter);
      // usearch's own filtered walk at the same width, on the same graph.
      const out = {
        keys: new Int32Array(NQ * 32),
        distances: new Float32Array(NQ * 32),
        counts: new Uint32Array(NQ),
      };
      native.search(h, d.queries, NQ, 32, 32, 1, filter, NativeMode.Walk, out);
      const walk = {
        nq: NQ,
        topk: K,
        offsets: Int32Array.from({ length: NQ * K }, (_, i) => out.keys[Math.floor(i / K) * 32 + (i % K)]!),
        scores: new Float32Array(NQ * K),
      };
      const rw = recallAtK(walk, truth, "COSINE", sc, filter);
      const ctx = `${p * 100}% passing, widths ${JSON.stringify(idx.twoHopWidths.map(String))}`;
      assert.ok(r >= 0.95, `${ctx}: recall ${r} (seed ${SEED})`);
      assert.ok(r >= Math.min(rw, 0.99) - 0.03, `${ctx}: recall ${r} vs usearch's walk ${rw} (seed ${SEED})`);
      graphOnly.close();
    }
    native.close(h);
    idx.close();
  });
});

// Filtered HNSW search: the hnsw-filter addon (filter inside the walk) and the binding's fallback
// (over-fetch / exact scan), held to the same oracle: exact top-k by brute force over the passing rows.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HnswIndex } from "../../src/index/hnsw.ts";
import {
  HNSW_NATIVE_PATH,
  type HnswNative,
  NativeMode,
  probeHnswNative,
} from "../../src/index/hnsw-native.ts";
import {
  indexToBytes,
  loadIndexBytes,
  openIndexFile,
  writeIndexFileSync,
} from "../../src/index/index-file.ts";
import type { MetricType } from "../../src/index/metric.ts";
import { largerIsBetter } from "../../src/index/metric.ts";
import type { SearchResult } from "../../src/index/topk.ts";
import { rng, tempDir } from "../helpers/env.ts";
import {
  binaryScorer,
  clustered,
  clusteredBits,
  exactTopK,
  floatScorer,
  randomFilter,
  recallAtK,
} from "./ann-data.ts";
import { gaussians } from "./data.ts";

const SEED = 23;
const N = 20000;
const DIM = 48;
const NQ = 60;
const K = 10;
const EF = 32;
const BUILD = { M: 16, efConstruction: 64 };
const METRICS = ["L2", "IP", "COSINE"] as const;
const PASS = [0.01, 0.1, 0.5] as const;

const probe = probeHnswNative();
const noAddon = probe.native === undefined ? `hnsw-filter addon unavailable: ${probe.reason}` : false;
if (noAddon) console.log(`# skipping the addon suites: ${noAddon}`);

const d = clustered(N, DIM, NQ, SEED);
const filters = new Map(PASS.map((p) => [p, randomFilter(N, p, SEED + Math.round(p * 1000))]));

/** `allowShort`: a raw walk may end with fewer than k (the index then rescans that query exactly). */
function onlyPassing(got: SearchResult, filter: Uint8Array, ctx: string, allowShort = false): void {
  for (let i = 0; i < got.offsets.length; i++) {
    const row = got.offsets[i]!;
    if (allowShort && row === -1) continue;
    assert.notEqual(row, -1, `${ctx}: fewer than k rows at ${i}`);
    assert.equal(filter[row], 1, `${ctx}: row ${row} does not pass the filter (seed ${SEED})`);
  }
}

/**
 * The addon's float kernels sum in another order than the binding's (NumKong's), some in f32 partial
 * sums, so their distances may differ by a few f32 ulps and the walks may part at near-ties. What
 * must hold: the addon finds the binding's rows (recall ≥ 0.99 of the binding's top-k over all
 * queries), every score it returns is the exact score within 1e-6 × max(1, |score|), and rows both
 * return score alike within the same tolerance.
 */
function agreesWithBinding(
  addon: SearchResult,
  binding: SearchResult,
  exactScore: (q: number, row: number) => number,
  ctx: string,
): void {
  const k = binding.topk;
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  let found = 0;
  let total = 0;
  for (let q = 0; q < binding.nq; q++) {
    const theirs = new Map<number, number>();
    for (let i = 0; i < k; i++) {
      const row = binding.offsets[q * k + i]!;
      if (row >= 0) theirs.set(row, binding.scores[q * k + i]!);
    }
    total += theirs.size;
    for (let i = 0; i < k; i++) {
      const row = addon.offsets[q * k + i]!;
      assert.notEqual(row, -1, `${ctx} q${q}: fewer than k rows`);
      const s = addon.scores[q * k + i]!;
      const exact = exactScore(q, row);
      assert.ok(close(s, exact), `${ctx} q${q} row ${row}: score ${s}, exact ${exact} (seed ${SEED})`);
      const b = theirs.get(row);
      if (b === undefined) continue;
      found++;
      assert.ok(close(s, b), `${ctx} q${q} row ${row}: score ${s}, the binding's ${b} (seed ${SEED})`);
    }
  }
  assert.ok(found / total >= 0.99, `${ctx}: ${found} of the binding's ${total} rows (seed ${SEED})`);
}

function bestFirst(got: SearchResult, metric: MetricType, ctx: string): void {
  const larger = largerIsBetter(metric);
  for (let q = 0; q < got.nq; q++) {
    for (let i = 1; i < got.topk; i++) {
      const a = got.scores[q * got.topk + i - 1]!;
      const b = got.scores[q * got.topk + i]!;
      if (Number.isNaN(b)) break;
      assert.ok(larger ? a >= b : a <= b, `${ctx} q${q}: not best-first at ${i}`);
    }
  }
}

describe(`filtered HNSW on clustered ${N} × ${DIM}, seed ${SEED}`, () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  const files = new Map<MetricType, string>();
  const truth = new Map<string, SearchResult>();
  before(async () => {
    dir = await tempDir();
    for (const metric of METRICS) {
      const idx = HnswIndex.build({ type: "HNSW", metric, dim: DIM, params: BUILD }, d.base, { threads: 2 });
      const path = join(dir.dir, `${metric}.idx`);
      writeIndexFileSync(path, idx);
      files.set(metric, path);
      idx.close();
      truth.set(metric, exactTopK(d.base, DIM, d.queries, NQ, metric, K));
      for (const p of PASS)
        truth.set(`${metric}${p}`, exactTopK(d.base, DIM, d.queries, NQ, metric, K, filters.get(p)));
    }
  });
  after(async () => {
    await dir.cleanup();
  });

  const open = async (metric: MetricType, nativeFilter: boolean, mode: "view" | "load" = "view") =>
    (await openIndexFile(files.get(metric)!, { mode, hnsw: { nativeFilter } })) as HnswIndex;

  for (const engine of ["addon", "binding"] as const) {
    const native = engine === "addon";
    describe(`through the ${engine}`, { skip: native && noAddon }, () => {
      for (const metric of METRICS) {
        for (const p of PASS) {
          it(`${metric}, ${p * 100}% passing (planned, and graph only): only passing rows, recall@10 ≥ 0.95 vs brute force, exact scores, best first`, async () => {
            for (const graphOnly of [false, true]) {
              const idx = (await openIndexFile(files.get(metric)!, {
                hnsw: { nativeFilter: native, ...(graphOnly ? { filterExactFactor: 0 } : {}) },
              })) as HnswIndex;
              assert.equal(idx.nativeFilter, native);
              const filter = filters.get(p)!;
              const got = idx.search(d.queries, NQ, K, { ef: EF }, filter);
              const ctx = `${engine} ${metric} ${p}${graphOnly ? " graph only" : ""}`;
              onlyPassing(got, filter, ctx);
              bestFirst(got, metric, ctx);
              const sc = floatScorer(d.base, d.queries, DIM, metric);
              const r = recallAtK(got, truth.get(`${metric}${p}`)!, metric, sc, filter);
              assert.ok(r >= 0.95, `${ctx}: recall ${r} (seed ${SEED})`);
              // Scores are the exact scores of the rows returned.
              for (let i = 0; i < got.offsets.length; i++) {
                const want = sc(Math.floor(i / K), got.offsets[i]!);
                assert.ok(
                  Math.abs(got.scores[i]! - want) <= 1e-4 * Math.max(1, Math.abs(want)),
                  `${ctx}: score`,
                );
              }
              idx.close();
            }
          });
        }
      }

      it("a viewed file, a loaded file and the same bytes in memory answer identically", async () => {
        for (const metric of METRICS) {
          const viewed = await open(metric, native, "view");
          const loaded = await open(metric, native, "load");
          const bytes = loadIndexBytes(readFileSync(files.get(metric)!), { hnsw: { nativeFilter: native } });
          for (const f of [undefined, ...filters.values()]) {
            const a = viewed.search(d.queries, NQ, K, { ef: EF }, f);
            for (const other of [loaded, bytes]) {
              const b = other.search(d.queries, NQ, K, { ef: EF }, f);
              assert.deepEqual([...b.offsets], [...a.offsets], `${engine} ${metric}`);
              assert.deepEqual([...b.scores], [...a.scores], `${engine} ${metric}`);
            }
          }
          viewed.close();
          loaded.close();
          bytes.close();
        }
      });

      it("filters passing nothing, or fewer rows than k, pad with -1 / NaN", async () => {
        const idx = await open("L2", native);
        const q = d.queries.subarray(0, DIM);
        const none = idx.search(q, 1, K, { ef: EF }, new Uint8Array(N));
        assert.deepEqual([...none.offsets], new Array(K).fill(-1));
        assert.ok(none.scores.every(Number.isNaN));
        const three = new Uint8Array(N);
        for (const r of [7, 12345, N - 1]) three[r] = 1;
        const got = idx.search(q, 1, K, { ef: EF }, three);
        assert.deepEqual(
          [...got.offsets.slice(0, 3)].sort((a, b) => a - b),
          [7, 12345, N - 1],
        );
        assert.deepEqual([...got.offsets.slice(3)], new Array(K - 3).fill(-1));
        idx.close();
      });
    });
  }

  describe("addon specifics", { skip: noAddon }, () => {
    it("unfiltered searches find the binding's rows (recall ≥ 0.99) with exact scores (1e-6)", async () => {
      for (const metric of METRICS) {
        const a = await open(metric, true);
        const b = await open(metric, false);
        const sc = floatScorer(d.base, d.queries, DIM, metric);
        for (const ef of [10, 32, 100]) {
          const x = a.search(d.queries, NQ, K, { ef });
          const y = b.search(d.queries, NQ, K, { ef });
          bestFirst(x, metric, `${metric} ef ${ef}`);
          agreesWithBinding(x, y, sc, `${metric} ef ${ef}`);
        }
        const r = recallAtK(
          a.search(d.queries, NQ, K, { ef: EF }),
          truth.get(metric)!,
          metric,
          floatScorer(d.base, d.queries, DIM, metric),
        );
        assert.ok(r >= 0.95, `${metric} unfiltered recall ${r}`);
        a.close();
        b.close();
      }
    });

    it("every float kernel level this CPU runs stays within its error bound, on lengths 0..300 and long ones", (t) => {
      // floatKernels is the addon's test hook: each level's f64- and f32-summed kernels on one pair,
      // so the AVX2 and portable levels are checked too on a CPU whose searches use AVX-512.
      const raw: unknown = createRequire(import.meta.url)(HNSW_NATIVE_PATH);
      const hook = (raw as { floatKernels?: unknown }).floatKernels;
      assert.equal(typeof hook, "function");
      const run = hook as (q: Float32Array, b: Float32Array) => [string, ...number[]][];
      const u = 2 ** -24;
      const r = rng(SEED);
      const lengths = [...Array.from({ length: 301 }, (_, i) => i), 383, 384, 385, 767, 768, 769, 1536, 4096];
      let levels: string[] = [];
      for (const n of lengths) {
        const x = gaussians(r, n);
        const y = gaussians(r, n);
        const kinds: Record<string, (i: number) => [number, number]> = {
          independent: (i) => [x[i]!, y[i]!],
          near: (i) => [x[i]!, x[i]! + 1e-3 * y[i]!], // small L2, cosine near 1
          opposite: (i) => [x[i]!, -x[i]! + 1e-4 * y[i]!], // dot cancels against |q|·|b|
          "heavy-tailed": (i) => [Math.exp(4 * x[i]!), Math.sign(y[i]!) * Math.exp(3 * y[i]!)],
        };
        for (const [kind, pair] of Object.entries(kinds)) {
          const q = new Float32Array(n);
          const b = new Float32Array(n);
          for (let i = 0; i < n; i++) [q[i], b[i]] = pair(i);
          let l2 = 0;
          let dot = 0;
          let absDot = 0;
          let bb = 0;
          for (let i = 0; i < n; i++) {
            l2 += (q[i]! - b[i]!) ** 2;
            dot += q[i]! * b[i]!;
            absDot += Math.abs(q[i]! * b[i]!);
            bb += b[i]! ** 2;
          }
          const rows = run(q, b);
          levels = rows.map((row) => row[0]);
          for (const [name, l2d, dotd, abd, bbd, l2f, abf, bbf] of rows) {
            const ctx = `${name} ${kind} n ${n} (seed ${SEED})`;
            const within = (got: number | undefined, want: number, bound: number, what: string) =>
              assert.ok(Math.abs(got! - want) <= bound, `${ctx} ${what}: ${got}, exact ${want}`);
            // f64 sums: only the order of summation differs from the exact (JS) sum.
            within(l2d, l2, 1e-12 * l2, "l2sq f64");
            within(dotd, dot, 1e-12 * absDot, "dot f64");
            within(abd, dot, 1e-12 * absDot, "dot f64 (cosine)");
            within(bbd, bb, 1e-12 * bb, "|b|² f64");
            // f32 sums: 2u for the difference, 4u for four f32 adds a lane, 2u for the flush.
            within(l2f, l2, 8 * u * l2, "l2sq f32");
            within(abf, dot, 6 * u * absDot, "dot f32");
            within(bbf, bb, 6 * u * bb, "|b|² f32");
          }
        }
      }
      assert.equal(levels.at(-1), "portable");
      t.diagnostic(`float kernel levels on this CPU, searches use the first: ${levels.join(", ")}`);
    });

    it("on 300 dims too, searches find the binding's rows with exact scores, and filtered recall holds", () => {
      // 300 floats run every part of the AVX-512 kernels: f32 sums 4 × 64 (a flush) + 2 × 16 + 12
      // masked, f64 sums 9 × 32 + 8 + 4 masked (48 dims run only their rests).
      const dim = 300;
      const nq = 30;
      const w = clustered(3000, dim, nq, SEED + 1);
      for (const metric of METRICS) {
        const built = HnswIndex.build({ type: "HNSW", metric, dim, params: BUILD }, w.base, { threads: 2 });
        const bytes = indexToBytes(built);
        built.close();
        const a = loadIndexBytes(bytes) as HnswIndex;
        const b = loadIndexBytes(bytes, { hnsw: { nativeFilter: false } }) as HnswIndex;
        assert.equal(a.nativeFilter, true);
        const sc = floatScorer(w.base, w.queries, dim, metric);
        const x = a.search(w.queries, nq, K, { ef: EF });
        bestFirst(x, metric, `${metric} ${dim}-d`);
        agreesWithBinding(x, b.search(w.queries, nq, K, { ef: EF }), sc, `${metric} ${dim}-d`);
        const filter = randomFilter(3000, 0.1, SEED);
        const f = a.search(w.queries, nq, K, { ef: EF }, filter);
        onlyPassing(f, filter, `${metric} ${dim}-d filtered`);
        const want = exactTopK(w.base, dim, w.queries, nq, metric, K, filter);
        const r = recallAtK(f, want, metric, sc, filter);
        assert.ok(r >= 0.95, `${metric} ${dim}-d filtered recall ${r} (seed ${SEED})`);
        a.close();
        b.close();
      }
    });

    it("at 256+ dims the two-hop walk steers by 8-bit codes: exact scores, recall holds, memory counted", () => {
      const dim = 300;
      const n = 8000;
      const nq = 40;
      const w = clustered(n, dim, nq, SEED + 2, 200);
      for (const metric of METRICS) {
        const built = HnswIndex.build({ type: "HNSW", metric, dim, params: BUILD }, w.base, { threads: 2 });
        const bytes = indexToBytes(built);
        built.close();
        // Graph only, so 10 % passing takes the two-hop walk rather than the exact scan; and the
        // fixed width rule, so it does whatever this (2-thread, so varying) build measured: wide
        // measured widths can make usearch's walk the cheaper plan, which builds no codes.
        const a = loadIndexBytes(bytes, {
          hnsw: { filterExactFactor: 0, twoHopWidths: undefined },
        }) as HnswIndex;
        const before = a.memoryBytes;
        const sc = floatScorer(w.base, w.queries, dim, metric);
        for (const p of [0.1, 0.3]) {
          const filter = randomFilter(n, p, SEED + Math.round(p * 10));
          const f = a.search(w.queries, nq, K, { ef: EF }, filter);
          const ctx = `${metric} ${dim}-d ${p * 100}%`;
          onlyPassing(f, filter, ctx);
          bestFirst(f, metric, ctx);
          const r = recallAtK(
            f,
            exactTopK(w.base, dim, w.queries, nq, metric, K, filter),
            metric,
            sc,
            filter,
          );
          assert.ok(r >= 0.95, `${ctx}: recall ${r} (seed ${SEED})`);
          for (let i = 0; i < f.offsets.length; i++) {
            if (f.offsets[i]! < 0) continue;
            const want = sc(Math.floor(i / K), f.offsets[i]!);
            assert.ok(
              Math.abs(f.scores[i]! - want) <= 1e-4 * Math.max(1, Math.abs(want)),
              `${ctx}: exact score`,
            );
          }
        }
        // Codes: a byte per dimension (rounded up to 64) and a float per row, plus two per dimension.
        const stride = Math.ceil(dim / 64) * 64;
        assert.equal(
          a.memoryBytes - before,
          n * (stride + 4) + 2 * stride * 4,
          `${metric}: steering codes counted`,
        );
        a.close();
      }
    });

    it("each native mode meets the oracle at 10% passing; the scan is exact at 1% and 10%", async () => {
      const lib = probe.native as HnswNative;
      const metric = "L2";
      const handle = lib.open(files.get(metric)!, "view");
      try {
        const sc = floatScorer(d.base, d.queries, DIM, metric);
        const run = (mode: (typeof NativeMode)[keyof typeof NativeMode], filter: Uint8Array, ef: number) => {
          const wanted = Math.max(ef, K);
          const out = {
            keys: new Int32Array(NQ * wanted),
            distances: new Float32Array(NQ * wanted),
            counts: new Uint32Array(NQ),
          };
          const scored = lib.search(handle, d.queries, NQ, wanted, ef, 1, filter, mode, out);
          const offsets = new Int32Array(NQ * K).fill(-1);
          const scores = new Float32Array(NQ * K).fill(Number.NaN);
          for (let q = 0; q < NQ; q++) {
            for (let i = 0; i < Math.min(K, out.counts[q]!); i++) {
              offsets[q * K + i] = out.keys[q * wanted + i]!;
              scores[q * K + i] = out.distances[q * wanted + i]!;
            }
          }
          return { got: { nq: NQ, topk: K, offsets, scores }, scored };
        };
        const f10 = filters.get(0.1)!;
        const scored: Record<string, number> = {};
        for (const [name, mode] of Object.entries(NativeMode)) {
          // The plan widens the two-hop walk to ef 50 at 10 % passing here: it needs that for usearch's recall.
          const { got, scored: s } = run(mode, f10, mode === NativeMode.TwoHop ? 5 * K : EF);
          scored[name] = s;
          // The raw two-hop walk can end short on a graph built with several threads (its shape
          // varies): the index redoes such a query exactly; its recall still has to hold here.
          onlyPassing(got, f10, name, mode === NativeMode.TwoHop);
          const r = recallAtK(got, truth.get(`${metric}0.1`)!, metric, sc, f10);
          assert.ok(r >= 0.95, `${name} recall ${r} (seed ${SEED})`);
        }
        // The two-hop walk scores far fewer vectors than usearch's filtered walk, the scan exactly
        // the passing rows.
        assert.ok(scored.TwoHop! < scored.Walk! / 2, JSON.stringify(scored));
        assert.equal(scored.Scan, NQ * [...f10].filter((x) => x !== 0).length);
        for (const p of [0.01, 0.1] as const) {
          const { got } = run(NativeMode.Scan, filters.get(p)!, EF);
          assert.equal(
            recallAtK(got, truth.get(`${metric}${p}`)!, metric, sc, filters.get(p)),
            1,
            `scan ${p}`,
          );
        }
      } finally {
        lib.close(handle);
      }
    });

    it("a batch over two threads answers as one query at a time, filtered or not", async () => {
      const idx = (await openIndexFile(files.get("COSINE")!, { hnsw: { searchThreads: 2 } })) as HnswIndex;
      for (const f of [undefined, filters.get(0.1), filters.get(0.5)]) {
        const batch = idx.search(d.queries, NQ, K, { ef: EF }, f);
        for (let q = 0; q < NQ; q += 7) {
          const one = idx.search(d.queries.subarray(q * DIM, (q + 1) * DIM), 1, K, { ef: EF }, f);
          assert.deepEqual([...one.offsets], [...batch.offsets.subarray(q * K, (q + 1) * K)]);
          assert.deepEqual([...one.scores], [...batch.scores.subarray(q * K, (q + 1) * K)]);
        }
      }
      idx.close();
    });

    it("a caller's count of the passing rows plans as the index's own count does", async () => {
      const idx = (await openIndexFile(files.get("L2")!)) as HnswIndex;
      for (const p of PASS) {
        const f = filters.get(p)!;
        const passing = f.reduce((a, b) => a + b, 0);
        const counted = idx.search(d.queries, NQ, K, { ef: EF }, f);
        const told = idx.search(d.queries, NQ, K, { ef: EF }, f, passing);
        assert.deepEqual([...told.offsets], [...counted.offsets], `${p}`);
        assert.deepEqual([...told.scores], [...counted.scores], `${p}`);
      }
      idx.close();
    });

    it("prefersExactScan: selective filters prefer the scan, light ones the walk, monotonically", async () => {
      const idx = await open("L2", true);
      assert.equal(idx.prefersExactScan(0, K, { ef: EF }), true);
      assert.equal(idx.prefersExactScan(N / 200, K, { ef: EF }), true, "0.5 % passing");
      assert.equal(idx.prefersExactScan(N / 2, K, { ef: EF }), false, "50 % passing");
      assert.equal(idx.prefersExactScan(N, K, { ef: EF }), false);
      let prev = true;
      for (let passing = 1; passing < N; passing = Math.ceil(passing * 1.1)) {
        const now = idx.prefersExactScan(passing, K, { ef: EF });
        assert.ok(prev || !now, `the scan is preferred again at ${passing} passing`);
        prev = now;
      }
      // A wider walk costs more, so it leaves more to the scan.
      assert.ok(idx.prefersExactScan(N / 20, K, { ef: 512 }) || !idx.prefersExactScan(N / 20, K, { ef: 16 }));
      idx.close();
      const never = (await openIndexFile(files.get("L2")!, { hnsw: { filterExactFactor: 0 } })) as HnswIndex;
      assert.equal(never.prefersExactScan(N / 200, K, { ef: EF }), false);
      never.close();
    });

    it("STRATA_NO_NATIVE_FILTER=1 and HNSW_SQ files keep the binding; save() writes the same bytes", async () => {
      const saved = process.env.STRATA_NO_NATIVE_FILTER;
      try {
        process.env.STRATA_NO_NATIVE_FILTER = "1";
        const off = (await openIndexFile(files.get("IP")!)) as HnswIndex;
        assert.equal(off.nativeFilter, false);
        off.close();
      } finally {
        if (saved === undefined) delete process.env.STRATA_NO_NATIVE_FILTER;
        else process.env.STRATA_NO_NATIVE_FILTER = saved;
      }
      const on = (await openIndexFile(files.get("IP")!)) as HnswIndex;
      assert.equal(on.nativeFilter, true);
      const copy = join(dir.dir, "IP-copy.idx");
      writeIndexFileSync(copy, on);
      assert.equal(Buffer.compare(readFileSync(copy), readFileSync(files.get("IP")!)), 0);
      on.close();
      assert.throws(
        () => on.search(d.queries, NQ, K),
        (e: unknown) => (e as { code?: string }).code === "Closed",
      );
      const sq = HnswIndex.build(
        { type: "HNSW_SQ", metric: "L2", dim: DIM, params: { sq_type: "FP16" } },
        d.base.subarray(0, 2000 * DIM),
      );
      const sqOpened = loadIndexBytes(indexToBytes(sq)) as HnswIndex;
      assert.equal(sqOpened.nativeFilter, false);
    });
  });
});

describe("filtered HNSW on binary vectors (the addon converts Strata's bit order)", () => {
  const bits = 256;
  const NB = 8000;
  const b = clusteredBits(NB, bits, 40, SEED);
  for (const metric of ["HAMMING", "JACCARD"] as const) {
    // Bit counts are exact, so here the walk and the distances are the binding's exactly.
    it(`${metric}: file-opened index through the addon matches the binding unfiltered; 10% filtered recall ≥ 0.95`, {
      skip: noAddon,
    }, () => {
      const built = HnswIndex.build({ type: "HNSW", metric, dim: bits, params: BUILD }, b.base, {
        threads: 2,
      });
      const bytes = indexToBytes(built);
      const viaAddon = loadIndexBytes(bytes) as HnswIndex;
      const viaBinding = loadIndexBytes(bytes, { hnsw: { nativeFilter: false } }) as HnswIndex;
      assert.equal(viaAddon.nativeFilter, true);
      const x = viaAddon.search(b.queries, 40, K, { ef: 64 });
      const y = viaBinding.search(b.queries, 40, K, { ef: 64 });
      assert.deepEqual([...x.offsets], [...y.offsets]);
      assert.deepEqual([...x.scores], [...y.scores]);
      const sc = binaryScorer(b.base, b.queries, bits, metric);
      const filter = randomFilter(NB, 0.1, 4);
      const want = exactTopK(b.base, bits, b.queries, 40, metric, K, filter);
      const got = viaAddon.search(b.queries, 40, K, { ef: 64 }, filter);
      onlyPassing(got, filter, metric);
      const r = recallAtK(got, want, metric, sc, filter);
      assert.ok(r >= 0.95, `${metric} filtered recall ${r} (seed ${SEED})`);
      built.close();
      viaAddon.close();
      viaBinding.close();
    });
  }
});

// The hnsw-filter addon's float HNSW build: the file it writes is usearch's own dense format (the
// binding views it and finds what the addon finds), its graphs are as good as the binding's, chunked
// adds make one complete graph, and bad input is a clean error. Oracle: exact top-k by brute force.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import usearch, { type MetricKind, type ScalarKind } from "usearch";
import { isStrataError } from "../../src/common/errors.ts";
import { HnswIndex } from "../../src/index/hnsw.ts";
import {
  HNSW_NATIVE_PATH,
  type HnswNative,
  type NativeBuildMetric,
  type NativeHnswHandle,
  NativeMode,
  probeHnswNative,
} from "../../src/index/hnsw-native.ts";
import { openIndexFile, writeIndexFileSync } from "../../src/index/index-file.ts";
import type { MetricType } from "../../src/index/metric.ts";
import type { SearchResult } from "../../src/index/topk.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { clustered, exactTopK, floatScorer, recallAtK } from "./ann-data.ts";
import { gaussians } from "./data.ts";

const SEED = 41;
// Enough rows that HnswIndex.build adds in several chunks (its first chunk is 1,024 rows).
const N = 17000;
const DIM = 32;
const NQ = 50;
const K = 10;
const EF = 48;
const BUILD = { M: 16, efConstruction: 64 };
const METRICS = ["L2", "IP", "COSINE"] as const;
const KIND: Record<(typeof METRICS)[number], NativeBuildMetric> = { L2: "l2sq", IP: "ip", COSINE: "cos" };

const probe = probeHnswNative();
const noAddon = probe.native === undefined ? `hnsw-filter addon unavailable: ${probe.reason}` : false;
if (noAddon) console.log(`# skipping the native build suites: ${noAddon}`);

const d = clustered(N, DIM, NQ, SEED);
// Two zero rows: cosine's zero-vector convention must not break the build.
d.base.fill(0, 5 * DIM, 7 * DIM);

function spec(metric: MetricType) {
  return { type: "HNSW" as const, metric, dim: DIM, params: BUILD };
}

/** The binding over a file, with expansion_search = ef (its walk width is fixed at creation). */
function bindingView(path: string, metric: (typeof METRICS)[number], ef: number) {
  const ix = new usearch.Index({
    dimensions: DIM,
    metric: KIND[metric] as MetricKind,
    quantization: "f32" as ScalarKind,
    connectivity: BUILD.M,
    expansion_add: BUILD.efConstruction,
    expansion_search: ef,
    multi: false,
  });
  ix.view(path);
  return ix;
}

/** Top-k rows per query from the binding (keys are row offsets < 2^32). */
function bindingTopK(
  ix: InstanceType<typeof usearch.Index>,
  q: Float32Array,
  nq: number,
  k: number,
): Int32Array {
  const r = ix.search(q, k, 1) as unknown as { keys: BigUint64Array; counts: BigUint64Array };
  const out = new Int32Array(nq * k).fill(-1);
  for (let i = 0; i < nq; i++) {
    for (let j = 0; j < Number(r.counts[i]); j++) out[i * k + j] = Number(r.keys[i * k + j]);
  }
  return out;
}

function addonTopK(lib: HnswNative, h: NativeHnswHandle, q: Float32Array, nq: number, k: number, ef: number) {
  const out = {
    keys: new Int32Array(nq * k),
    distances: new Float32Array(nq * k),
    counts: new Uint32Array(nq),
  };
  lib.search(h, q, nq, k, ef, 1, undefined, NativeMode.Walk, out);
  return out;
}

/** Fraction of a's rows per query also in b's. */
function overlap(a: Int32Array, b: Int32Array, nq: number, k: number): number {
  let same = 0;
  let total = 0;
  for (let i = 0; i < nq; i++) {
    const set = new Set(b.subarray(i * k, (i + 1) * k));
    for (let j = 0; j < k; j++) {
      const row = a[i * k + j]!;
      if (row < 0) continue;
      total++;
      if (set.has(row)) same++;
    }
  }
  return total === 0 ? 1 : same / total;
}

function asResult(rows: Int32Array, nq: number, k: number): SearchResult {
  return { nq, topk: k, offsets: rows, scores: new Float32Array(nq * k) };
}

/** halfKernels' row per level: [name, l2sq, dot, q as f16, b as f16]. */
type HalfLevel = [string, number, number, number[], number[]];

/** The addon's test hooks (hnsw_filter.cc), which HnswNative does not expose. */
interface TestHooks {
  /** The tier a build scores on now, distances scored, of those recomputed in f32, why a tier was left. */
  buildStats(b: unknown): [tier: string, distances: number, recomputed: number, why: string];
  floatKernels(q: Float32Array, b: Float32Array): [string, ...number[]][];
  halfKernels(q: Float32Array, b: Float32Array): HalfLevel[];
  byteKernels(a: Int8Array, b: Int8Array): [string, number][];
}

function hooks(): TestHooks {
  return createRequire(import.meta.url)(HNSW_NATIVE_PATH) as TestHooks;
}

function buildStats(b: unknown): ReturnType<TestHooks["buildStats"]> {
  return hooks().buildStats(b);
}

function throwsMessage(fn: () => unknown, re: RegExp, what: string): void {
  assert.throws(fn, (e: unknown) => e instanceof Error && re.test(e.message), what);
}

describe(`native HNSW build on clustered ${N} × ${DIM}, seed ${SEED}`, { skip: noAddon }, () => {
  const lib = probe.native as HnswNative;
  let dir: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dir.cleanup();
  });

  for (const metric of METRICS) {
    it(`${metric}: the built file is read by the binding and the addon alike, and is as good as the binding's build`, () => {
      const truth = exactTopK(d.base, DIM, d.queries, NQ, metric, K);
      const score = floatScorer(d.base, d.queries, DIM, metric);
      const built = HnswIndex.build(spec(metric), d.base, { threads: 2 });
      assert.equal(built.nativeFilter, true, "a float HNSW build with the addon is served by it");
      assert.equal(built.count, N);
      const path = join(dir.dir, `${metric}.usearch`);
      built.save(path);
      const fromBuilt = built.search(d.queries, NQ, K, { ef: EF });
      built.close();

      const viewed = bindingView(path, metric, EF);
      assert.equal(viewed.size(), N, "the binding sees every row");
      const keys = new BigUint64Array(N);
      for (let i = 0; i < N; i++) keys[i] = BigInt(i);
      assert.ok(
        (viewed.contains(keys) as boolean[]).every((x) => x),
        "keys are the row offsets 0 .. n-1",
      );
      const h = lib.open(path, "view");
      try {
        assert.equal(lib.info(h).rows, N);
        assert.ok(
          lib.info(h).slotsAreRows,
          "the addon writes its builds renumbered so that slot s holds row s",
        );
        const viaBinding = bindingTopK(viewed, d.queries, NQ, K);
        const viaAddon = addonTopK(lib, h, d.queries, NQ, K, EF);
        const agree = overlap(viaBinding, viaAddon.keys, NQ, K);
        assert.ok(agree >= 0.99, `binding and addon searches of one file agree on ${agree} (seed ${SEED})`);
        const rBinding = recallAtK(asResult(viaBinding, NQ, K), truth, metric, score);
        const rAddon = recallAtK(asResult(viaAddon.keys, NQ, K), truth, metric, score);
        const rBuilt = recallAtK(fromBuilt, truth, metric, score);
        assert.ok(
          rBinding >= 0.95 && rAddon >= 0.95,
          `recall binding ${rBinding}, addon ${rAddon} (seed ${SEED})`,
        );
        assert.equal(rBuilt, rAddon, "the built index searches as the file opened from it");
        // Distances are the metric's, within the addon's 1e-6 contract of the exact ones.
        for (let q = 0; q < NQ; q++) {
          const row = viaAddon.keys[q * K]!;
          const exact = score(q, row);
          const dist = viaAddon.distances[q * K]!;
          const want = metric === "L2" ? exact : 1 - exact;
          assert.ok(
            Math.abs(dist - want) <= 2e-6 * Math.max(1, Math.abs(want)),
            `${metric} distance ${dist} vs ${want}`,
          );
        }

        // The binding's own build of the same data and settings: recall within 0.02.
        const byBinding = HnswIndex.build(spec(metric), d.base, { threads: 2, nativeFilter: false });
        assert.equal(byBinding.nativeFilter, false);
        const rOther = recallAtK(byBinding.search(d.queries, NQ, K, { ef: EF }), truth, metric, score);
        byBinding.close();
        assert.ok(
          Math.abs(rOther - rAddon) <= 0.02,
          `recall native build ${rAddon} vs binding build ${rOther} (seed ${SEED})`,
        );
      } finally {
        lib.close(h);
      }
    });
  }

  it("one thread builds the same bytes every time; an index file round-trips through both libraries", async () => {
    const small = d.base.subarray(0, 3000 * DIM);
    const a = HnswIndex.build(spec("L2"), small, { threads: 1 });
    const b = HnswIndex.build(spec("L2"), small, { threads: 1 });
    const pa = join(dir.dir, "a.usearch");
    const pb = join(dir.dir, "b.usearch");
    a.save(pa);
    b.save(pb);
    assert.deepEqual(readFileSync(pa), readFileSync(pb));
    const file = join(dir.dir, "a.idx");
    writeIndexFileSync(file, a);
    a.close();
    b.close();
    const viaAddon = await openIndexFile(file, { mode: "load" });
    const viaBinding = await openIndexFile(file, { mode: "load", hnsw: { nativeFilter: false } });
    assert.equal(viaAddon.count, 3000);
    assert.equal(viaBinding.count, 3000);
    const ra = viaAddon.search(d.queries, NQ, K, { ef: 64 });
    const rb = viaBinding.search(d.queries, NQ, K, { ef: 64 });
    const agree = overlap(ra.offsets, rb.offsets, NQ, K);
    assert.ok(agree >= 0.99, `addon and binding on one index file agree on ${agree}`);
    viaAddon.close();
    viaBinding.close();
  });

  it("an empty build is an empty index both libraries open", () => {
    const empty = HnswIndex.build(spec("COSINE"), new Float32Array(0), { threads: 2 });
    assert.equal(empty.count, 0);
    const r = empty.search(d.queries.subarray(0, 2 * DIM), 2, K);
    assert.ok(r.offsets.every((x) => x === -1));
    const path = join(dir.dir, "empty.usearch");
    empty.save(path);
    empty.close();
    assert.equal(bindingView(path, "COSINE", 16).size(), 0);
    const h = lib.open(path, "load");
    assert.equal(lib.info(h).rows, 0);
    lib.close(h);
  });

  it("chunked adds of uneven sizes make one complete graph", () => {
    const n = 6000;
    const b = lib.buildBegin(DIM, "l2sq", 16, 64, n, 2);
    let at = 0;
    for (const rows of [1, 999, 2500, 0, 2500]) {
      lib.buildAdd(b, d.base.subarray(at * DIM, (at + rows) * DIM), at, rows);
      at += rows;
    }
    const path = join(dir.dir, "chunks.usearch");
    lib.buildSave(b, path);
    const h = lib.buildFinish(b);
    try {
      assert.equal(lib.info(h).rows, n);
      assert.equal(bindingView(path, "L2", EF).size(), n);
      const truth = exactTopK(d.base.subarray(0, n * DIM), DIM, d.queries, NQ, "L2", K);
      const got = addonTopK(lib, h, d.queries, NQ, K, EF);
      const recall = recallAtK(
        asResult(got.keys, NQ, K),
        truth,
        "L2",
        floatScorer(d.base, d.queries, DIM, "L2"),
      );
      assert.ok(recall >= 0.95, `recall ${recall} after chunked adds`);
    } finally {
      lib.close(h);
    }
    throwsMessage(() => lib.buildAdd(b, d.base.subarray(0, DIM), n, 1), /freed or finished/, "spent builder");
    lib.buildFree(b); // idempotent after finish
  });

  it("bad input is a clean error and adds nothing", () => {
    const b = lib.buildBegin(DIM, "cos", 16, 32, 100, 2);
    const rows = (from: number, count: number) => d.base.slice(from * DIM, (from + count) * DIM);
    throwsMessage(() => lib.buildAdd(b, rows(0, 10), 0, 9), /count × dim/, "length");
    throwsMessage(() => lib.buildAdd(b, rows(0, 10), 5, 10), /firstKey must be 0/, "key gap");
    throwsMessage(() => lib.buildAdd(b, rows(0, 101), 0, 101), /exceed the capacity/, "capacity");
    const nan = rows(0, 10);
    nan[3 * DIM + 7] = Number.NaN;
    throwsMessage(() => lib.buildAdd(b, nan, 0, 10), /row 3 holds a non-finite/, "NaN");
    const inf = rows(0, 10);
    inf[9 * DIM] = Number.NEGATIVE_INFINITY;
    throwsMessage(() => lib.buildAdd(b, inf, 0, 10), /row 9 holds a non-finite/, "Inf");
    throwsMessage(
      () => lib.buildAdd(b, new Float64Array(DIM) as unknown as Float32Array, 0, 1),
      /Float32Array/,
      "type",
    );
    // Nothing was added by the failures: the next rows are still keyed from 0, up to the capacity.
    lib.buildAdd(b, rows(0, 60), 0, 60);
    lib.buildAdd(b, rows(60, 40), 60, 40);
    throwsMessage(() => lib.buildAdd(b, rows(0, 1), 100, 1), /exceed the capacity/, "full");
    // Handles do not mix: a builder is not an index, nor the other way round.
    const fake = b as unknown as NativeHnswHandle;
    throwsMessage(() => lib.info(fake), /not an index handle/, "builder as index");
    throwsMessage(() => lib.close(fake), /not an index handle/, "close a builder");
    const h = lib.buildFinish(b);
    assert.equal(lib.info(h).rows, 100);
    throwsMessage(
      () => lib.buildAdd(h as unknown as typeof b, rows(0, 1), 100, 1),
      /not a builder handle/,
      "index as builder",
    );
    lib.close(h);

    throwsMessage(
      () => lib.buildBegin(DIM, "hamming" as NativeBuildMetric, 16, 32, 10, 1),
      /metric must be/,
      "metric",
    );
    throwsMessage(() => lib.buildBegin(DIM, "l2sq", 16, 32, 10, 0), /threads must be positive/, "threads 0");
    throwsMessage(() => lib.buildBegin(DIM, "l2sq", 16, 32, 10, 1.5), /threads out of range/, "threads 1.5");
    throwsMessage(() => lib.buildBegin(DIM, "l2sq", 1, 32, 10, 1), /M must be at least 2/, "M");
    throwsMessage(() => lib.buildBegin(0, "l2sq", 16, 32, 10, 1), /dim must be positive/, "dim");
    throwsMessage(
      () => lib.buildBegin(DIM, "l2sq", 16, 32, 10, 1, "f8" as "f16"),
      /distances must be auto, f16 or f32/,
      "distances",
    );
    lib.buildFree(lib.buildBegin(DIM, "ip", 16, 32, 10, 1));
  });

  it("the builder's kernels (query as floats) give the search kernels' bits at every level", () => {
    // floatKernels: per level, seven values with the query widened once (searches), then the same
    // seven with the query as floats (the builder's distances between stored rows).
    const run = hooks().floatKernels;
    const r = rng(SEED);
    for (const n of [...Array.from({ length: 130 }, (_, i) => i), 255, 300, 767, 768, 769, 1536]) {
      const q = gaussians(r, n);
      const b = gaussians(r, n);
      for (const [name, ...v] of run(q, b)) {
        assert.equal(v.length, 14);
        assert.deepEqual(v.slice(7), v.slice(0, 7), `${name} n ${n} (seed ${SEED})`);
      }
    }
  });

  it("the f16 build kernels round to nearest and agree with f64 references within their bounds at every level", () => {
    // halfKernels: per level, [name, l2sq, dot, q as f16, b as f16] (see the addon). Tolerances:
    // the kernels' f32 sums within γ = (n/8 + 3)·2⁻²⁴ of the f64 sum over the rounded values
    // (relative to Σ|terms|), and against the unrounded rows the bounds the builder relies on:
    // |√l2sq₁₆ − √l2sq| ≤ ε_q + ε_b and |dot₁₆ − dot| ≤ |q|ε_b + |b|ε_q + ε_qε_b, ε = |x − f16(x)|.
    const run = hooks().halfKernels;
    const r = rng(SEED + 1);
    const lengths = [
      ...Array.from({ length: 130 }, (_, i) => i),
      ...Array.from({ length: 40 }, () => Math.floor(r() * 1025)),
    ];
    let levels = 0;
    for (const n of lengths) {
      // Scales from deep in f16's subnormals (1e-6) to near its largest value (5·10⁴).
      const scale = 10 ** (-6 + r() * 10);
      const q = gaussians(r, n).map((x) => Math.max(-6e4, Math.min(6e4, x * scale)));
      const b = gaussians(r, n).map((x) => Math.max(-6e4, Math.min(6e4, x * scale)));
      const out = run(q, b);
      levels = out.length;
      const [, , , q0, b0] = out[0]!;
      for (const [name, l2, dot, qh, bh] of out) {
        const what = `${name} n ${n} scale ${scale} (seed ${SEED + 1})`;
        assert.deepEqual(qh, q0, `${what}: every level rounds alike`);
        assert.deepEqual(bh, b0, `${what}: every level rounds alike`);
        let l2Ref = 0;
        let dotRef = 0;
        let dotAbs = 0;
        let l2Exact = 0;
        let dotExact = 0;
        let eq = 0;
        let eb = 0;
        let qq = 0;
        let bb = 0;
        for (let i = 0; i < n; i++) {
          const [x, y, hx, hy] = [q[i]!, b[i]!, qh[i]!, bh[i]!];
          for (const [v, h] of [
            [x, hx],
            [y, hy],
          ] as const) {
            assert.ok(Math.abs(v - h) <= Math.max(2 ** -11 * Math.abs(v), 2 ** -25), `${what}: ${v} → ${h}`);
          }
          l2Ref += (hx - hy) ** 2;
          dotRef += hx * hy;
          dotAbs += Math.abs(hx * hy);
          l2Exact += (x - y) ** 2;
          dotExact += x * y;
          eq += (x - hx) ** 2;
          eb += (y - hy) ** 2;
          qq += x * x;
          bb += y * y;
        }
        const gamma = (n / 8 + 3) * 2 ** -24;
        assert.ok(Math.abs(l2 - l2Ref) <= gamma * l2Ref, `${what}: l2sq ${l2} vs ${l2Ref}`);
        assert.ok(Math.abs(dot - dotRef) <= gamma * dotAbs, `${what}: dot ${dot} vs ${dotRef}`);
        [eq, eb, qq, bb] = [Math.sqrt(eq), Math.sqrt(eb), Math.sqrt(qq), Math.sqrt(bb)];
        const slack = 1 + 2 * gamma;
        assert.ok(
          Math.abs(Math.sqrt(l2) - Math.sqrt(l2Exact)) <= (eq + eb) * slack + Math.sqrt(gamma * l2Ref),
          `${what}: l2sq ${l2} vs unrounded ${l2Exact}`,
        );
        assert.ok(
          Math.abs(dot - dotExact) <= (qq * eb + bb * eq + eq * eb) * slack + gamma * dotAbs,
          `${what}: dot ${dot} vs unrounded ${dotExact}`,
        );
      }
    }
    assert.ok(levels >= 1);
    // f16's edges: the largest finite value, the first that rounds to infinity, ties to even, underflow.
    const edge = Float32Array.of(
      65504,
      65519.99,
      65520,
      -7e4,
      2 ** -25,
      3 * 2 ** -26,
      1e-8,
      2 ** -14,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
    );
    const want = [65504, 65504, Infinity, -Infinity, 0, 2 ** -24, 0, 2 ** -14, 1, 1 + 2 ** -9];
    for (const [name, , , qh] of run(edge, new Float32Array(edge.length))) assert.deepEqual(qh, want, name);
  });

  it("builds on f16 distances, recomputing few, and reaches recall for every metric", () => {
    for (const metric of METRICS) {
      // 32 dimensions: below the 8-bit codes' minimum, so "auto" is f16.
      const b = lib.buildBegin(DIM, KIND[metric], BUILD.M, BUILD.efConstruction, N, 2);
      lib.buildAdd(b, d.base.subarray(0, 1024 * DIM), 0, 1024);
      lib.buildAdd(b, d.base.subarray(1024 * DIM), 1024, N - 1024);
      const [tier, distances, recomputed, why] = buildStats(b);
      assert.equal(tier, "f16", `${metric}: f16 distances stay on (${why})`);
      assert.ok(distances > N * 100, `${metric}: ${distances} distances scored on f16`);
      assert.ok(recomputed < distances * 0.05, `${metric}: ${recomputed} of ${distances} recomputed in f32`);
      const h = lib.buildFinish(b);
      try {
        const got = addonTopK(lib, h, d.queries, NQ, K, EF);
        const truth = exactTopK(d.base, DIM, d.queries, NQ, metric, K);
        const recall = recallAtK(
          asResult(got.keys, NQ, K),
          truth,
          metric,
          floatScorer(d.base, d.queries, DIM, metric),
        );
        assert.ok(recall >= 0.95, `${metric}: recall ${recall} of an f16-shaped graph (seed ${SEED})`);
      } finally {
        lib.close(h);
      }
    }
  });

  it("rows f16 cannot hold well build on f32 distances instead, and still reach recall", () => {
    const n = 6000;
    const cases = [
      // Beyond 65504 (rows of N(0, 1)·10⁵): the call holding them switches before adding.
      { what: "beyond f16's range", metric: "L2", map: (x: number) => x * 1e5, tier: "f32", why: /range/ },
      // Deep in f16's subnormals: underflow leaves too few bits, so the pairs get recomputed.
      { what: "tiny", metric: "COSINE", map: (x: number) => x * 1e-7, tier: "f32", why: /error bound/ },
      { what: "tiny", metric: "L2", map: (x: number) => x * 1e-7, tier: "f32", why: /error bound/ },
      // Far from the origin for their spread: l2sq centres the rows first, so f16 stays on.
      { what: "offset by 1000", metric: "L2", map: (x: number) => x + 1000, tier: "f16", why: /^$/ },
    ] as const;
    for (const c of cases) {
      const base = d.base.slice(0, n * DIM).map(c.map);
      const queries = d.queries.map(c.map);
      const b = lib.buildBegin(DIM, KIND[c.metric], BUILD.M, BUILD.efConstruction, n, 2, "f16");
      lib.buildAdd(b, base.subarray(0, 1024 * DIM), 0, 1024);
      lib.buildAdd(b, base.subarray(1024 * DIM), 1024, n - 1024);
      const [tier, , , why] = buildStats(b);
      assert.equal(tier, c.tier, `${c.what} ${c.metric}: on ${tier} (${why})`);
      assert.match(why, c.why);
      const h = lib.buildFinish(b);
      try {
        const got = addonTopK(lib, h, queries, NQ, K, EF);
        const truth = exactTopK(base, DIM, queries, NQ, c.metric, K);
        const recall = recallAtK(
          asResult(got.keys, NQ, K),
          truth,
          c.metric,
          floatScorer(base, queries, DIM, c.metric),
        );
        assert.ok(recall >= 0.95, `${c.what} ${c.metric}: recall ${recall} (seed ${SEED})`);
      } finally {
        lib.close(h);
      }
    }
  });

  it("the 8-bit build kernels give the exact integer dot product at every level", () => {
    const run = hooks().byteKernels;
    const r = rng(SEED + 2);
    const lengths = [
      ...Array.from({ length: 140 }, (_, i) => i),
      ...Array.from({ length: 40 }, () => Math.floor(r() * 2049)),
    ];
    let levels = 0;
    for (const n of lengths) {
      // Extremes (−128, 127) often: the VNNI kernel's unsigned flip must not saturate or wrap.
      const code = () => (r() < 0.2 ? (r() < 0.5 ? -128 : 127) : Math.floor(r() * 256) - 128);
      const a = Int8Array.from({ length: n }, code);
      const b = Int8Array.from({ length: n }, code);
      let want = 0;
      for (let i = 0; i < n; i++) want += a[i]! * b[i]!;
      const out = run(a, b);
      levels = out.length;
      for (const [name, got] of out) assert.equal(got, want, `${name} n ${n} (seed ${SEED + 2})`);
    }
    assert.ok(levels >= 1);
  });

  it("from 64 dimensions builds on 8-bit codes, recomputing few, as good as an f32-shaped graph", () => {
    const dim = 96;
    const n = 8000;
    const e = clustered(n, dim, NQ, SEED + 3);
    // Cosine gets two zero rows (its convention on codes too). Not the others: at this dimension
    // the origin is nearer every row than other clusters are, and the graph (usearch's binding's
    // too) loses recall to the hub it makes whatever the distances are scored on.
    const zeroed = e.base.slice();
    zeroed.fill(0, 5 * dim, 7 * dim);
    for (const metric of METRICS) {
      const base = metric === "COSINE" ? zeroed : e.base;
      const recall: Record<string, number> = {};
      for (const distances of ["auto", "f32"] as const) {
        const b = lib.buildBegin(dim, KIND[metric], BUILD.M, BUILD.efConstruction, n, 2, distances);
        lib.buildAdd(b, base.subarray(0, 1024 * dim), 0, 1024);
        lib.buildAdd(b, base.subarray(1024 * dim), 1024, n - 1024);
        const [tier, scored, recomputed, why] = buildStats(b);
        if (distances === "auto") {
          assert.equal(tier, "bytes", `${metric}: 8-bit codes stay on (${why})`);
          assert.ok(scored > n * 100, `${metric}: ${scored} distances scored on codes`);
          assert.ok(recomputed < scored * 0.05, `${metric}: ${recomputed} of ${scored} recomputed in f32`);
        } else {
          assert.equal(tier, "f32");
        }
        const h = lib.buildFinish(b);
        try {
          const got = addonTopK(lib, h, e.queries, NQ, K, EF);
          const truth = exactTopK(base, dim, e.queries, NQ, metric, K);
          const scorer = floatScorer(base, e.queries, dim, metric);
          recall[distances] = recallAtK(asResult(got.keys, NQ, K), truth, metric, scorer);
        } finally {
          lib.close(h);
        }
      }
      const [auto, f32] = [recall.auto!, recall.f32!];
      assert.ok(auto >= 0.95, `${metric}: recall ${auto} of a graph shaped on codes (seed ${SEED + 3})`);
      assert.ok(auto >= f32 - 0.02, `${metric}: recall ${auto} on codes vs ${f32} on f32 (seed ${SEED + 3})`);
    }
  });

  it("rows whose spread 8 bits cannot see beside a large common value leave the codes, and still reach recall", () => {
    const dim = 96;
    const n = 6000;
    // Eight groups, each a value of 10 in its own dimension, spread as the clustered rows scaled by
    // 10⁻³: one step of a row's codes is 10/127, so the spread rounds away and every pair within a
    // group is closer than the codes' error bound. (Clustered rather than N(0, 1)·10⁻³ noise: on
    // unstructured 96-d noise the graph itself, even built in f32, varied to below 0.95 recall.)
    const spread = clustered(n, dim, NQ, SEED + 4);
    const spiky = (rows: Float32Array) => {
      const out = rows.map((x) => x * 1e-3);
      for (let i = 0; i < out.length / dim; i++) out[i * dim + (i % 8)]! += 10;
      return out;
    };
    const base = spiky(spread.base);
    const queries = spiky(spread.queries);
    for (const metric of ["L2", "COSINE"] as const) {
      const b = lib.buildBegin(dim, KIND[metric], BUILD.M, BUILD.efConstruction, n, 2);
      lib.buildAdd(b, base.subarray(0, 1024 * dim), 0, 1024);
      lib.buildAdd(b, base.subarray(1024 * dim), 1024, n - 1024);
      const [tier, , , why] = buildStats(b);
      assert.notEqual(tier, "bytes", `${metric}: left the codes`);
      assert.match(why, /8-bit codes' error bound/, metric);
      const h = lib.buildFinish(b);
      try {
        const got = addonTopK(lib, h, queries, NQ, K, EF);
        const truth = exactTopK(base, dim, queries, NQ, metric, K);
        const recall = recallAtK(
          asResult(got.keys, NQ, K),
          truth,
          metric,
          floatScorer(base, queries, dim, metric),
        );
        assert.ok(
          recall >= 0.95,
          `${metric}: recall ${recall} after leaving the codes (${why}; seed ${SEED + 4})`,
        );
      } finally {
        lib.close(h);
      }
    }
  });

  it("HnswIndex.build refuses non-finite rows before building, with or without the addon", () => {
    const v = d.base.slice(0, 50 * DIM);
    v[17 * DIM + 2] = Number.POSITIVE_INFINITY;
    for (const nativeFilter of [true, false]) {
      assert.throws(
        () => HnswIndex.build(spec("IP"), v, { threads: 2, nativeFilter }),
        (e: unknown) => isStrataError(e) && e.code === "ParameterInvalid" && /row 17/.test(e.message),
      );
    }
  });
});

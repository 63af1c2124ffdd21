import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HnswIndex } from "../../src/index/hnsw.ts";
import { indexToBytes, openIndexFile, writeIndexFileSync } from "../../src/index/index-file.ts";
import type { MetricType } from "../../src/index/metric.ts";
import type { VectorIndex } from "../../src/index/vector-index.ts";
import { tempDir } from "../helpers/env.ts";
import {
  binaryScorer,
  clustered,
  clusteredBits,
  exactTopK,
  fioriEmbeddings,
  floatScorer,
  randomFilter,
  recallAtK,
} from "./ann-data.ts";

const SEED = 11;
const N = 20000;
const DIM = 64;
const NQ = 100;
const K = 10;
const BUILD = { M: 16, efConstruction: 64 };

function assertScoresExact(
  got: { offsets: Int32Array; scores: Float32Array; topk: number },
  score: (q: number, row: number) => number,
  ctx: string,
): void {
  for (let i = 0; i < got.offsets.length; i++) {
    const off = got.offsets[i]!;
    if (off < 0) continue;
    const q = Math.floor(i / got.topk);
    const want = score(q, off);
    const s = got.scores[i]!;
    assert.ok(
      Math.abs(s - want) <= 1e-4 * Math.max(1, Math.abs(want)),
      `${ctx}: q${q} row ${off} score ${s}, exact ${want}`,
    );
  }
}

describe(`HNSW (usearch) on clustered ${N} × ${DIM}, seed ${SEED}`, () => {
  const d = clustered(N, DIM, NQ, SEED);
  let dir: { dir: string; cleanup: () => Promise<void> };
  const files = new Map<MetricType, string>();
  before(async () => {
    dir = await tempDir();
    for (const metric of ["L2", "IP", "COSINE"] as const) {
      const idx = HnswIndex.build({ type: "HNSW", metric, dim: DIM, params: BUILD }, d.base, { threads: 2 });
      const path = join(dir.dir, `${metric}.idx`);
      writeIndexFileSync(path, idx);
      files.set(metric, path);
      idx.close();
    }
  });
  after(async () => {
    await dir.cleanup();
  });

  const open = async (
    metric: MetricType,
    extra: { filterExactFactor?: number; withVectors?: boolean } = {},
  ) =>
    (await openIndexFile(files.get(metric)!, {
      hnsw: {
        ...(extra.withVectors === false ? {} : { vectors: d.base }),
        ...(extra.filterExactFactor === undefined ? {} : { filterExactFactor: extra.filterExactFactor }),
      },
    })) as VectorIndex;

  for (const metric of ["L2", "IP", "COSINE"] as const) {
    it(`${metric}: recall@10 ≥ 0.95 at ef 32, Milvus scores, best first`, async () => {
      const idx = await open(metric);
      const want = exactTopK(d.base, DIM, d.queries, NQ, metric, K);
      const sc = floatScorer(d.base, d.queries, DIM, metric);
      const got = idx.search(d.queries, NQ, K, { ef: 32 });
      const r = recallAtK(got, want, metric, sc);
      assert.ok(r >= 0.95, `${metric} recall ${r} (seed ${SEED})`);
      assertScoresExact(got, sc, metric);
      const larger = metric !== "L2";
      for (let q = 0; q < NQ; q++) {
        for (let i = 1; i < K; i++) {
          const a = got.scores[q * K + i - 1]!;
          const b = got.scores[q * K + i]!;
          assert.ok(larger ? a >= b : a <= b, `${metric} q${q}: not best-first at ${i}`);
        }
      }
      idx.close();
    });

    for (const pass of [0.01, 0.1, 0.5]) {
      for (const mode of ["auto", "graph only", "no raw vectors"] as const) {
        it(`${metric}: filter passing ${pass * 100}% (${mode}) returns only passing rows, recall ≥ 0.95`, async () => {
          const idx = await open(metric, {
            ...(mode === "graph only" ? { filterExactFactor: 0 } : {}),
            ...(mode === "no raw vectors" ? { withVectors: false } : {}),
          });
          const filter = randomFilter(N, pass, SEED + Math.round(pass * 1000));
          const want = exactTopK(d.base, DIM, d.queries, NQ, metric, K, filter);
          const got = idx.search(d.queries, NQ, K, { ef: 32 }, filter);
          const r = recallAtK(got, want, metric, floatScorer(d.base, d.queries, DIM, metric), filter);
          assert.ok(r >= 0.95, `${metric} ${pass} ${mode}: recall ${r} (seed ${SEED})`);
          for (let i = 0; i < got.offsets.length; i++)
            assert.notEqual(got.offsets[i], -1, "fewer than k rows found");
          idx.close();
        });
      }
    }
  }

  it("the exact path is taken for a selective filter (same answer as the exact scan, scores and all)", async () => {
    const idx = await open("L2", { filterExactFactor: Number.POSITIVE_INFINITY });
    const filter = randomFilter(N, 0.1, 5);
    const got = idx.search(d.queries, NQ, K, {}, filter);
    const want = exactTopK(d.base, DIM, d.queries, NQ, "L2", K, filter);
    assert.deepEqual([...got.offsets], [...want.offsets]);
    assert.deepEqual([...got.scores], [...want.scores]);
  });

  it("a filter passing no rows gives padding; k beyond the passing rows pads with -1", async () => {
    const idx = await open("L2", { filterExactFactor: 0 });
    const none = new Uint8Array(N);
    const r0 = idx.search(d.queries.subarray(0, DIM), 1, K, {}, none);
    assert.deepEqual([...r0.offsets], new Array(K).fill(-1));
    assert.ok(r0.scores.every(Number.isNaN));
    const three = new Uint8Array(N);
    three[5] = 1;
    three[900] = 1;
    three[19999] = 1;
    const r3 = idx.search(d.queries.subarray(0, DIM), 1, K, {}, three);
    assert.deepEqual([...r3.offsets.slice(3)], new Array(K - 3).fill(-1));
    assert.deepEqual(
      [...r3.offsets.slice(0, 3)].sort((a, b) => a - b),
      [5, 900, 19999],
    );
  });

  it("larger ef does not lower recall; ef below k is raised to k", async () => {
    const idx = await open("L2");
    const want = exactTopK(d.base, DIM, d.queries, NQ, "L2", K);
    const sc = floatScorer(d.base, d.queries, DIM, "L2");
    const r1 = recallAtK(idx.search(d.queries, NQ, K, { ef: 1 }), want, "L2", sc);
    const r10 = recallAtK(idx.search(d.queries, NQ, K, { ef: K }), want, "L2", sc);
    assert.equal(r1, r10, "ef 1 should walk as ef = k");
    const r128 = recallAtK(idx.search(d.queries, NQ, K, { ef: 128 }), want, "L2", sc);
    assert.ok(r128 >= r10, `ef 128 recall ${r128} < ef 10 recall ${r10}`);
    assert.ok(r128 >= 0.99, `ef 128 recall ${r128}`);
  });

  it("one query at a time gives the same results as a batch", async () => {
    const idx = await open("COSINE");
    const batch = idx.search(d.queries, NQ, K, { ef: 40 });
    for (let q = 0; q < 10; q++) {
      const one = idx.search(d.queries.subarray(q * DIM, (q + 1) * DIM), 1, K, { ef: 40 });
      assert.deepEqual([...one.offsets], [...batch.offsets.subarray(q * K, (q + 1) * K)]);
    }
  });
});

describe("HNSW on binary vectors (b1)", () => {
  const bits = 256;
  const NB = 10000;
  const d = clusteredBits(NB, bits, NQ, SEED);
  for (const metric of ["HAMMING", "JACCARD"] as const) {
    it(`${metric}: recall@10 ≥ 0.95 (tie-aware), exact scores, filtered 10% only passing rows`, () => {
      const idx = HnswIndex.build({ type: "HNSW", metric, dim: bits, params: BUILD }, d.base, {
        threads: 2,
        vectors: d.base,
      });
      const sc = binaryScorer(d.base, d.queries, bits, metric);
      const want = exactTopK(d.base, bits, d.queries, NQ, metric, K);
      const got = idx.search(d.queries, NQ, K, { ef: 64 });
      const r = recallAtK(got, want, metric, sc);
      assert.ok(r >= 0.95, `${metric} recall ${r} (seed ${SEED})`);
      assertScoresExact(got, sc, metric);
      const filter = randomFilter(NB, 0.1, 3);
      const wantF = exactTopK(d.base, bits, d.queries, NQ, metric, K, filter);
      const gotF = idx.search(d.queries, NQ, K, { ef: 64 }, filter);
      const rf = recallAtK(gotF, wantF, metric, sc, filter);
      assert.ok(rf >= 0.95, `${metric} filtered recall ${rf}`);
      idx.close();
    });
  }

  it("JACCARD of an all-zero query scores 0 against an all-zero row, as the exact scan", () => {
    const rows = new Uint8Array(4 * 8);
    rows.fill(0xff, 8, 16);
    rows.fill(0x0f, 16, 24);
    rows.fill(0xf0, 24, 32);
    const idx = HnswIndex.build({ type: "HNSW", metric: "JACCARD", dim: 64, params: {} }, rows);
    const got = idx.search(new Uint8Array(8), 1, 4);
    const want = exactTopK(rows, 64, new Uint8Array(8), 1, "JACCARD", 4);
    assert.equal(got.offsets[0], 0);
    assert.equal(got.scores[0], 0);
    assert.equal(got.scores[0], want.scores[0]);
  });
});

describe("HNSW on real text embeddings (fiori-docs, 384-d MiniLM)", () => {
  const d = fioriEmbeddings(50);
  for (const metric of ["COSINE", "IP", "L2"] as const) {
    it(`${metric}: recall@10 ≥ 0.95; filtered 50% recall ≥ 0.95`, () => {
      const idx = HnswIndex.build({ type: "HNSW", metric, dim: d.dim, params: BUILD }, d.base, {
        vectors: d.base,
      });
      const sc = floatScorer(d.base, d.queries, d.dim, metric);
      const want = exactTopK(d.base, d.dim, d.queries, d.nq, metric, K);
      const r = recallAtK(idx.search(d.queries, d.nq, K, { ef: 32 }), want, metric, sc);
      assert.ok(r >= 0.95, `${metric} recall ${r}`);
      const filter = randomFilter(d.n, 0.5, 9);
      const wantF = exactTopK(d.base, d.dim, d.queries, d.nq, metric, K, filter);
      const rf = recallAtK(idx.search(d.queries, d.nq, K, { ef: 32 }, filter), wantF, metric, sc, filter);
      assert.ok(rf >= 0.95, `${metric} filtered recall ${rf}`);
    });
  }

  it("HNSW_SQ SQ8 (int8, cosine) and FP16: recall ≥ 0.95, refined to exact scores with raw vectors", () => {
    const sc = floatScorer(d.base, d.queries, d.dim, "COSINE");
    const want = exactTopK(d.base, d.dim, d.queries, d.nq, "COSINE", K);
    for (const sq_type of ["SQ8", "FP16", "BF16"]) {
      const spec = { type: "HNSW_SQ", metric: "COSINE", dim: d.dim, params: { ...BUILD, sq_type } } as const;
      const refined = HnswIndex.build(spec, d.base, { vectors: d.base });
      const got = refined.search(d.queries, d.nq, K, { ef: 48 });
      const r = recallAtK(got, want, "COSINE", sc);
      assert.ok(r >= 0.95, `${sq_type} refined recall ${r}`);
      assertScoresExact(got, sc, sq_type);
      const plain = HnswIndex.build(spec, d.base);
      const rp = recallAtK(plain.search(d.queries, d.nq, K, { ef: 48 }), want, "COSINE", sc);
      assert.ok(rp >= 0.9, `${sq_type} unrefined recall ${rp}`);
      assert.ok(
        plain.memoryBytes < HnswIndex.build({ ...spec, type: "HNSW", params: BUILD }, d.base).memoryBytes,
      );
    }
  });
});

describe("HNSW contract details", () => {
  const d = clustered(3000, 16, 20, 4);

  it("threads = 1 builds byte-identical files", () => {
    const spec = { type: "HNSW", metric: "L2", dim: 16, params: { M: 8, efConstruction: 40 } } as const;
    const a = indexToBytes(HnswIndex.build(spec, d.base));
    const b = indexToBytes(HnswIndex.build(spec, d.base));
    assert.equal(Buffer.compare(Buffer.from(a), Buffer.from(b)), 0);
  });

  it("HNSW_SQ FP16 keeps L2 semantics (unrefined scores within fp16 error)", () => {
    const spec = { type: "HNSW_SQ", metric: "L2", dim: 16, params: { sq_type: "FP16" } } as const;
    const idx = HnswIndex.build(spec, d.base);
    const got = idx.search(d.queries, 20, 5);
    const want = exactTopK(d.base, 16, d.queries, 20, "L2", 5);
    const r = recallAtK(got, want, "L2", floatScorer(d.base, d.queries, 16, "L2"));
    assert.ok(r >= 0.95, `recall ${r}`);
    const sc = floatScorer(d.base, d.queries, 16, "L2");
    for (let i = 0; i < got.offsets.length; i++) {
      const w = sc(Math.floor(i / 5), got.offsets[i]!);
      assert.ok(Math.abs(got.scores[i]! - w) <= 0.01 * Math.max(1, w), `fp16 score ${got.scores[i]} vs ${w}`);
    }
  });

  it("refuses bad specs and requests with ParameterInvalid, and searches after close with Closed", () => {
    const bad = (fn: () => unknown, re: RegExp) =>
      assert.throws(
        fn,
        (e: unknown) =>
          e instanceof Error && (e as { code?: string }).code === "ParameterInvalid" && re.test(e.message),
      );
    bad(
      () => HnswIndex.build({ type: "HNSW_SQ", metric: "L2", dim: 16, params: { sq_type: "SQ8" } }, d.base),
      /SQ8/,
    );
    bad(
      () => HnswIndex.build({ type: "HNSW", metric: "L2", dim: 16, params: { M: 1 } }, d.base),
      /M must be/,
    );
    bad(
      () => HnswIndex.build({ type: "HNSW", metric: "L2", dim: 16, params: { nlist: 4 } }, d.base),
      /nlist/,
    );
    bad(() => HnswIndex.build({ type: "HNSW", metric: "L2", dim: 7, params: {} }, d.base), /whole number/);
    bad(
      () => HnswIndex.build({ type: "HNSW_SQ", metric: "HAMMING", dim: 16, params: {} }, new Uint8Array(20)),
      /binary/,
    );
    const withNaN = d.base.slice();
    withNaN[100] = Number.NaN;
    bad(() => HnswIndex.build({ type: "HNSW", metric: "L2", dim: 16, params: {} }, withNaN), /non-finite/);
    const idx = HnswIndex.build({ type: "HNSW", metric: "L2", dim: 16, params: {} }, d.base);
    const q = d.queries.subarray(0, 16);
    bad(() => idx.search(q, 1, 0), /topk/);
    bad(() => idx.search(q, 2, 5), /expected 2 query vectors/);
    bad(() => idx.search(new Uint8Array(16), 1, 5), /Float32Array/);
    bad(() => idx.search(q, 1, 5, { ef: 0 }), /ef must be/);
    bad(() => idx.search(q, 1, 5, {}, new Uint8Array(10)), /filter has 10 entries/);
    const nan = q.slice();
    nan[3] = Number.POSITIVE_INFINITY;
    bad(() => idx.search(nan, 1, 5), /non-finite/);
    idx.close();
    idx.close();
    assert.throws(
      () => idx.search(q, 1, 5),
      (e: unknown) => (e as { code?: string }).code === "Closed",
    );
  });

  it("an empty index answers with padding; k above the row count pads", () => {
    const empty = HnswIndex.build({ type: "HNSW", metric: "IP", dim: 16, params: {} }, new Float32Array(0));
    assert.equal(empty.count, 0);
    const r = empty.search(d.queries.subarray(0, 16), 1, 3);
    assert.deepEqual([...r.offsets], [-1, -1, -1]);
    const small = HnswIndex.build(
      { type: "HNSW", metric: "L2", dim: 16, params: {} },
      d.base.subarray(0, 16 * 4),
    );
    const r2 = small.search(d.queries.subarray(0, 16), 1, 6);
    assert.deepEqual([...r2.offsets.slice(4)], [-1, -1]);
    assert.deepEqual([...r2.offsets.slice(0, 4)].sort(), [0, 1, 2, 3]);
  });
});

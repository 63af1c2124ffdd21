import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { indexToBytes, loadIndexBytes } from "../../src/index/index-file.ts";
import { IvfIndex } from "../../src/index/ivf.ts";
import { assignNearest, trainKMeans } from "../../src/index/kmeans.ts";
import { decodeSq8Row, encodeSq8Row, trainSq8 } from "../../src/index/sq8.ts";
import { clustered, exactTopK, fioriEmbeddings, floatScorer, randomFilter, recallAtK } from "./ann-data.ts";
import { gaussians, rng } from "./data.ts";

const SEED = 21;
const N = 20000;
const DIM = 64;
const NQ = 100;
const K = 10;

describe(`IVF_FLAT / IVF_SQ8 on clustered ${N} × ${DIM}, seed ${SEED}`, () => {
  const d = clustered(N, DIM, NQ, SEED);
  for (const type of ["IVF_FLAT", "IVF_SQ8"] as const) {
    for (const metric of ["L2", "IP", "COSINE"] as const) {
      it(`${type} ${metric}: recall@10 ≥ 0.95 at nprobe 16 of 128; filtered 1/10/50% only passing rows, recall ≥ 0.95`, () => {
        const idx = IvfIndex.build({ type, metric, dim: DIM, params: { nlist: 128, seed: SEED } }, d.base);
        assert.equal(idx.count, N);
        const sizes = idx.listSizes();
        assert.equal(
          sizes.reduce((a, b) => a + b, 0),
          N,
        );
        const sc = floatScorer(d.base, d.queries, DIM, metric);
        const want = exactTopK(d.base, DIM, d.queries, NQ, metric, K);
        const got = idx.search(d.queries, NQ, K, { nprobe: 16 });
        const r = recallAtK(got, want, metric, sc);
        assert.ok(r >= 0.95, `${type} ${metric} recall ${r} (seed ${SEED})`);
        for (const pass of [0.01, 0.1, 0.5]) {
          const filter = randomFilter(N, pass, SEED + pass * 1000);
          const wantF = exactTopK(d.base, DIM, d.queries, NQ, metric, K, filter);
          const gotF = idx.search(d.queries, NQ, K, { nprobe: 16 }, filter);
          const rf = recallAtK(gotF, wantF, metric, sc, filter);
          assert.ok(rf >= 0.95, `${type} ${metric} filter ${pass}: recall ${rf} (seed ${SEED})`);
        }
      });
    }
  }

  it("IVF_FLAT scores are the exact scores; with every list probed the answer is the exact top-k", () => {
    for (const metric of ["L2", "IP", "COSINE"] as const) {
      const idx = IvfIndex.build({ type: "IVF_FLAT", metric, dim: DIM, params: { nlist: 32 } }, d.base);
      const got = idx.search(d.queries.subarray(0, 20 * DIM), 20, K, { nprobe: 32 });
      const want = exactTopK(d.base, DIM, d.queries.subarray(0, 20 * DIM), 20, metric, K);
      assert.deepEqual([...got.offsets], [...want.offsets], metric);
      for (let i = 0; i < got.scores.length; i++) {
        const w = want.scores[i]!;
        assert.ok(Math.abs(got.scores[i]! - w) <= 1e-5 * Math.max(1, Math.abs(w)), `${metric} score ${i}`);
      }
    }
  });

  it("more lists probed never finds fewer true neighbours (on average)", () => {
    const idx = IvfIndex.build({ type: "IVF_FLAT", metric: "L2", dim: DIM, params: { nlist: 128 } }, d.base);
    const want = exactTopK(d.base, DIM, d.queries, NQ, "L2", K);
    const sc = floatScorer(d.base, d.queries, DIM, "L2");
    let prev = 0;
    for (const nprobe of [1, 4, 16, 64, 128]) {
      const r = recallAtK(idx.search(d.queries, NQ, K, { nprobe }), want, "L2", sc);
      assert.ok(r >= prev, `nprobe ${nprobe}: recall ${r} < ${prev}`);
      prev = r;
    }
    assert.equal(prev, 1);
  });

  it("the same seed builds the same bytes; the payload round trip searches identically", () => {
    const spec = { type: "IVF_SQ8", metric: "IP", dim: DIM, params: { nlist: 64, seed: 5 } } as const;
    const sub = d.base.subarray(0, 5000 * DIM);
    const a = IvfIndex.build(spec, sub);
    const b = IvfIndex.build(spec, sub);
    const ba = indexToBytes(a);
    assert.equal(Buffer.compare(Buffer.from(ba), Buffer.from(indexToBytes(b))), 0);
    const c = IvfIndex.build({ ...spec, params: { nlist: 64, seed: 6 } }, sub);
    assert.notEqual(Buffer.compare(Buffer.from(ba), Buffer.from(indexToBytes(c))), 0);
    const back = loadIndexBytes(ba);
    const filter = randomFilter(5000, 0.3, 1);
    for (const f of [undefined, filter]) {
      const x = a.search(d.queries, NQ, K, { nprobe: 4 }, f);
      const y = back.search(d.queries, NQ, K, { nprobe: 4 }, f);
      assert.deepEqual([...y.offsets], [...x.offsets]);
      assert.deepEqual([...y.scores], [...x.scores]);
    }
    // An unaligned copy of the bytes still loads (the arrays are copied rather than viewed).
    const shifted = new Uint8Array(ba.byteLength + 3);
    shifted.set(ba, 3);
    const y = loadIndexBytes(shifted.subarray(3)).search(d.queries, NQ, K, { nprobe: 4 });
    assert.deepEqual([...y.offsets], [...a.search(d.queries, NQ, K, { nprobe: 4 }).offsets]);
  });
});

describe("IVF on real text embeddings (fiori-docs, 384-d MiniLM)", () => {
  const d = fioriEmbeddings(50);
  for (const type of ["IVF_FLAT", "IVF_SQ8"] as const) {
    for (const metric of ["COSINE", "IP", "L2"] as const) {
      it(`${type} ${metric}: recall@10 ≥ 0.95 (nlist 16, nprobe 6); filtered 10% recall ≥ 0.95`, () => {
        const idx = IvfIndex.build({ type, metric, dim: d.dim, params: { nlist: 16 } }, d.base);
        const sc = floatScorer(d.base, d.queries, d.dim, metric);
        const want = exactTopK(d.base, d.dim, d.queries, d.nq, metric, K);
        const r = recallAtK(idx.search(d.queries, d.nq, K, { nprobe: 6 }), want, metric, sc);
        assert.ok(r >= 0.95, `${type} ${metric} recall ${r}`);
        const filter = randomFilter(d.n, 0.1, 4);
        const wantF = exactTopK(d.base, d.dim, d.queries, d.nq, metric, K, filter);
        const rf = recallAtK(
          idx.search(d.queries, d.nq, K, { nprobe: 6 }, filter),
          wantF,
          metric,
          sc,
          filter,
        );
        assert.ok(rf >= 0.95, `${type} ${metric} filtered recall ${rf}`);
      });
    }
  }
});

describe("IVF contract details", () => {
  const d = clustered(2000, 16, 10, 3, 50);

  it("nlist above the row count builds one list per row at most; an empty segment searches empty", () => {
    const few = IvfIndex.build(
      { type: "IVF_FLAT", metric: "L2", dim: 16, params: { nlist: 1000 } },
      d.base.subarray(0, 16 * 7),
    );
    assert.equal(few.config.nlist, 7);
    const r = few.search(d.queries.subarray(0, 16), 1, 10, { nprobe: 7 });
    assert.deepEqual([...r.offsets.slice(7)], [-1, -1, -1]);
    const empty = IvfIndex.build(
      { type: "IVF_SQ8", metric: "COSINE", dim: 16, params: {} },
      new Float32Array(0),
    );
    assert.deepEqual([...empty.search(d.queries.subarray(0, 16), 1, 2).offsets], [-1, -1]);
    assert.deepEqual(
      [...loadIndexBytes(indexToBytes(empty)).search(d.queries.subarray(0, 16), 1, 2).offsets],
      [-1, -1],
    );
  });

  it("COSINE scores a zero row 0 and never NaN", () => {
    const rows = d.base.slice(0, 16 * 50);
    rows.fill(0, 0, 16);
    for (const type of ["IVF_FLAT", "IVF_SQ8"] as const) {
      const idx = IvfIndex.build({ type, metric: "COSINE", dim: 16, params: { nlist: 4 } }, rows);
      const got = idx.search(d.queries.subarray(0, 16), 1, 50, { nprobe: 4 });
      const at = [...got.offsets].indexOf(0);
      assert.ok(at >= 0, type);
      assert.ok(Math.abs(got.scores[at]!) < 0.02, `${type}: zero row scored ${got.scores[at]}`);
      assert.ok(!got.scores.some(Number.isNaN), type);
    }
  });

  it("refuses bad specs and requests with ParameterInvalid; Closed after close", () => {
    const bad = (fn: () => unknown, re: RegExp) =>
      assert.throws(
        fn,
        (e: unknown) =>
          e instanceof Error && (e as { code?: string }).code === "ParameterInvalid" && re.test(e.message),
      );
    bad(
      () => IvfIndex.build({ type: "IVF_FLAT", metric: "HAMMING", dim: 16, params: {} }, new Uint8Array(20)),
      /float vectors only/,
    );
    bad(
      () => IvfIndex.build({ type: "IVF_FLAT", metric: "L2", dim: 16, params: { nlist: 0 } }, d.base),
      /nlist must be/,
    );
    bad(
      () => IvfIndex.build({ type: "IVF_FLAT", metric: "L2", dim: 16, params: { nlist: "12x" } }, d.base),
      /nlist must be/,
    );
    bad(
      () => IvfIndex.build({ type: "IVF_FLAT", metric: "L2", dim: 16, params: { M: 4 } }, d.base),
      /no build parameter/,
    );
    const withNaN = d.base.slice();
    withNaN[7] = Number.NaN;
    bad(() => IvfIndex.build({ type: "IVF_SQ8", metric: "L2", dim: 16, params: {} }, withNaN), /non-finite/);
    const idx = IvfIndex.build({ type: "IVF_FLAT", metric: "L2", dim: 16, params: { nlist: "8" } }, d.base);
    assert.equal(idx.config.nlist, 8);
    bad(() => idx.search(d.queries.subarray(0, 16), 1, 5, { nprobe: 0 }), /nprobe must be/);
    bad(() => idx.search(d.queries.subarray(0, 15), 1, 5), /whole number/);
    idx.close();
    assert.throws(
      () => idx.search(d.queries.subarray(0, 16), 1, 5),
      (e: unknown) => (e as { code?: string }).code === "Closed",
    );
  });
});

describe("k-means and SQ8 kernels", () => {
  it("k-means recovers well-separated centres (seeded)", () => {
    const r = rng(77);
    const k = 8;
    const dim = 8;
    const centres = gaussians(r, k * dim).map((x) => x * 20);
    const per = 300;
    const data = new Float32Array(k * per * dim);
    const noise = gaussians(r, data.length);
    for (let i = 0; i < k * per; i++) {
      for (let j = 0; j < dim; j++)
        data[i * dim + j] = centres[(i % k) * dim + j]! + 0.1 * noise[i * dim + j]!;
    }
    const got = trainKMeans(data, k * per, dim, { k, seed: 1 });
    const assign = new Int32Array(k).fill(-1);
    assignNearest(centres, k, dim, got, k, assign);
    assert.equal(new Set(assign).size, k, "each true centre should have its own centroid");
    for (let c = 0; c < k; c++) {
      let d2 = 0;
      for (let j = 0; j < dim; j++) d2 += (centres[c * dim + j]! - got[assign[c]! * dim + j]!) ** 2;
      assert.ok(d2 < 0.1, `centre ${c} is ${Math.sqrt(d2)} away from its centroid`);
    }
  });

  it("k-means with more centroids than distinct rows leaves no list empty where rows allow", () => {
    const data = new Float32Array(40 * 4);
    for (let i = 0; i < 40; i++) data.fill(i % 5, i * 4, i * 4 + 4);
    const c = trainKMeans(data, 40, 4, { k: 5, seed: 3 });
    const assign = new Int32Array(40).fill(-1);
    assignNearest(data, 40, 4, c, 5, assign);
    assert.equal(new Set(assign).size, 5);
  });

  it("SQ8 decodes every value within half a step of the original", () => {
    const r = rng(5);
    const dim = 24;
    const n = 500;
    const data = gaussians(r, n * dim);
    for (let i = 0; i < n; i++) data[i * dim + 3] = 1.5; // a constant dimension decodes exactly
    const p = trainSq8(data, n, dim);
    const codes = new Uint8Array(n * dim);
    for (let i = 0; i < n; i++) encodeSq8Row(p, data, i, codes, i, dim);
    for (let i = 0; i < n; i++) {
      const back = decodeSq8Row(p, codes, i, dim);
      for (let j = 0; j < dim; j++) {
        const err = Math.abs(back[j]! - data[i * dim + j]!);
        assert.ok(err <= p.scale[j]! / 2 + 1e-6, `row ${i} dim ${j}: error ${err}, step ${p.scale[j]}`);
      }
      assert.equal(back[3], 1.5);
    }
  });
});

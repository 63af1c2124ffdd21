import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Column, SparseRow } from "../../src/common/column.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { DataType } from "../../src/common/types.ts";
import { type MetricType, prepareSegment, searchExact, searchPrepared } from "../../src/index/index.ts";
import { bitset, bytes, gaussians, rng, smallInts, sparseRow } from "./data.ts";
import { assertSameAsReference, refBHalf, refBinary, refFloat, refHalf, refSparse } from "./reference.ts";

const FLOAT_METRICS: MetricType[] = ["L2", "IP", "COSINE"];

function floatCol(dim: number, data: Float32Array): Column {
  return { type: DataType.FloatVector, dim, data };
}

describe("searchExact on float vectors agrees with the reference", () => {
  it("random data: dims 1..128, nq 1/2/3/5/64, several topk, with and without bitsets", () => {
    const SEED = 11;
    const r = rng(SEED);
    let cases = 0;
    for (const dim of [1, 2, 3, 4, 7, 8, 17, 64, 128]) {
      for (const nq of [1, 2, 3, 5, 64]) {
        const n = 1 + Math.floor(r() * 400);
        const data = gaussians(r, n * dim);
        const queries = gaussians(r, nq * dim);
        for (const metric of FLOAT_METRICS) {
          for (const topk of [1, 10, n + 3]) {
            const bs = r() < 0.5 ? undefined : bitset(r, n, r());
            const res = searchExact({
              vectors: floatCol(dim, data),
              queries,
              metric,
              topk,
              ...(bs ? { bitset: bs } : {}),
            });
            const ref = refFloat(data, dim, queries, metric, topk, bs);
            assertSameAsReference(res, ref, `seed ${SEED} dim ${dim} nq ${nq} n ${n} ${metric} k ${topk}`);
            cases++;
          }
        }
      }
    }
    assert.equal(cases, 9 * 5 * 3 * 3);
  });

  it("dim 1536, nq 1 and 64", () => {
    const SEED = 12;
    const r = rng(SEED);
    const dim = 1536;
    const n = 300;
    const data = gaussians(r, n * dim);
    for (const nq of [1, 64]) {
      const queries = gaussians(r, nq * dim);
      for (const metric of FLOAT_METRICS) {
        const res = searchExact({ vectors: floatCol(dim, data), queries, metric, topk: 10 });
        assertSameAsReference(
          res,
          refFloat(data, dim, queries, metric, 10),
          `seed ${SEED} nq ${nq} ${metric}`,
        );
      }
    }
  });

  it("ties, duplicate rows and zero vectors resolve to the lower offset, exactly", () => {
    const SEED = 13;
    const r = rng(SEED);
    for (const dim of [1, 3, 4, 9]) {
      const n = 500;
      // Values in {-1, 0, 1}: every score is exact, many rows tie, and some rows (and queries) are zero.
      const data = smallInts(r, n * dim, 1);
      for (let i = 0; i < 40; i++) {
        const from = Math.floor(r() * n) * dim;
        data.copyWithin(Math.floor(r() * n) * dim, from, from + dim);
      }
      data.fill(0, 7 * dim, 8 * dim);
      const queries = smallInts(r, 64 * dim, 1);
      queries.fill(0, 0, dim);
      for (const metric of FLOAT_METRICS) {
        for (const nq of [1, 64]) {
          const qs = queries.subarray(0, nq * dim);
          const res = searchExact({ vectors: floatCol(dim, data), queries: qs, metric, topk: 50 });
          assertSameAsReference(
            res,
            refFloat(data, dim, qs, metric, 50),
            `seed ${SEED} dim ${dim} ${metric} nq ${nq}`,
            true,
          );
        }
      }
      // A zero query has cosine 0 with everything: the first 50 offsets, in order.
      const zero = searchExact({
        vectors: floatCol(dim, data),
        queries: new Float32Array(dim),
        metric: "COSINE",
        topk: 50,
      });
      assert.deepEqual(
        [...zero.offsets],
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.ok(zero.scores.every((s) => Object.is(s, 0)));
    }
  });

  it("N < topk pads with -1 / NaN; an all-zero bitset returns only padding; sparse bitsets return just their rows", () => {
    const SEED = 14;
    const r = rng(SEED);
    const dim = 16;
    const data = gaussians(r, 5 * dim);
    const queries = gaussians(r, 64 * dim);
    for (const metric of FLOAT_METRICS) {
      const res = searchExact({ vectors: floatCol(dim, data), queries, metric, topk: 8 });
      assertSameAsReference(res, refFloat(data, dim, queries, metric, 8), `seed ${SEED} ${metric} N<topk`);
      for (let q = 0; q < 64; q++) {
        assert.deepEqual([...res.offsets.subarray(q * 8 + 5, q * 8 + 8)], [-1, -1, -1]);
      }
      const none = searchExact({
        vectors: floatCol(dim, data),
        queries,
        metric,
        topk: 3,
        bitset: new Uint8Array(5),
      });
      assert.ok(none.offsets.every((o) => o === -1));
      assert.ok(none.scores.every((s) => Number.isNaN(s)));
    }
    const big = gaussians(r, 5000 * dim);
    const few = new Uint8Array(5000);
    few[17] = 1;
    few[4096] = 1;
    few[4999] = 1;
    for (const metric of FLOAT_METRICS) {
      for (const nq of [1, 64]) {
        const qs = queries.subarray(0, nq * dim);
        const res = searchExact({ vectors: floatCol(dim, big), queries: qs, metric, topk: 10, bitset: few });
        assertSameAsReference(
          res,
          refFloat(big, dim, qs, metric, 10, few),
          `seed ${SEED} ${metric} few rows`,
        );
        for (let q = 0; q < nq; q++) {
          assert.deepEqual([...res.offsets.subarray(q * 10 + 3, q * 10 + 10)], [-1, -1, -1, -1, -1, -1, -1]);
        }
      }
    }
  });

  it("an empty segment returns only padding", () => {
    const res = searchExact({
      vectors: floatCol(4, new Float32Array(0)),
      queries: new Float32Array(8),
      metric: "L2",
      topk: 2,
    });
    assert.deepEqual([...res.offsets], [-1, -1, -1, -1]);
  });

  it("topk 16384 over 20000 rows", () => {
    const SEED = 15;
    const r = rng(SEED);
    const dim = 4;
    const data = gaussians(r, 20000 * dim);
    const queries = gaussians(r, 2 * dim);
    const res = searchExact({ vectors: floatCol(dim, data), queries, metric: "IP", topk: 16384 });
    assertSameAsReference(res, refFloat(data, dim, queries, "IP", 16384), `seed ${SEED}`);
  });

  it("a batch returns the same rows as each query alone", () => {
    const SEED = 16;
    const r = rng(SEED);
    const dim = 32;
    const data = gaussians(r, 3000 * dim);
    const queries = gaussians(r, 64 * dim);
    for (const metric of FLOAT_METRICS) {
      const batch = searchExact({ vectors: floatCol(dim, data), queries, metric, topk: 20 });
      for (let q = 0; q < 64; q++) {
        const one = searchExact({
          vectors: floatCol(dim, data),
          queries: queries.subarray(q * dim, (q + 1) * dim),
          metric,
          topk: 20,
        });
        assert.deepEqual(
          [...one.offsets],
          [...batch.offsets.subarray(q * 20, (q + 1) * 20)],
          `seed ${SEED} ${metric} q ${q}`,
        );
        for (let i = 0; i < 20; i++) {
          const a = one.scores[i]!;
          const b = batch.scores[q * 20 + i]!;
          assert.ok(
            Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)),
            `seed ${SEED} ${metric} q ${q}: ${a} vs ${b}`,
          );
        }
      }
    }
  });
});

describe("Float16 / BFloat16", () => {
  it("decoders agree with the IEEE definitions on all 65536 patterns", async () => {
    const { decodeFloat16, decodeBFloat16 } = await import("../../src/index/index.ts");
    const all = new Uint16Array(65536).map((_, i) => i);
    const h = decodeFloat16(all);
    const b = decodeBFloat16(all);
    for (let i = 0; i < 65536; i++) {
      const wantH = Math.fround(refHalf(i));
      if (!Object.is(h[i], wantH)) assert.fail(`f16 0x${i.toString(16)}: ${h[i]} want ${wantH}`);
      const wantB = refBHalf(i);
      if (!Object.is(b[i], wantB)) assert.fail(`bf16 0x${i.toString(16)}: ${b[i]} want ${wantB}`);
    }
  });

  it("search the decoded values, with raw 16-bit or float32 queries; NaN rows never returned", () => {
    const SEED = 17;
    const r = rng(SEED);
    const dim = 24;
    const n = 700;
    for (const type of [DataType.Float16Vector, DataType.BFloat16Vector] as const) {
      const dec = type === DataType.Float16Vector ? refHalf : refBHalf;
      // Patterns of moderate values (and a few subnormals and zeros).
      const raw = new Uint16Array(n * dim);
      const g = gaussians(r, n * dim);
      for (let i = 0; i < raw.length; i++) raw[i] = toHalfish(g[i]!, type === DataType.Float16Vector);
      raw.fill(0x0001, 3 * dim, 4 * dim);
      raw[10 * dim] = type === DataType.Float16Vector ? 0x7e00 : 0x7fc0; // a NaN in row 10
      const decoded = Float32Array.from(raw, (v) => dec(v));
      const qRaw = new Uint16Array(5 * dim);
      const gq = gaussians(r, 5 * dim);
      for (let i = 0; i < qRaw.length; i++) qRaw[i] = toHalfish(gq[i]!, type === DataType.Float16Vector);
      const qDec = Float32Array.from(qRaw, (v) => dec(v));
      const col: Column = { type, dim, data: raw };
      for (const metric of FLOAT_METRICS) {
        const ref = refFloat(decoded, dim, qDec, metric, 15);
        assertSameAsReference(
          searchExact({ vectors: col, queries: qRaw, metric, topk: 15 }),
          ref,
          `${type} raw ${metric}`,
        );
        assertSameAsReference(
          searchExact({ vectors: col, queries: qDec, metric, topk: 15 }),
          ref,
          `${type} f32 ${metric}`,
        );
        const all = searchExact({ vectors: col, queries: qDec, metric, topk: n });
        assert.ok(![...all.offsets].includes(10), "the NaN row is never a result");
      }
    }
  });
});

/** A 16-bit pattern near x: bf16 = top half of the float32; f16 by rounding through a scaled search. */
function toHalfish(x: number, f16: boolean): number {
  if (!f16) {
    const dv = new DataView(new ArrayBuffer(4));
    dv.setFloat32(0, x);
    return dv.getUint32(0) >>> 16;
  }
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.min(Math.abs(x), 65504);
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  const m = Math.min(1023, Math.round((a / 2 ** e - 1) * 1024));
  return sign | ((e + 15) << 10) | m;
}

describe("binary vectors", () => {
  it("HAMMING and JACCARD match bit-by-bit references exactly (aligned and unaligned rows)", () => {
    const SEED = 18;
    const r = rng(SEED);
    for (const dim of [8, 24, 64, 72, 256]) {
      const B = dim / 8;
      const n = 1 + Math.floor(r() * 600);
      const data = bytes(r, n * B, r());
      data.fill(0, 0, Math.min(n, 3) * B); // all-zero rows
      for (const nq of [1, 64]) {
        const queries = bytes(r, nq * B, r());
        queries.fill(0, 0, B); // an all-zero query: Jaccard 0 to the zero rows
        for (const metric of ["HAMMING", "JACCARD"] as const) {
          for (const topk of [1, 10, n + 2]) {
            const bs = r() < 0.5 ? undefined : bitset(r, n, r());
            const vectors: Column = { type: DataType.BinaryVector, dim, data };
            const res = searchExact({ vectors, queries, metric, topk, ...(bs ? { bitset: bs } : {}) });
            const ref = refBinary(data, dim, queries, metric, topk, bs);
            assertSameAsReference(
              res,
              ref,
              `seed ${SEED} dim ${dim} n ${n} nq ${nq} ${metric} k ${topk}`,
              true,
            );
          }
        }
      }
    }
  });

  it("rows that start at an unaligned byte offset", () => {
    const SEED = 19;
    const r = rng(SEED);
    const dim = 64;
    const backing = bytes(r, 1 + 100 * 8);
    const data = backing.subarray(1);
    const queries = bytes(r, 3 * 8);
    const res = searchExact({
      vectors: { type: DataType.BinaryVector, dim, data },
      queries,
      metric: "HAMMING",
      topk: 7,
    });
    assertSameAsReference(res, refBinary(data, dim, queries, "HAMMING", 7), `seed ${SEED}`, true);
  });
});

describe("sparse vectors", () => {
  it("IP matches the reference (dense-scatter and merge paths), zero-overlap rows excluded", () => {
    const SEED = 20;
    const r = rng(SEED);
    for (const maxIndex of [50, 3000, 2 ** 31]) {
      const n = 400;
      const rows: SparseRow[] = Array.from({ length: n }, () => sparseRow(r, 12, maxIndex, true));
      for (const nq of [1, 64]) {
        const queries: SparseRow[] = Array.from({ length: nq }, () => sparseRow(r, 20, maxIndex, true));
        queries[0] = { indices: new Uint32Array(0), values: new Float32Array(0) };
        for (const topk of [1, 10, 500]) {
          const bs = r() < 0.5 ? undefined : bitset(r, n, 0.3);
          const vectors: Column = { type: DataType.SparseFloatVector, data: rows };
          const res = searchExact({ vectors, queries, metric: "IP", topk, ...(bs ? { bitset: bs } : {}) });
          assertSameAsReference(
            res,
            refSparse(rows, queries, topk, bs),
            `seed ${SEED} max ${maxIndex} nq ${nq} k ${topk}`,
          );
        }
      }
    }
  });
});

describe("request validation (ParameterInvalid, nothing computed)", () => {
  const dim = 8;
  const floats = floatCol(dim, new Float32Array(10 * dim));
  const binary: Column = { type: DataType.BinaryVector, dim: 16, data: new Uint8Array(20) };
  const sparse: Column = { type: DataType.SparseFloatVector, data: [] };
  const cases: [string, () => unknown][] = [
    [
      "query length not a multiple of dim",
      () => searchExact({ vectors: floats, queries: new Float32Array(12), metric: "L2", topk: 1 }),
    ],
    [
      "nq mismatch",
      () => searchExact({ vectors: floats, queries: new Float32Array(16), nq: 1, metric: "L2", topk: 1 }),
    ],
    [
      "no queries",
      () => searchExact({ vectors: floats, queries: new Float32Array(0), metric: "L2", topk: 1 }),
    ],
    ["topk 0", () => searchExact({ vectors: floats, queries: new Float32Array(8), metric: "L2", topk: 0 })],
    [
      "topk 16385",
      () => searchExact({ vectors: floats, queries: new Float32Array(8), metric: "L2", topk: 16385 }),
    ],
    [
      "topk 1.5",
      () => searchExact({ vectors: floats, queries: new Float32Array(8), metric: "L2", topk: 1.5 }),
    ],
    [
      "HAMMING on floats",
      () => searchExact({ vectors: floats, queries: new Float32Array(8), metric: "HAMMING", topk: 1 }),
    ],
    [
      "L2 on binary",
      () => searchExact({ vectors: binary, queries: new Uint8Array(2), metric: "L2", topk: 1 }),
    ],
    ["COSINE on sparse", () => searchExact({ vectors: sparse, queries: [], metric: "COSINE", topk: 1 })],
    [
      "unknown metric",
      () =>
        searchExact({ vectors: floats, queries: new Float32Array(8), metric: "FOO" as MetricType, topk: 1 }),
    ],
    [
      "NaN in a query",
      () =>
        searchExact({
          vectors: floats,
          queries: new Float32Array(8).fill(Number.NaN, 3, 4),
          metric: "IP",
          topk: 1,
        }),
    ],
    [
      "Infinity in a query",
      () =>
        searchExact({
          vectors: floats,
          queries: new Float32Array(8).fill(Number.POSITIVE_INFINITY, 0, 1),
          metric: "IP",
          topk: 1,
        }),
    ],
    [
      "bitset of the wrong length",
      () =>
        searchExact({
          vectors: floats,
          queries: new Float32Array(8),
          metric: "L2",
          topk: 1,
          bitset: new Uint8Array(9),
        }),
    ],
    [
      "Uint8Array queries for floats",
      () => searchExact({ vectors: floats, queries: new Uint8Array(8), metric: "L2", topk: 1 }),
    ],
    [
      "Uint16Array queries for FloatVector",
      () => searchExact({ vectors: floats, queries: new Uint16Array(8), metric: "L2", topk: 1 }),
    ],
    [
      "binary query not whole rows",
      () => searchExact({ vectors: binary, queries: new Uint8Array(3), metric: "HAMMING", topk: 1 }),
    ],
    [
      "binary dim not a multiple of 8",
      () =>
        searchExact({
          vectors: { type: DataType.BinaryVector, dim: 12, data: new Uint8Array(3) },
          queries: new Uint8Array(2),
          metric: "HAMMING",
          topk: 1,
        }),
    ],
    [
      "sparse indices not increasing",
      () =>
        searchExact({
          vectors: sparse,
          queries: [{ indices: Uint32Array.of(3, 3), values: Float32Array.of(1, 1) }],
          metric: "IP",
          topk: 1,
        }),
    ],
    [
      "sparse NaN value",
      () =>
        searchExact({
          vectors: sparse,
          queries: [{ indices: Uint32Array.of(3), values: Float32Array.of(Number.NaN) }],
          metric: "IP",
          topk: 1,
        }),
    ],
    [
      "sparse length mismatch",
      () =>
        searchExact({
          vectors: sparse,
          queries: [{ indices: Uint32Array.of(3), values: new Float32Array(2) }],
          metric: "IP",
          topk: 1,
        }),
    ],
    [
      "not a vector column",
      () =>
        searchExact({
          vectors: { type: DataType.Int64, data: new BigInt64Array(3) },
          queries: new Float32Array(1),
          metric: "L2",
          topk: 1,
        }),
    ],
  ];
  for (const [name, fn] of cases) {
    it(name, () => {
      assert.throws(fn, (e: unknown) => isStrataError(e, "ParameterInvalid"));
    });
  }

  it("the inputs are left untouched", () => {
    const SEED = 21;
    const r = rng(SEED);
    const data = gaussians(r, 50 * dim);
    const queries = gaussians(r, 3 * dim);
    const before = [Float32Array.from(data), Float32Array.from(queries)];
    searchExact({ vectors: floatCol(dim, data), queries, metric: "COSINE", topk: 5 });
    assert.deepEqual([data, queries], before);
  });

  it("searchPrepared reuses a prepared segment", () => {
    const SEED = 22;
    const r = rng(SEED);
    const data = gaussians(r, 100 * dim);
    const queries = gaussians(r, 4 * dim);
    const seg = prepareSegment(floatCol(dim, data));
    const res = searchPrepared(seg, { queries, metric: "L2", topk: 5 });
    assertSameAsReference(res, refFloat(data, dim, queries, "L2", 5), `seed ${SEED}`);
  });
});

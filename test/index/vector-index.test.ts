import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assignJs, assignNearest } from "../../src/index/kmeans.ts";
import { countPassing, estimatePassing, intParam } from "../../src/index/vector-index.ts";
import { clustered, randomFilter } from "./ann-data.ts";

describe("shared index helpers", () => {
  it("estimatePassing: exact for small or selective filters, close otherwise, never a false 0 or n", () => {
    for (const [n, p] of [
      [1000, 0.5],
      [100_000, 0.001],
      [100_000, 0.2],
      [100_000, 0.5],
      [100_000, 0.9],
    ] as const) {
      const f = randomFilter(n, p, 3);
      const exact = countPassing(f);
      const est = estimatePassing(f);
      if (n <= 16384 || p < 0.25) assert.equal(est, exact, `n ${n} p ${p}`);
      else assert.ok(Math.abs(est - exact) < 0.03 * n, `n ${n} p ${p}: estimate ${est}, exact ${exact}`);
    }
    const all = new Uint8Array(50_000).fill(1);
    assert.equal(estimatePassing(all), 49_999, "an estimate must not claim every row passes");
    all[123] = 0;
    assert.ok(estimatePassing(all) < 50_000);
    const none = new Uint8Array(50_000);
    assert.equal(estimatePassing(none), 0);
    none[49_999] = 1;
    assert.equal(estimatePassing(none), 1, "a lone passing row outside the sample is still counted");
  });

  it("intParam accepts integers and digit strings in range, else ParameterInvalid naming the owner", () => {
    assert.equal(intParam({ a: "12" }, "a", 1, 20, 5, "X"), 12);
    assert.equal(intParam({ a: 3 }, "a", 1, 20, 5, "X"), 3);
    assert.equal(intParam({}, "a", 1, 20, 5, "X"), 5);
    for (const bad of ["1.5", "abc", "", 0, 21, 2.5]) {
      assert.throws(
        () => intParam({ a: bad }, "a", 1, 20, 5, "X"),
        (e: unknown) =>
          (e as { code?: string }).code === "ParameterInvalid" && /X: a must be/.test((e as Error).message),
      );
    }
  });

  it("k-means assignment: the native path agrees with the JS kernel (up to float near-ties)", () => {
    const d = clustered(6000, 32, 64, 8, 40);
    const centroids = d.queries;
    const js = new Int32Array(6000).fill(-1);
    const native = new Int32Array(6000).fill(-1);
    const jsDist = new Float32Array(6000);
    const nDist = new Float32Array(6000);
    assignJs(d.base, 6000, 32, centroids, 64, js, jsDist);
    assert.ok(6000 * 64 * 32 >= 1 << 22, "the case must take the native path");
    assignNearest(d.base, 6000, 32, centroids, 64, native, nDist);
    let differ = 0;
    for (let i = 0; i < 6000; i++) {
      if (js[i] !== native[i]) {
        differ++;
        assert.ok(
          Math.abs(jsDist[i]! - nDist[i]!) <= 1e-3 * Math.max(1, jsDist[i]!),
          `row ${i}: not a near-tie`,
        );
      }
      assert.ok(Math.abs(jsDist[i]! - nDist[i]!) <= 1e-3 * Math.max(1, jsDist[i]!), `row ${i} distance`);
    }
    assert.ok(differ <= 3, `${differ} rows assigned differently`);
  });
});

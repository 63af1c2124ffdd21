import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DataType } from "../../src/common/types.ts";
import { NATIVE_MAX_EXCLUDED, nativeSearch, searchExact } from "../../src/index/index.ts";
import { rng } from "../helpers/env.ts";

describe("native exact search (usearch)", () => {
  const dim = 24;
  const n = NATIVE_MAX_EXCLUDED * 2 + 1000;
  const r = rng(8);
  const data = new Float32Array(n * dim).map(() => r() * 2 - 1);
  const vectors = { type: DataType.FloatVector, dim, data } as const;

  for (const metric of ["L2", "IP", "COSINE"] as const) {
    it(`${metric}: the same top-k as the JS kernels, with and without excluded rows, nq 1 and 5`, () => {
      for (const nq of [1, 5]) {
        const queries = new Float32Array(nq * dim).map(() => r() * 2 - 1);
        const allow = new Uint8Array(n).fill(1);
        for (let i = 0; i < 200; i++) allow[Math.floor(r() * n)] = 0;
        // Few rows pass: the gathered path (passing rows copied together).
        const few = new Uint8Array(n);
        for (let i = 0; i < 300; i++) few[Math.floor(r() * n)] = 1;
        for (const bitset of [undefined, allow, few]) {
          const want = searchExact({
            vectors,
            queries,
            nq,
            metric,
            topk: 10,
            ...(bitset === undefined ? {} : { bitset }),
          });
          const got = nativeSearch(vectors, queries, nq, metric, 10, bitset);
          assert.ok(got !== undefined);
          assert.deepEqual([...got.offsets], [...want.offsets], `${metric} nq=${nq} offsets`);
          for (let i = 0; i < want.scores.length; i++) {
            const w = want.scores[i] as number;
            assert.ok(
              Math.abs((got.scores[i] as number) - w) <= 1e-4 * Math.max(1, Math.abs(w)),
              `${metric} score ${i}`,
            );
          }
          if (bitset !== undefined)
            for (const o of got.offsets) assert.equal(bitset[o], 1, "an excluded row was returned");
        }
      }
    });
  }

  it("declines what it cannot do exactly and cheaply: shared or offset buffers, other metrics, more than half but not nearly all rows passing", () => {
    const q = new Float32Array(dim);
    const sab = new Float32Array(new SharedArrayBuffer(data.byteLength));
    sab.set(data);
    assert.equal(
      nativeSearch({ type: DataType.FloatVector, dim, data: sab }, q, 1, "L2", 5, undefined),
      undefined,
    );
    assert.equal(
      nativeSearch({ type: DataType.FloatVector, dim, data: data.subarray(dim) }, q, 1, "L2", 5, undefined),
      undefined,
    );
    assert.equal(nativeSearch(vectors, q, 1, "HAMMING", 5, undefined), undefined);
    // More than NATIVE_MAX_EXCLUDED rows out but more than half in: neither path is exact and cheap.
    const bigN = NATIVE_MAX_EXCLUDED * 4;
    const big = { type: DataType.FloatVector, dim: 2, data: new Float32Array(bigN * 2) } as const;
    const mixed = new Uint8Array(bigN);
    mixed.fill(1, 0, bigN - NATIVE_MAX_EXCLUDED - 1);
    assert.equal(nativeSearch(big, new Float32Array(2), 1, "L2", 5, mixed), undefined);
    mixed.fill(1, 0, bigN - NATIVE_MAX_EXCLUDED);
    assert.ok(nativeSearch(big, new Float32Array(2), 1, "L2", 5, mixed) !== undefined);
    const half = new Uint8Array(bigN).fill(1, 0, bigN / 2);
    assert.ok(nativeSearch(big, new Float32Array(2), 1, "L2", 5, half) !== undefined);
    const none = new Uint8Array(n);
    const empty = nativeSearch(vectors, q, 1, "L2", 5, none);
    assert.ok(empty === undefined || [...empty.offsets].every((o) => o === -1));
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DataType } from "../../src/common/types.ts";
import { NATIVE_MAX_EXCLUDED, nativeSearch, searchExact } from "../../src/index/index.ts";
import { rng } from "../helpers/env.ts";

describe("native exact search (usearch)", () => {
  const dim = 24;
  const n = 3000;
  const r = rng(8);
  const data = new Float32Array(n * dim).map(() => r() * 2 - 1);
  const vectors = { type: DataType.FloatVector, dim, data } as const;

  for (const metric of ["L2", "IP", "COSINE"] as const) {
    it(`${metric}: the same top-k as the JS kernels, with and without excluded rows, nq 1 and 5`, () => {
      for (const nq of [1, 5]) {
        const queries = new Float32Array(nq * dim).map(() => r() * 2 - 1);
        const allow = new Uint8Array(n).fill(1);
        for (let i = 0; i < 200; i++) allow[Math.floor(r() * n)] = 0;
        for (const bitset of [undefined, allow]) {
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

  it("declines what it cannot do exactly: shared or offset buffers, other metrics, too many excluded rows", () => {
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
    const bigN = NATIVE_MAX_EXCLUDED + 100;
    const big = { type: DataType.FloatVector, dim: 2, data: new Float32Array(bigN * 2) } as const;
    const mostlyOut = new Uint8Array(bigN);
    mostlyOut.fill(1, 0, 99);
    assert.equal(nativeSearch(big, new Float32Array(2), 1, "L2", 5, mostlyOut), undefined);
    mostlyOut.fill(1, 0, 100);
    assert.ok(nativeSearch(big, new Float32Array(2), 1, "L2", 5, mostlyOut) !== undefined);
    const none = new Uint8Array(n);
    const empty = nativeSearch(vectors, q, 1, "L2", 5, none);
    assert.ok(empty === undefined || [...empty.offsets].every((o) => o === -1));
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HnswIndex } from "../../src/index/hnsw.ts";
import { IndexBatcher } from "../../src/querynode/index-batcher.ts";
import { clustered } from "../index/ann-data.ts";

describe("IndexBatcher", () => {
  const d = clustered(3000, 16, 40, 9, 50);
  const index = HnswIndex.build({ type: "HNSW", metric: "L2", dim: 16, params: {} }, d.base, {
    threads: 2,
    searchThreads: 2,
  });
  const q = (i: number) => d.queries.slice(i * 16, (i + 1) * 16);

  it("a lone request runs at once; concurrent ones are batched and answered exactly as alone", async () => {
    const b = new IndexBatcher();
    b.begin();
    const lone = b.search(index, q(0), 1, 10, { ef: 32 });
    b.end();
    assert.deepEqual(
      Array.from((await lone).offsets),
      Array.from(index.search(q(0), 1, 10, { ef: 32 }).offsets),
    );
    // 40 requests in flight at once, mixed k, one of them two queries at a time.
    for (let i = 0; i < 40; i++) b.begin();
    const ps = Array.from({ length: 39 }, (_, i) =>
      i === 5
        ? b.search(index, d.queries.slice(5 * 16, 7 * 16), 2, 10, { ef: 32 })
        : b.search(index, q(i), 1, i % 2 === 0 ? 10 : 5, { ef: 32 }),
    );
    const got = await Promise.all(ps);
    for (let i = 0; i < 40; i++) b.end();
    got.forEach((r, i) => {
      const want =
        i === 5
          ? index.search(d.queries.slice(5 * 16, 7 * 16), 2, 10, { ef: 32 })
          : index.search(q(i), 1, i % 2 === 0 ? 10 : 5, { ef: 32 });
      assert.equal(r.nq, want.nq);
      assert.equal(r.topk, want.topk);
      assert.deepEqual(Array.from(r.offsets), Array.from(want.offsets), `request ${i}`);
    });
  });

  it("a bad request in a batch fails alone", async () => {
    const b = new IndexBatcher();
    b.begin();
    b.begin();
    const good = b.search(index, q(1), 1, 10, {});
    const bad = b.search(index, new Float32Array(16).fill(Number.NaN), 1, 10, {});
    await assert.rejects(bad, (e: unknown) => (e as { code?: string }).code === "ParameterInvalid");
    assert.equal((await good).offsets.length, 10);
    b.end();
    b.end();
  });
});

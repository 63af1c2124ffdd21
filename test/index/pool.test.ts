import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Column, SparseRow } from "../../src/common/column.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { DataType } from "../../src/common/types.ts";
import { type MetricType, SearchPool, type SearchResult, searchExact } from "../../src/index/index.ts";
import { splitRows } from "../../src/index/pool.ts";
import { bitset, bytes, gaussians, rng, sparseRow } from "./data.ts";

function assertSame(got: SearchResult, want: SearchResult, ctx: string): void {
  assert.deepEqual([...got.offsets], [...want.offsets], ctx);
  assert.deepEqual([...got.scores], [...want.scores], ctx);
}

describe("SearchPool", { timeout: 30_000 }, () => {
  let pool: SearchPool;
  before(async () => {
    // Every search goes to the workers, split in 3 row ranges (more workers than cores is fine).
    pool = await SearchPool.start({ size: 3, inlineBelow: 0, minPartWork: 1 });
  });
  after(async () => {
    await pool.close();
  });

  const SEED = 51;
  const r = rng(SEED);
  const dim = 48;
  const n = 3001;
  const floats = gaussians(r, n * dim);
  const floatCol: Column = { type: DataType.FloatVector, dim, data: floats };
  const half: Column = {
    type: DataType.Float16Vector,
    dim,
    data: Uint16Array.from(floats, (x) => halfBits(x)),
  };
  const bin: Column = { type: DataType.BinaryVector, dim: 136, data: bytes(r, n * 17) };
  const sparseRows: SparseRow[] = Array.from({ length: n }, () => sparseRow(r, 10, 500));
  const sparse: Column = { type: DataType.SparseFloatVector, data: sparseRows };

  const cases: {
    name: string;
    col: Column;
    metrics: MetricType[];
    queries: (nq: number) => Float32Array | Uint8Array | SparseRow[];
  }[] = [
    {
      name: "float",
      col: floatCol,
      metrics: ["L2", "IP", "COSINE"],
      queries: (nq) => gaussians(r, nq * dim),
    },
    { name: "float16", col: half, metrics: ["L2", "IP", "COSINE"], queries: (nq) => gaussians(r, nq * dim) },
    { name: "binary", col: bin, metrics: ["HAMMING", "JACCARD"], queries: (nq) => bytes(r, nq * 17) },
    {
      name: "sparse",
      col: sparse,
      metrics: ["IP"],
      queries: (nq) => Array.from({ length: nq }, () => sparseRow(r, 10, 500)),
    },
  ];

  it("registered and ad-hoc segments, split across workers, give exactly the inline answers", async () => {
    for (const c of cases) pool.register(c.name, c.col);
    let checked = 0;
    for (const c of cases) {
      for (const metric of c.metrics) {
        for (const nq of [1, 64]) {
          for (const bs of [undefined, bitset(r, n, 0.5), bitset(r, n, 0.002)]) {
            const queries = c.queries(nq);
            const req = { queries, metric, topk: 10, ...(bs ? { bitset: bs } : {}) };
            const want = searchExact({ vectors: c.col, ...req });
            const ctx = `seed ${SEED} ${c.name} ${metric} nq ${nq} bitset ${bs ? "yes" : "no"}`;
            assertSame(await pool.search({ segment: c.name, ...req }), want, `${ctx} registered`);
            assertSame(await pool.search({ segment: c.col, ...req }), want, `${ctx} ad hoc`);
            checked++;
          }
        }
      }
    }
    assert.equal(checked, 9 * 2 * 3);
    assert.equal(pool.stats().registered, 4);
  });

  it("many concurrent searches each get their own answer", async () => {
    const qs = Array.from({ length: 24 }, () => gaussians(r, 3 * dim));
    const got = await Promise.all(
      qs.map((queries) => pool.search({ segment: "float", queries, metric: "L2", topk: 5 })),
    );
    got.forEach((g, i) => {
      assertSame(
        g,
        searchExact({ vectors: floatCol, queries: qs[i]!, metric: "L2", topk: 5 }),
        `seed ${SEED} concurrent ${i}`,
      );
    });
  });

  it("bad requests reject with typed errors", async () => {
    const q = gaussians(r, dim);
    await assert.rejects(pool.search({ segment: "nope", queries: q, metric: "L2", topk: 1 }), (e: unknown) =>
      isStrataError(e, "SegmentNotFound"),
    );
    await assert.rejects(
      pool.search({ segment: "float", queries: q, metric: "HAMMING", topk: 1 }),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    await assert.rejects(
      pool.search({ segment: "float", queries: q.subarray(1), metric: "L2", topk: 1 }),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.throws(
      () => pool.register("float", floatCol),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.throws(
      () => pool.register("x", { type: DataType.Int32, data: new Int32Array(2) }),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
  });

  it("unregister forgets a segment", async () => {
    pool.register("tmp", floatCol);
    assert.equal(pool.unregister("tmp"), true);
    assert.equal(pool.unregister("tmp"), false);
    await assert.rejects(
      pool.search({ segment: "tmp", queries: gaussians(r, dim), metric: "L2", topk: 1 }),
      (e: unknown) => isStrataError(e, "SegmentNotFound"),
    );
  });

  it("a worker crash fails the searches it was running with ServiceInternal; the worker is replaced", async () => {
    const queries = gaussians(r, 4 * dim);
    const restarts = pool.stats().restarts;
    for (const w of [0, 1]) {
      pool.debugCrashWorker(w);
      await assert.rejects(pool.search({ segment: "float", queries, metric: "IP", topk: 7 }), (e: unknown) =>
        isStrataError(e, "ServiceInternal"),
      );
    }
    // The other worker of each split may still be finishing; the pool recovers either way.
    const want = searchExact({ vectors: floatCol, queries, metric: "IP", topk: 7 });
    for (let i = 0; i < 5; i++)
      assertSame(
        await pool.search({ segment: "float", queries, metric: "IP", topk: 7 }),
        want,
        "after crash",
      );
    const s = pool.stats();
    assert.equal(s.workers, 3);
    assert.ok(s.restarts >= restarts + 2, `restarts ${s.restarts}`);
  });
});

describe("SearchPool lifecycle", { timeout: 30_000 }, () => {
  it("small scans run inline; close rejects queued and later searches with Closed", async () => {
    const r = rng(61);
    const dim = 64;
    const n = 40000;
    const col: Column = { type: DataType.FloatVector, dim, data: gaussians(r, n * dim) };
    const pool = await SearchPool.start({ size: 1 });
    pool.register("s", col);
    const small = await pool.search({
      segment: "s",
      queries: gaussians(r, dim),
      metric: "L2",
      topk: 3,
      bitset: bitset(r, n, 0.001),
    });
    assert.equal(small.offsets.length, 3);
    const running = Promise.allSettled(
      Array.from({ length: 4 }, () =>
        pool.search({ segment: "s", queries: gaussians(r, 8 * dim), metric: "L2", topk: 3 }),
      ),
    );
    await pool.close();
    for (const p of await running) {
      assert.equal(p.status, "rejected");
      assert.ok(isStrataError(p.reason, "Closed"), String(p.reason));
    }
    await assert.rejects(
      pool.search({ segment: "s", queries: gaussians(r, dim), metric: "L2", topk: 3 }),
      (e: unknown) => isStrataError(e, "Closed"),
    );
    await pool.close();
  });

  it("rejects a bad size", async () => {
    await assert.rejects(SearchPool.start({ size: 0 }), (e: unknown) => isStrataError(e, "ParameterInvalid"));
  });

  it("splitRows balances allowed rows", () => {
    assert.deepEqual(splitRows(10, 3, undefined), [
      [0, 3],
      [3, 6],
      [6, 10],
    ]);
    const bs = new Uint8Array(100);
    bs.fill(1, 90);
    const parts = splitRows(100, 2, bs);
    assert.deepEqual(parts, [
      [0, 95],
      [95, 100],
    ]);
  });

  it("workers also load when the program runs under the tsx CLI", () => {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const child = fileURLToPath(new URL("./pool-child.ts", import.meta.url));
    const res = spawnSync(process.execPath, [`${root}node_modules/tsx/dist/cli.mjs`, child], {
      cwd: root,
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /^pool-child ok \[\d+(,\d+)*\]$/m);
  });
});

/** Round-to-nearest float16 bits of x (moderate magnitudes only). */
function halfBits(x: number): number {
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.min(Math.abs(x), 65504);
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return m === 1024 ? sign | ((e + 16) << 10) : sign | ((e + 15) << 10) | m;
}

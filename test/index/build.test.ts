import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildIndex, buildIndexFile, buildInProcess } from "../../src/index/build.ts";
import { indexToBytes, openIndexFile, verifyIndexBytes } from "../../src/index/index-file.ts";
import type { IndexSpec } from "../../src/index/vector-index.ts";
import { tempDir } from "../helpers/env.ts";
import { clustered, exactTopK, floatScorer, recallAtK } from "./ann-data.ts";

const SEED = 41;

/** Counts event-loop turns of a 5 ms interval while `p` runs, and the longest gap between them. */
async function ticking<T>(
  p: () => Promise<T>,
): Promise<{ value: T; ticks: number; maxGapMs: number; ms: number }> {
  let ticks = 0;
  let last = performance.now();
  let maxGapMs = 0;
  const t0 = last;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks++;
  }, 5);
  try {
    const value = await p();
    return { value, ticks, maxGapMs, ms: performance.now() - t0 };
  } finally {
    clearInterval(timer);
  }
}

describe(`index builds in a worker thread (seed ${SEED})`, () => {
  const d = clustered(20000, 64, 50, SEED);
  let dir: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dir.cleanup();
  });

  for (const spec of [
    { type: "HNSW", metric: "L2", dim: 64, params: { M: 16, efConstruction: 64 } },
    { type: "IVF_SQ8", metric: "COSINE", dim: 64, params: { nlist: 128 } },
  ] as const satisfies readonly IndexSpec[]) {
    it(`${spec.type}: the event loop keeps ticking during the build, and the bytes equal an in-process build`, async () => {
      const {
        value: bytes,
        ticks,
        maxGapMs,
        ms,
      } = await ticking(() => buildIndex({ spec, vectors: d.base }));
      // A build on the main thread would allow no tick at all for its whole duration.
      assert.ok(ms > 200, `build took only ${ms} ms; too short to show anything`);
      assert.ok(ticks >= ms / 5 / 4, `${ticks} ticks in ${ms.toFixed(0)} ms`);
      assert.ok(
        maxGapMs < Math.max(250, ms / 4),
        `event loop stalled for ${maxGapMs.toFixed(0)} ms of ${ms.toFixed(0)}`,
      );
      const info = verifyIndexBytes(bytes);
      assert.equal(info.count, 20000);
      const local = indexToBytes(buildInProcess(spec, d.base));
      assert.equal(
        Buffer.compare(Buffer.from(bytes), Buffer.from(local)),
        0,
        "worker and in-process builds differ",
      );
    });
  }

  it("buildIndexFile writes a file that opens and searches (a vector array offset into a larger buffer works)", async () => {
    const spec = { type: "HNSW", metric: "IP", dim: 64, params: { M: 12, efConstruction: 48 } } as const;
    const padded = new Float32Array(d.base.length + 128);
    padded.set(d.base, 64);
    const view = padded.subarray(64, 64 + d.base.length);
    const path = join(dir.dir, "built.idx");
    const info = await buildIndexFile({ spec, vectors: view, threads: 2 }, path);
    assert.equal(info.count, 20000);
    const idx = await openIndexFile(path, { hnsw: { vectors: d.base } });
    const want = exactTopK(d.base, 64, d.queries, 50, "IP", 10);
    const r = recallAtK(
      idx.search(d.queries, 50, 10, { ef: 64 }),
      want,
      "IP",
      floatScorer(d.base, d.queries, 64, "IP"),
    );
    assert.ok(r >= 0.95, `recall ${r}`);
  });

  it("a bad request rejects with ParameterInvalid before any worker starts; a failing build reports its code", async () => {
    const isInvalid = (e: unknown) => (e as { code?: string }).code === "ParameterInvalid";
    await assert.rejects(
      buildIndex({
        spec: { type: "IVF_FLAT", metric: "L2", dim: 64, params: { nlist: -1 } },
        vectors: d.base,
      }),
      isInvalid,
    );
    await assert.rejects(
      buildIndex({ spec: { type: "HNSW", metric: "L2", dim: 63, params: {} }, vectors: d.base }),
      isInvalid,
    );
    await assert.rejects(
      buildIndex({ spec: { type: "HNSW", metric: "L2", dim: 64, params: {} }, vectors: d.base, threads: 0 }),
      isInvalid,
    );
    // Non-finite values are only found by the worker's pass over the data.
    const withNaN = d.base.slice(0, 64 * 100);
    withNaN[500] = Number.NaN;
    await assert.rejects(
      buildIndex({
        spec: { type: "IVF_FLAT", metric: "L2", dim: 64, params: { nlist: 4 } },
        vectors: withNaN,
      }),
      (e: unknown) => isInvalid(e) && /non-finite/.test((e as Error).message),
    );
  });

  it("aborting a build stops the worker mid-build and rejects with Closed", async () => {
    const ac = new AbortController();
    // About 10 s of single-threaded native adds.
    const spec = { type: "HNSW", metric: "L2", dim: 64, params: { M: 32, efConstruction: 500 } } as const;
    const p = buildIndex({ spec, vectors: d.base }, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = performance.now();
    ac.abort();
    await assert.rejects(p, (e: unknown) => (e as { code?: string }).code === "Closed");
    const stopMs = performance.now() - t0;
    console.log(`# aborted build stopped in ${stopMs.toFixed(0)} ms`);
    assert.ok(stopMs < 5000, `the worker took ${stopMs.toFixed(0)} ms to stop`);
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(
      buildIndex(
        { spec: { type: "HNSW", metric: "L2", dim: 64, params: {} }, vectors: d.base },
        { signal: pre.signal },
      ),
      (e: unknown) => (e as { code?: string }).code === "Closed",
    );
  });
});

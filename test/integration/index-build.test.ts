import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { Strata } from "../../src/api/embedded.ts";
import type { MetricType } from "../../src/index/metric.ts";
import type { SearchResult } from "../../src/index/topk.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { binaryScorer, clusteredBits, exactTopK, floatScorer, recallAtK } from "../index/ann-data.ts";
import { gaussians } from "../index/data.ts";

const DIM = 24;
const N = 6000;
const NQ = 30;

/** Clustered rows: 60 centres, so an approximate index has real work to do. */
function dataset(seed: number, n: number, nq: number) {
  const r = rng(seed);
  const centres = gaussians(r, 60 * DIM);
  const fill = (rows: number) => {
    const out = new Float32Array(rows * DIM);
    const noise = gaussians(r, rows * DIM);
    for (let i = 0; i < rows; i++) {
      const c = Math.floor(r() * 60);
      for (let j = 0; j < DIM; j++) out[i * DIM + j] = centres[c * DIM + j]! + 0.4 * noise[i * DIM + j]!;
    }
    return out;
  };
  return { base: fill(n), queries: fill(nq) };
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function createFilled(db: Strata, name: string, base: Float32Array): Promise<void> {
  await db.createCollection({
    schema: {
      name,
      fields: [
        { name: "id", dataType: "Int64", isPrimaryKey: true },
        { name: "vec", dataType: "FloatVector", dim: DIM },
        { name: "tag", dataType: "Int64" },
      ],
    },
  });
  const n = base.length / DIM;
  for (let from = 0; from < n; from += 2000) {
    const rows = Math.min(2000, n - from);
    await db.insert(name, {
      columns: {
        id: Array.from({ length: rows }, (_, i) => from + i),
        vec: base.slice(from * DIM, (from + rows) * DIM),
        tag: Array.from({ length: rows }, (_, i) => (from + i) % 100),
      },
    });
  }
  await db.flush(name);
}

async function indexFinished(db: Strata, name: string): Promise<boolean> {
  const [info] = await db.describeIndex(name);
  return info?.state === "Finished" && info.pendingRows === 0 && info.indexedRows > 0;
}

/** Search results as a SearchResult of row numbers (pk = row number in these tests). */
async function searchRows(
  db: Strata,
  name: string,
  queries: Float32Array,
  k: number,
  extra: { filter?: string; metricType?: MetricType; params?: Record<string, number> } = {},
): Promise<SearchResult> {
  const nq = queries.length / DIM;
  const res = await db.search(name, {
    data: queries,
    limit: k,
    consistencyLevel: "Strong",
    ...extra,
  });
  const offsets = new Int32Array(nq * k).fill(-1);
  const scores = new Float32Array(nq * k).fill(Number.NaN);
  for (let q = 0; q < res.length; q++) {
    const hits = res[q] ?? [];
    for (let i = 0; i < hits.length; i++) {
      offsets[q * k + i] = Number(hits[i]?.id);
      scores[q * k + i] = hits[i]?.score ?? Number.NaN;
    }
  }
  return { nq, topk: k, offsets, scores };
}

function indexedSegments(db: Strata): number {
  return db.internals.querynode.segments().indexes?.size ?? 0;
}

describe("vector indexes on the full path: build, load, search", () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  let db: Strata;
  const { base, queries } = dataset(7, N, NQ);

  before(async () => {
    t = await tempDir();
    db = await Strata.open({ dataDir: t.dir });
  });
  after(async () => {
    await db?.close();
    await t?.cleanup();
  });

  for (const [type, metric, params] of [
    ["HNSW", "L2", { M: 16, efConstruction: 100 }],
    ["HNSW", "COSINE", { M: 12, efConstruction: 64 }],
    ["IVF_FLAT", "IP", { nlist: 32 }],
    ["IVF_SQ8", "L2", { nlist: 32 }],
  ] as const) {
    it(`${type} ${metric}: every flushed segment is built, loaded as its index and reaches recall@10 ≥ 0.95`, async () => {
      const name = `c_${type}_${metric}`.toLowerCase();
      await createFilled(db, name, base);
      await db.createIndex(name, { fieldName: "vec", indexType: type, metricType: metric, params });
      await waitFor("index build", () => indexFinished(db, name));
      const [info] = await db.describeIndex(name);
      assert.equal(info?.indexedRows, N);
      assert.equal(info?.totalRows, N);
      await db.load(name);
      assert.ok(indexedSegments(db) > 0, "the query node serves segments from their index");
      const got = await searchRows(db, name, queries, 10, {
        params: type === "HNSW" ? { ef: 64 } : { nprobe: 8 },
      });
      const want = exactTopK(base, DIM, queries, NQ, metric, 10);
      const recall = recallAtK(got, want, metric, floatScorer(base, queries, DIM, metric));
      assert.ok(recall >= 0.95, `recall@10 ${recall}`);
      // Filters at 50 %, 10 % and 1 %: only passing rows, and recall against the filtered truth.
      for (const pct of [50, 10, 1]) {
        const filter = new Uint8Array(N);
        for (let i = 0; i < N; i++) filter[i] = i % 100 < pct ? 1 : 0;
        const fgot = await searchRows(db, name, queries, 10, { filter: `tag < ${pct}` });
        const fwant = exactTopK(base, DIM, queries, NQ, metric, 10, filter);
        const frecall = recallAtK(fgot, fwant, metric, floatScorer(base, queries, DIM, metric), filter);
        assert.ok(frecall >= 0.95, `${pct} % filter: recall@10 ${frecall}`);
      }
      // Concurrent searches (batched into multi-threaded native calls) answer as sequential ones.
      const one = (i: number) =>
        db.search(name, {
          data: queries.slice(i * DIM, (i + 1) * DIM),
          limit: 10,
          consistencyLevel: "Strong",
        });
      const seq: string[] = [];
      for (let i = 0; i < NQ; i++) seq.push(JSON.stringify((await one(i))[0]?.map((h) => String(h.id))));
      const par = await Promise.all(Array.from({ length: NQ }, (_, i) => one(i)));
      assert.deepEqual(
        par.map((r) => JSON.stringify(r[0]?.map((h) => String(h.id)))),
        seq,
        "concurrent searches give the sequential answers",
      );
      // The raw vectors are read on demand for output fields of an index-only segment.
      const [hits] = await db.search(name, {
        data: queries.slice(0, DIM),
        limit: 3,
        outputFields: ["vec", "tag"],
        consistencyLevel: "Strong",
      });
      for (const h of hits ?? []) {
        const row = Number(h.id);
        assert.deepEqual(
          Array.from(h.fields.vec as number[]),
          Array.from(base.subarray(row * DIM, (row + 1) * DIM)),
        );
        assert.equal(h.fields.tag, BigInt(row % 100));
      }
      await db.release(name);
      await db.dropCollection(name);
    });
  }

  it("HNSW on binary vectors (HAMMING) through the full path", async () => {
    const name = "bits";
    const BITS = 128;
    const d = clusteredBits(4000, BITS, 20, 3);
    await db.createCollection({
      schema: {
        name,
        fields: [
          { name: "id", dataType: "Int64", isPrimaryKey: true },
          { name: "bits", dataType: "BinaryVector", dim: BITS },
        ],
      },
    });
    await db.insert(name, { columns: { id: Array.from({ length: d.n }, (_, i) => i), bits: d.base } });
    await db.flush(name);
    await db.createIndex(name, { fieldName: "bits", indexType: "HNSW", metricType: "HAMMING" });
    await waitFor("binary index build", () => indexFinished(db, name));
    await db.load(name);
    assert.ok(indexedSegments(db) > 0);
    const res = await db.search(name, { data: d.queries, limit: 10, consistencyLevel: "Strong" });
    const offsets = new Int32Array(d.nq * 10).fill(-1);
    res.forEach((hits, q) => {
      for (let i = 0; i < hits.length; i++) offsets[q * 10 + i] = Number(hits[i]?.id);
    });
    const want = exactTopK(d.base, BITS, d.queries, d.nq, "HAMMING", 10);
    const got = { nq: d.nq, topk: 10, offsets, scores: new Float32Array(d.nq * 10) };
    const recall = recallAtK(got, want, "HAMMING", binaryScorer(d.base, d.queries, BITS, "HAMMING"));
    assert.ok(recall >= 0.95, `recall@10 ${recall}`);
    await db.release(name);
    await db.dropCollection(name);
  });

  it("a segment loaded before its index is built switches to it without a gap", async () => {
    const name = "switch";
    await createFilled(db, name, base);
    await db.load(name);
    assert.equal(indexedSegments(db), 0);
    const want = exactTopK(base, DIM, queries, NQ, "L2", 10);
    const scorer = floatScorer(base, queries, DIM, "L2");
    let searches = 0;
    let worst = 1;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const got = await searchRows(db, name, queries, 10, { metricType: "L2" });
        for (let q = 0; q < NQ; q++) assert.notEqual(got.offsets[q * 10 + 9], -1, "a search came back short");
        worst = Math.min(worst, recallAtK(got, want, "L2", scorer));
        searches++;
      }
    })();
    await db.createIndex(name, { fieldName: "vec", indexType: "HNSW", metricType: "L2" });
    await waitFor(
      "segments switched to their index",
      async () => indexedSegments(db) > 0 && (await indexFinished(db, name)),
    );
    const sealed = db.internals.querynode.segments().sealed.length;
    await waitFor("every segment switched", async () => indexedSegments(db) === sealed);
    const before = searches;
    await waitFor("searches after the switch", async () => searches > before + 3);
    stop = true;
    await loop;
    assert.ok(worst >= 0.95, `recall never dropped below 0.95 during the switch (worst ${worst})`);
    await db.release(name);
    await db.dropCollection(name);
  });

  it("dropping an index or the collection deletes its files", async () => {
    const name = "dropping";
    await createFilled(db, name, base.subarray(0, 3000 * DIM));
    await db.createIndex(name, { fieldName: "vec", indexType: "HNSW", metricType: "L2" });
    await waitFor("index build", () => indexFinished(db, name));
    const objects = db.internals.backends.objects;
    const coll = await db.describeCollection(name);
    const builds = (await db.internals.dataservice.describeIndexBuilds(coll.collectionId)).builds;
    assert.ok(builds.length > 0);
    const keys = async () =>
      (await objects.list("index_files/"))
        .map((o) => o.key)
        .filter((k) => builds.some((b) => k.startsWith(`index_files/${b.buildId}/`)));
    assert.equal((await keys()).length, builds.length);
    await db.dropIndex(name);
    assert.deepEqual(await keys(), []);
    assert.equal((await db.internals.dataservice.describeIndexBuilds(coll.collectionId)).builds.length, 0);
    await db.createIndex(name, {
      fieldName: "vec",
      indexType: "IVF_FLAT",
      metricType: "L2",
      params: { nlist: 8 },
    });
    await waitFor("second index build", () => indexFinished(db, name));
    const again = (await db.internals.dataservice.describeIndexBuilds(coll.collectionId)).builds;
    assert.ok(
      (await objects.list("index_files/")).some((o) =>
        again.some((b) => o.key.startsWith(`index_files/${b.buildId}/`)),
      ),
    );
    await db.dropCollection(name);
    const left = (await objects.list("index_files/")).filter((o) =>
      again.some((b) => o.key.startsWith(`index_files/${b.buildId}/`)),
    );
    assert.deepEqual(left, []);
  });

  it("a damaged index file is detected: the segment is scanned exactly, and the build is redone", async () => {
    const name = "damaged";
    await createFilled(db, name, base.subarray(0, 3000 * DIM));
    await db.createIndex(name, { fieldName: "vec", indexType: "HNSW", metricType: "L2" });
    await waitFor("index build", () => indexFinished(db, name));
    const coll = await db.describeCollection(name);
    const builds = (await db.internals.dataservice.describeIndexBuilds(coll.collectionId)).builds;
    const objects = db.internals.backends.objects;
    for (const b of builds) {
      const path = objects.localPath?.(b.fileKey);
      assert.ok(path !== undefined);
      const bytes = await readFile(path);
      const at = Math.floor(rng(b.rows)() * 1000) + 100;
      bytes[at] = (bytes[at] as number) ^ 0x10;
      await writeFile(path, bytes);
    }
    await db.load(name);
    // Served by an exact scan: the answers are the exact ones.
    const sub = base.subarray(0, 3000 * DIM);
    const got = await searchRows(db, name, queries, 10, { metricType: "L2" });
    const want = exactTopK(sub, DIM, queries, NQ, "L2", 10);
    assert.deepEqual(Array.from(got.offsets), Array.from(want.offsets));
    // The fault was reported: each build is done again (a new attempt, a new file) and switched to.
    await waitFor("rebuilt", async () => {
      const now = (await db.internals.dataservice.describeIndexBuilds(coll.collectionId)).builds;
      return now.every((b) => b.state === "Finished" && b.version > 1);
    });
    await waitFor("switched to the rebuilt index", async () => indexedSegments(db) === builds.length);
    for (const b of builds)
      assert.equal(await objects.stat(b.fileKey), undefined, "the damaged file is gone");
    await db.release(name);
    await db.dropCollection(name);
  });
});

describe("index builds across a restart", () => {
  it("builds recorded before a close are resumed after the reopen, leaving no orphan files", async () => {
    const t = await tempDir();
    try {
      const { base } = dataset(11, 9000, 1);
      let db = await Strata.open({ dataDir: t.dir, overrides: { indexnode: { buildThreads: 1 } } });
      await createFilled(db, "resume", base);
      await db.createIndex("resume", {
        fieldName: "vec",
        indexType: "HNSW",
        metricType: "L2",
        params: { efConstruction: 400 },
      });
      await db.close();
      db = await Strata.open({ dataDir: t.dir });
      try {
        await waitFor("index build after restart", () => indexFinished(db, "resume"), 60_000);
        const coll = await db.describeCollection("resume");
        const builds = (await db.internals.dataservice.describeIndexBuilds(coll.collectionId)).builds;
        const files = (await db.internals.backends.objects.list("index_files/")).map((o) => o.key).sort();
        assert.deepEqual(files, builds.map((b) => b.fileKey).sort());
        await db.load("resume");
        assert.equal(indexedSegments(db), builds.length);
      } finally {
        await db.close();
      }
    } finally {
      await t.cleanup();
    }
  });
});

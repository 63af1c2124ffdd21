import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sdk from "@zilliz/milvus2-sdk-node";
import { rng, tempDir } from "../../helpers/env.ts";
import { type SpawnedStrata, spawnStrata } from "./spawn.ts";

const { MilvusClient, DataType, ErrorCode } = sdk;
type Client = InstanceType<typeof MilvusClient>;
type InsertRows = import("@zilliz/milvus2-sdk-node").RowData[];

const DIM = 16;
const N = 2000;
const SEED = 5150;

interface Row {
  id: number;
  vec: number[];
  tag: string;
  num: number;
}

function makeRows(from: number, count: number, next: () => number): Row[] {
  return Array.from({ length: count }, (_, k) => {
    const id = from + k;
    return {
      id,
      // float32-rounded so the oracle sees exactly what the server stores
      vec: Array.from(Float32Array.from({ length: DIM }, () => next() * 2 - 1)),
      tag: `t${id % 5}`,
      num: id % 1000,
    };
  });
}

function l2(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    s += d * d;
  }
  return s;
}

/** Brute force: the k nearest live rows passing `pass`, best first (ties by id). */
function oracle(live: ReadonlyMap<number, Row>, q: readonly number[], k: number, pass: (r: Row) => boolean) {
  return [...live.values()]
    .filter(pass)
    .map((r) => ({ id: r.id, score: l2(q, r.vec) }))
    .sort((a, b) => a.score - b.score || a.id - b.id)
    .slice(0, k);
}

function ok(status: { error_code: unknown; reason?: string }, what: string): void {
  assert.equal(status.error_code, ErrorCode.SUCCESS, `${what}: ${status.reason ?? ""}`);
}

describe(`Milvus Node SDK against a spawned strata serve (seed ${SEED})`, () => {
  let server: SpawnedStrata;
  let client: Client;
  let cleanup: () => Promise<void>;
  const next = rng(SEED);
  const live = new Map<number, Row>();

  before(async () => {
    // STRATA_E2E_ADDRESS runs the suite against an already running server (Strata or Milvus).
    const external = process.env.STRATA_E2E_ADDRESS;
    if (external !== undefined && external !== "") {
      client = new MilvusClient({ address: external, logLevel: "error" });
      await client.connectPromise;
      cleanup = () => client.closeConnection().then(() => undefined);
      return;
    }
    const t = await tempDir();
    server = await spawnStrata(t.dir);
    client = new MilvusClient({ address: server.address, logLevel: "error" });
    await client.connectPromise;
    cleanup = async () => {
      await client.closeConnection();
      const code = await server.stop();
      assert.equal(code, 0, `graceful stop exit code; output:\n${server.output()}`);
      await t.cleanup();
    };
  });
  after(async () => cleanup?.());

  it("connects, reports a version and health", async () => {
    const v = await client.getVersion();
    assert.match(v.version, /^v2\./);
    const h = await client.checkHealth();
    assert.equal(h.isHealthy, true);
  });

  it("runs the full flow: create → insert → flush → index → load → search/query → delete → upsert → release → drop", async () => {
    const c = "e2e_docs";
    ok(
      await client.createCollection({
        collection_name: c,
        consistency_level: "Strong",
        fields: [
          { name: "id", data_type: DataType.Int64, is_primary_key: true, autoID: false },
          { name: "vec", data_type: DataType.FloatVector, dim: DIM },
          { name: "tag", data_type: DataType.VarChar, max_length: 16 },
          { name: "num", data_type: DataType.Int64 },
        ],
      }),
      "createCollection",
    );
    const has = await client.hasCollection({ collection_name: c });
    assert.equal(has.value, true);
    assert.equal((await client.hasCollection({ collection_name: "no_such_thing" })).value, false);
    const desc = await client.describeCollection({ collection_name: c });
    ok(desc.status, "describe");
    assert.deepEqual(
      desc.schema.fields.map((f) => [f.name, f.data_type]),
      [
        ["id", "Int64"],
        ["vec", "FloatVector"],
        ["tag", "VarChar"],
        ["num", "Int64"],
      ],
    );
    assert.equal(desc.consistency_level, "Strong");
    const shown = await client.showCollections();
    assert.ok(shown.data.some((x) => x.name === c));

    ok(await client.createPartition({ collection_name: c, partition_name: "p1" }), "createPartition");
    assert.equal((await client.hasPartition({ collection_name: c, partition_name: "p1" })).value, true);
    const parts = await client.listPartitions({ collection_name: c });
    assert.deepEqual([...parts.partition_names].sort(), ["_default", "p1"]);

    // Two batches into _default, one into p1.
    for (const [from, count, partition] of [
      [0, 1000, undefined],
      [1000, 500, undefined],
      [1500, 500, "p1"],
    ] as const) {
      const rows = makeRows(from, count, next);
      const r = await client.insert({
        collection_name: c,
        data: rows as unknown as InsertRows,
        ...(partition === undefined ? {} : { partition_name: partition }),
      });
      ok(r.status, "insert");
      assert.equal(Number(r.insert_cnt), count);
      for (const row of rows) live.set(row.id, row);
    }

    const fl = await client.flushSync({ collection_names: [c] });
    ok(fl.status, "flushSync");
    ok(
      await client.createIndex({
        collection_name: c,
        field_name: "vec",
        index_type: "FLAT",
        metric_type: "L2",
      }),
      "createIndex",
    );
    const di = await client.describeIndex({ collection_name: c, field_name: "vec" });
    ok(di.status, "describeIndex");
    assert.equal(di.index_descriptions[0]?.state, "Finished");
    assert.equal(Number(di.index_descriptions[0]?.total_rows), N);
    assert.equal(Number(di.index_descriptions[0]?.indexed_rows), N);

    ok(await client.loadCollectionSync({ collection_name: c }), "load");
    const ls = await client.getLoadState({ collection_name: c });
    assert.equal(ls.state, "LoadStateLoaded");
    const stats = await client.getCollectionStatistics({ collection_name: c });
    assert.equal(Number(stats.data.row_count), N);

    // Search with a filter and output fields, nq = 3, against brute force.
    const queries = makeRows(-3, 3, next).map((r) => r.vec);
    const res = await client.search({
      collection_name: c,
      data: queries,
      limit: 10,
      filter: "num < 500 and tag != 't1'",
      output_fields: ["tag", "num"],
    });
    ok(res.status, "search");
    const lists = res.results as unknown as { id: string; score: number; tag: string; num: string }[][];
    assert.equal(lists.length, 3);
    queries.forEach((q, qi) => {
      const want = oracle(live, q, 10, (r) => r.num < 500 && r.tag !== "t1");
      const got = lists[qi] ?? [];
      assert.deepEqual(
        got.map((h) => Number(h.id)),
        want.map((w) => w.id),
        `query ${qi} ids`,
      );
      got.forEach((h, i) => {
        assert.ok(Math.abs(h.score - (want[i]?.score ?? 0)) < 1e-4, `query ${qi} hit ${i} score`);
        const row = live.get(Number(h.id)) as Row;
        assert.equal(h.tag, row.tag);
        assert.equal(Number(h.num), row.num);
      });
    });

    // No metric given: the index's metric (L2) is used; a different one is refused clearly.
    const same = await client.search({ collection_name: c, data: queries[0] as number[], limit: 5 });
    ok(same.status, "search default metric");
    const bad = await client.search({
      collection_name: c,
      data: queries[0] as number[],
      limit: 5,
      metric_type: "IP",
    });
    assert.notEqual(bad.status.error_code, ErrorCode.SUCCESS);
    assert.match(bad.status.reason, /metric type not match/);

    // Partition-scoped search sees only p1 rows.
    const p1 = await client.search({
      collection_name: c,
      data: queries[0] as number[],
      limit: 5,
      partition_names: ["p1"],
    });
    ok(p1.status, "search p1");
    const p1Ids = (p1.results as unknown as { id: string }[]).map((h) => Number(h.id));
    assert.deepEqual(
      p1Ids,
      oracle(live, queries[0] as number[], 5, (r) => r.id >= 1500).map((w) => w.id),
    );

    // Query by filter, every field.
    const q = await client.query({ collection_name: c, filter: "id in [3, 1600, 7]", output_fields: ["*"] });
    ok(q.status, "query");
    const byId = new Map(q.data.map((r) => [Number(r.id), r]));
    assert.deepEqual(
      [...byId.keys()].sort((a, b) => a - b),
      [3, 7, 1600],
    );
    for (const [id, r] of byId) {
      const row = live.get(id) as Row;
      assert.equal(r.tag, row.tag);
      assert.deepEqual(r.vec, row.vec);
    }
    const cnt = await client.count({ collection_name: c });
    assert.equal(Number(cnt.data), N);
    const cntF = await client.count({ collection_name: c, expr: "tag == 't2'" });
    assert.equal(Number(cntF.data), [...live.values()].filter((r) => r.tag === "t2").length);
    const page = await client.query({
      collection_name: c,
      filter: "num >= 0",
      output_fields: ["id"],
      limit: 5,
      offset: 10,
    });
    assert.deepEqual(
      page.data.map((r) => Number(r.id)),
      [...live.keys()].sort((a, b) => a - b).slice(10, 15),
    );

    // Delete by ids and by filter.
    const del = await client.delete({ collection_name: c, ids: Array.from({ length: 50 }, (_, i) => i) });
    ok(del.status, "delete ids");
    for (let i = 0; i < 50; i++) live.delete(i);
    const delF = await client.deleteEntities({ collection_name: c, filter: "num == 999" });
    ok(delF.status, "delete filter");
    for (const r of [...live.values()]) if (r.num === 999) live.delete(r.id);
    assert.equal(Number((await client.count({ collection_name: c })).data), live.size);

    // Upsert: new values for existing keys, nothing duplicated.
    const up = makeRows(100, 10, next).map((r) => ({ ...r, tag: "up" }));
    const u = await client.upsert({ collection_name: c, data: up as unknown as InsertRows });
    ok(u.status, "upsert");
    for (const r of up) live.set(r.id, r);
    assert.equal(Number((await client.count({ collection_name: c })).data), live.size);
    const ups = await client.query({
      collection_name: c,
      filter: "tag == 'up'",
      output_fields: ["id", "vec"],
    });
    assert.deepEqual(
      ups.data.map((r) => Number(r.id)).sort((a, b) => a - b),
      up.map((r) => r.id),
    );

    // Rows written after load (growing) are searchable at once with Strong consistency.
    const fresh = makeRows(5000, 20, next);
    ok(
      (await client.insert({ collection_name: c, data: fresh as unknown as InsertRows })).status,
      "insert after load",
    );
    for (const r of fresh) live.set(r.id, r);
    const after1 = await client.search({ collection_name: c, data: fresh[0]?.vec as number[], limit: 1 });
    assert.equal(Number((after1.results as unknown as { id: string }[])[0]?.id), 5000);
    const full = await client.search({ collection_name: c, data: queries[1] as number[], limit: 20 });
    assert.deepEqual(
      (full.results as unknown as { id: string }[]).map((h) => Number(h.id)),
      oracle(live, queries[1] as number[], 20, () => true).map((w) => w.id),
    );

    ok(await client.releaseCollection({ collection_name: c }), "release");
    assert.equal((await client.getLoadState({ collection_name: c })).state, "LoadStateNotLoad");
    const notLoaded = await client.search({ collection_name: c, data: queries[0] as number[], limit: 5 });
    assert.notEqual(notLoaded.status.error_code, ErrorCode.SUCCESS);
    assert.match(notLoaded.status.reason, /not loaded/);
    assert.equal(notLoaded.status.code, 101);

    ok(await client.dropIndex({ collection_name: c, field_name: "vec" }), "dropIndex");
    ok(await client.dropCollection({ collection_name: c }), "drop");
    assert.equal((await client.hasCollection({ collection_name: c })).value, false);
  });

  it("gives clear failed statuses for bad input, unknown collections and oversize requests", async () => {
    const c = "e2e_errors";
    ok(
      await client.createCollection({
        collection_name: c,
        consistency_level: "Strong",
        fields: [
          { name: "id", data_type: DataType.Int64, is_primary_key: true },
          { name: "vec", data_type: DataType.FloatVector, dim: 4 },
        ],
      }),
      "create",
    );
    const wrongDim = await client.insert({ collection_name: c, data: [{ id: 1, vec: [1, 2, 3] }] });
    assert.notEqual(wrongDim.status.error_code, ErrorCode.SUCCESS);
    assert.match(wrongDim.status.reason, /dim/);
    assert.equal(wrongDim.status.code, 1100);

    await client.insert({ collection_name: c, data: [{ id: 1, vec: [1, 2, 3, 4] }] });
    await client.createIndex({
      collection_name: c,
      field_name: "vec",
      index_type: "FLAT",
      metric_type: "L2",
    });
    await client.loadCollectionSync({ collection_name: c });
    const badExpr = await client.query({ collection_name: c, filter: "id <<< 3" });
    assert.notEqual(badExpr.status.error_code, ErrorCode.SUCCESS);
    assert.match(badExpr.status.reason, /expression/);
    const badField = await client.query({ collection_name: c, filter: "nope > 3" });
    assert.match(badField.status.reason, /nope/);
    const wrongQueryDim = await client.search({ collection_name: c, data: [1, 2], limit: 1 });
    assert.match(wrongQueryDim.status.reason, /dim/);
    // A FLAT index takes no search parameters: out-of-range ones are ignored, as Milvus.
    const flatEf = await client.search({
      collection_name: c,
      data: [1, 2, 3, 4],
      limit: 1,
      params: { ef: 0 },
    });
    ok(flatEf.status, "search FLAT with ef 0");
    assert.equal(Number((flatEf.results as unknown as { id: string }[])[0]?.id), 1);
    const bigTopk = await client.search({ collection_name: c, data: [1, 2, 3, 4], limit: 20000 });
    assert.match(bigTopk.status.reason, /16384/);
    const badIndex = await client.createIndex({
      collection_name: c,
      field_name: "vec",
      index_type: "NO_SUCH",
      metric_type: "L2",
    });
    assert.notEqual(badIndex.error_code, ErrorCode.SUCCESS);
    assert.match(badIndex.reason, /unknown index type/);

    const unknown = await client.describeCollection({ collection_name: "missing_coll" });
    assert.equal(unknown.status.error_code, "CollectionNotExists");
    assert.equal(unknown.status.code, 100);
    // The SDK describes the collection before a search and fails on the missing schema itself
    // (as against Milvus); the server side of that is the CollectionNotExists status above.
    await assert.rejects(client.search({ collection_name: "missing_coll", data: [1, 2, 3, 4], limit: 1 }));
    const unknownInsert = await client
      .insert({ collection_name: "missing_coll", data: [{ id: 1, vec: [1, 2, 3, 4] }] })
      .then(
        (r) => r.status,
        // The SDK throws the failed DescribeCollection status it got first.
        (e: unknown) => ({ code: -1, reason: e instanceof Error ? e.message : JSON.stringify(e) }),
      );
    assert.match(unknownInsert.reason, /missing_coll|schema|fields/);
    const unknownQuery = await client.query({ collection_name: "missing_coll", filter: "id > 0" });
    assert.equal(unknownQuery.status.code, 100);

    const unsupported = await client.listAliases({ collection_name: c });
    assert.notEqual(unsupported.status.error_code, ErrorCode.SUCCESS);
    assert.match(unsupported.status.reason, /not supported/);

    // 65 MiB in one insert: refused by the 64 MiB message limit with a readable error.
    const rows = 70_000;
    const big = Array.from({ length: rows }, (_, i) => ({ id: 10 + i, vec: [i, i, i, i] }));
    const pad = "x".repeat(1000);
    ok(
      await client.createCollection({
        collection_name: "e2e_big",
        fields: [
          { name: "id", data_type: DataType.Int64, is_primary_key: true },
          { name: "vec", data_type: DataType.FloatVector, dim: 4 },
          { name: "s", data_type: DataType.VarChar, max_length: 2000 },
        ],
      }),
      "create big",
    );
    const oversize = await client
      .insert({ collection_name: "e2e_big", data: big.map((r) => ({ ...r, s: pad })) })
      .then(
        (r) => JSON.stringify(r.status),
        (e: unknown) => String(e),
      );
    assert.match(oversize, /larger than max|RESOURCE_EXHAUSTED|too large/i);
    assert.equal(
      Number((await client.getCollectionStatistics({ collection_name: "e2e_big" })).data.row_count),
      0,
    );
  });

  it("supports the quick createCollection form (AUTOINDEX, dynamic fields, auto-load)", async () => {
    const c = "e2e_quick";
    const created = await client.createCollection({
      collection_name: c,
      dimension: 8,
      consistency_level: "Strong",
    });
    ok(created, "quick create");
    const di = await client.describeIndex({ collection_name: c });
    ok(di.status, "quick describeIndex");
    assert.equal(di.index_descriptions[0]?.params.find((p) => p.key === "metric_type")?.value, "COSINE");
    const rows = Array.from({ length: 50 }, (_, i) => ({
      id: i,
      vector: Array.from({ length: 8 }, (_, k) => Math.cos(i + k)),
      color: i % 2 === 0 ? "red" : "blue",
      size: i,
    }));
    const ins = await client.insert({ collection_name: c, data: rows });
    ok(ins.status, "insert dynamic");
    assert.equal(Number(ins.insert_cnt), 50);
    const res = await client.search({
      collection_name: c,
      data: rows[7]?.vector as number[],
      limit: 3,
      filter: 'color == "blue"',
      output_fields: ["color", "size"],
    });
    ok(res.status, "search dynamic");
    const hits = res.results as unknown as { score: number; color: string; size: number }[];
    assert.equal(hits[0]?.size, 7);
    assert.ok(Math.abs((hits[0]?.score ?? 0) - 1) < 1e-5, "COSINE self-similarity is 1");
    for (const h of hits) assert.equal(h.color, "blue");
    // AUTOINDEX is HNSW: its ef reaches the server by `params` (JSON and flat copy) or by the
    // older `search_params` JSON text, and is checked there.
    const q7 = rows[7]?.vector as number[];
    const efOk = await client.search({ collection_name: c, data: q7, limit: 3, params: { ef: 64 } });
    ok(efOk.status, "search ef 64");
    assert.equal(Number((efOk.results as unknown as { id: string }[])[0]?.id), 7);
    const efZero = await client.search({ collection_name: c, data: q7, limit: 3, params: { ef: 0 } });
    assert.equal(efZero.status.code, 1100, efZero.status.reason);
    assert.match(efZero.status.reason, /ef must be an integer/);
    const efSmall = await client.search({ collection_name: c, data: q7, limit: 3, params: { ef: 2 } });
    assert.match(efSmall.status.reason, /ef \(2\) must be at least topk \(3\)/);
    const oldStyle = await client.search({
      collection_name: c,
      data: q7,
      search_params: {
        anns_field: "vector",
        topk: 4,
        metric_type: "COSINE",
        params: JSON.stringify({ ef: 3 }),
      },
    });
    assert.match(oldStyle.status.reason, /ef \(3\) must be at least topk \(4\)/);
    const cnt = await client.count({ collection_name: c, expr: "size >= 40" });
    assert.equal(Number(cnt.data), 10);
    ok(await client.dropCollection({ collection_name: c }), "drop quick");
  });
});

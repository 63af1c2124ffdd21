import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sdk from "@zilliz/milvus2-sdk-node";
import { rng, tempDir } from "../../helpers/env.ts";
import { type SpawnedStrata, spawnStrata } from "./spawn.ts";

const { MilvusClient, DataType, ErrorCode } = sdk;
type Client = InstanceType<typeof MilvusClient>;
type InsertRows = import("@zilliz/milvus2-sdk-node").RowData[];

const SEED = 7207;
const N = 40;

/** What the SDK hands back for each field, given what was inserted (Int64 as decimal strings). */
interface Row {
  id: string;
  b: boolean;
  i8: number;
  i16: number;
  i32: number;
  i64: string;
  f: number;
  d: number;
  s: string;
  j: Record<string, unknown>;
  a: number[];
  as: string[];
  v: number[];
  bv: number[];
  hv: number[];
  sv: Record<string, number>;
  $meta: { extra: string };
}

function makeRows(next: () => number): Row[] {
  return Array.from({ length: N }, (_, i) => {
    const r = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
    return {
      id: String(-(2n ** 62n) + BigInt(i) * 3_000_000_007n),
      b: next() < 0.5,
      i8: r(-128, 127),
      i16: r(-32768, 32767),
      i32: r(-(2 ** 31), 2 ** 31 - 1),
      i64: String(BigInt(r(-(2 ** 30), 2 ** 30)) * 2n ** 33n + BigInt(i)),
      f: Math.fround(next() * 100 - 50),
      d: next() * 1e6 - 5e5,
      s: `s${i}-${"é".repeat(i % 3)}`,
      j: { k: i, nested: { t: `x${i}` }, list: [i, i * 2] },
      a: Array.from({ length: r(0, 4) }, () => r(-1000, 1000)),
      as: Array.from({ length: r(0, 3) }, (_, k) => `w${k}${i}`),
      v: Array.from({ length: 8 }, () => Math.fround(next() * 2 - 1)),
      bv: [r(0, 255), r(0, 255)],
      // Exactly representable in float16.
      hv: Array.from({ length: 4 }, () => r(-64, 64) / 4),
      sv: { [String(r(0, 20))]: Math.fround(next() + 0.5), [String(r(30, 50))]: Math.fround(next() + 0.5) },
      $meta: { extra: `e${i}` },
    };
  });
}

/** The row as inserted through the SDK (dynamic keys flat, Int64 strings sent as given). */
function insertForm(row: Row): Record<string, unknown> {
  const { $meta, ...rest } = row;
  return { ...rest, ...$meta };
}

function l2(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += ((a[i] as number) - (b[i] as number)) ** 2;
  return s;
}

function ok(status: { error_code: unknown; reason?: string }, what: string): void {
  assert.equal(status.error_code, ErrorCode.SUCCESS, `${what}: ${status.reason ?? ""}`);
}

/** Every field of a returned entity equals the inserted row's (score aside). */
function sameRow(got: Record<string, unknown>, want: Row, what: string): void {
  const { score: _score, ...rest } = got;
  assert.deepEqual(rest, { ...want }, what);
}

describe(`Milvus SDK: every data type through search and query (seed ${SEED})`, () => {
  let server: SpawnedStrata;
  let client: Client;
  let cleanup: () => Promise<void>;
  const rows = makeRows(rng(SEED));
  const byId = new Map(rows.map((r) => [r.id, r]));

  before(async () => {
    const t = await tempDir();
    server = await spawnStrata(t.dir);
    client = new MilvusClient({ address: server.address, logLevel: "error" });
    await client.connectPromise;
    cleanup = async () => {
      await client.closeConnection();
      await server.stop();
      await t.cleanup();
    };
    ok(
      await client.createCollection({
        collection_name: "types",
        consistency_level: "Strong",
        enable_dynamic_field: true,
        fields: [
          { name: "id", data_type: DataType.Int64, is_primary_key: true },
          { name: "b", data_type: DataType.Bool },
          { name: "i8", data_type: DataType.Int8 },
          { name: "i16", data_type: DataType.Int16 },
          { name: "i32", data_type: DataType.Int32 },
          { name: "i64", data_type: DataType.Int64 },
          { name: "f", data_type: DataType.Float },
          { name: "d", data_type: DataType.Double },
          { name: "s", data_type: DataType.VarChar, max_length: 32 },
          { name: "j", data_type: DataType.JSON },
          { name: "a", data_type: DataType.Array, element_type: DataType.Int32, max_capacity: 4 },
          {
            name: "as",
            data_type: DataType.Array,
            element_type: DataType.VarChar,
            max_capacity: 4,
            max_length: 8,
          },
          { name: "v", data_type: DataType.FloatVector, dim: 8 },
          { name: "bv", data_type: DataType.BinaryVector, dim: 16 },
          { name: "hv", data_type: DataType.Float16Vector, dim: 4 },
          { name: "sv", data_type: DataType.SparseFloatVector },
        ],
      }),
      "create",
    );
    ok(
      (await client.insert({ collection_name: "types", data: rows.map(insertForm) as InsertRows })).status,
      "insert",
    );
    for (const [field, index_type, metric_type] of [
      ["v", "FLAT", "L2"],
      ["bv", "BIN_FLAT", "HAMMING"],
      ["hv", "FLAT", "L2"],
      ["sv", "SPARSE_INVERTED_INDEX", "IP"],
    ] as const) {
      ok(
        await client.createIndex({ collection_name: "types", field_name: field, index_type, metric_type }),
        field,
      );
    }
    ok(await client.loadCollectionSync({ collection_name: "types" }), "load");
  });
  after(async () => cleanup?.());

  it("query returns every field as inserted", async () => {
    const want = [rows[0], rows[7], rows[N - 1]] as Row[];
    const q = await client.query({
      collection_name: "types",
      filter: `id in [${want.map((r) => r.id).join(",")}]`,
      output_fields: ["*"],
    });
    ok(q.status, "query");
    assert.equal(q.data.length, 3);
    for (const got of q.data) sameRow(got, byId.get(String(got.id)) as Row, `query row ${String(got.id)}`);
  });

  it("search (nq 2, default output '*') returns every field of the exact nearest rows", async () => {
    const queries = [rows[3]?.v, rows[11]?.v] as number[][];
    const res = await client.search({ collection_name: "types", anns_field: "v", data: queries, limit: 4 });
    ok(res.status, "search");
    const lists = res.results as unknown as Record<string, unknown>[][];
    assert.equal(lists.length, 2);
    queries.forEach((q, qi) => {
      const want = [...rows]
        .map((r) => ({ r, score: l2(q, r.v) }))
        .sort((x, y) => x.score - y.score)
        .slice(0, 4);
      const got = lists[qi] ?? [];
      assert.deepEqual(
        got.map((h) => h.id),
        want.map((w) => w.r.id),
        `query ${qi} ids`,
      );
      got.forEach((h, i) => {
        assert.ok(Math.abs((h.score as number) - (want[i]?.score ?? 0)) < 1e-4, `query ${qi} hit ${i} score`);
        sameRow(h, want[i]?.r as Row, `query ${qi} hit ${i}`);
      });
    });
  });

  it("search returns the named fields only, dynamic keys included, with offset", async () => {
    const q = rows[5]?.v as number[];
    const res = await client.search({
      collection_name: "types",
      anns_field: "v",
      data: q,
      limit: 3,
      offset: 2,
      output_fields: ["i64", "s", "extra"],
      filter: "i32 > -2147483648",
    });
    ok(res.status, "search named");
    const want = [...rows]
      .map((r) => ({ r, score: l2(q, r.v) }))
      .sort((x, y) => x.score - y.score)
      .slice(2, 5);
    assert.deepEqual(
      (res.results as unknown as Record<string, unknown>[]).map(({ score: _s, ...h }) => h),
      want.map((w) => ({ id: w.r.id, i64: w.r.i64, s: w.r.s, extra: w.r.$meta.extra })),
    );
  });

  it("searches binary, float16 and sparse fields with their own query vector types", async () => {
    const target = rows[9] as Row;
    const bin = await client.search({
      collection_name: "types",
      anns_field: "bv",
      data: [target.bv],
      limit: 1,
      output_fields: ["id"],
    });
    ok(bin.status, "binary search");
    const binHit = (bin.results as unknown as { id: string; score: number }[])[0];
    assert.equal(binHit?.score, 0);
    assert.deepEqual(byId.get(binHit?.id as string)?.bv, target.bv);

    const half = await client.search({
      collection_name: "types",
      anns_field: "hv",
      data: [target.hv],
      limit: 1,
      output_fields: ["hv"],
    });
    ok(half.status, "float16 search");
    const halfHit = (half.results as unknown as { id: string; score: number; hv: number[] }[])[0];
    assert.equal(halfHit?.score, 0);
    assert.deepEqual(halfHit?.hv, target.hv);

    const sparse = await client.search({
      collection_name: "types",
      anns_field: "sv",
      data: [target.sv],
      limit: 3,
      output_fields: ["sv"],
    });
    ok(sparse.status, "sparse search");
    const dot = (x: Record<string, number>, y: Record<string, number>) =>
      Object.entries(x).reduce((s, [k, v]) => s + v * (y[k] ?? 0), 0);
    const sparseHits = sparse.results as unknown as {
      id: string;
      score: number;
      sv: Record<string, number>;
    }[];
    const best = Math.max(...rows.map((r) => dot(target.sv, r.sv)));
    assert.ok(Math.abs((sparseHits[0]?.score ?? 0) - best) < 1e-4);
    for (const h of sparseHits) assert.deepEqual(h.sv, byId.get(h.id)?.sv);
  });

  it("a search that matches nothing returns no hits; a VarChar-keyed collection returns string ids", async () => {
    const none = await client.search({
      collection_name: "types",
      anns_field: "v",
      data: [rows[0]?.v as number[], rows[1]?.v as number[]],
      limit: 3,
      filter: "i8 > 1000",
    });
    ok(none.status, "empty search");
    assert.deepEqual(none.results, []);

    ok(
      await client.createCollection({
        collection_name: "vk",
        consistency_level: "Strong",
        fields: [
          { name: "pk", data_type: DataType.VarChar, is_primary_key: true, max_length: 16 },
          { name: "v", data_type: DataType.FloatVector, dim: 2 },
        ],
      }),
      "create vk",
    );
    ok(
      (
        await client.insert({
          collection_name: "vk",
          data: [
            { pk: "a", v: [0, 1] },
            { pk: "b", v: [1, 0] },
            { pk: "ç", v: [1, 1] },
          ],
        })
      ).status,
      "insert vk",
    );
    ok(
      await client.createIndex({
        collection_name: "vk",
        field_name: "v",
        index_type: "FLAT",
        metric_type: "L2",
      }),
      "index vk",
    );
    ok(await client.loadCollectionSync({ collection_name: "vk" }), "load vk");
    const res = await client.search({ collection_name: "vk", data: [1, 0.9], limit: 3 });
    ok(res.status, "search vk");
    assert.deepEqual(
      (res.results as unknown as { pk: string; v: number[] }[]).map((h) => [h.pk, h.v]),
      [
        ["ç", [1, 1]],
        ["b", [1, 0]],
        ["a", [0, 1]],
      ],
    );
  });
});

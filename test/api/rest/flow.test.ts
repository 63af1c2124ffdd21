import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { rng } from "../../helpers/env.ts";
import { call, dig, okData, type RestHarness, rowsOf, startRest, waitLoaded } from "./harness.ts";

const SEED = Number(process.env.STRATA_TEST_SEED ?? 20260611);
const DIM = 16;
const N = 2000;
// Keys above 2^53: any rounding on the way in or out shows up as a wrong id.
const BASE = 1n << 60n;
const C = "rest_flow";

interface Row {
  id: bigint;
  vec: Float32Array;
  n: number;
  s: string;
  f: number;
}

function l2(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let k = 0; k < a.length; k++) {
    const x = (a[k] as number) - (b[k] as number);
    d += x * x;
  }
  return d;
}

function oracle(live: Map<bigint, Row>, q: Float32Array, k: number, keep: (r: Row) => boolean) {
  return [...live.values()]
    .filter(keep)
    .map((r) => ({ id: r.id, d: l2(q, r.vec) }))
    .sort((a, b) => a.d - b.d || (a.id < b.id ? -1 : 1))
    .slice(0, k);
}

function assertHits(got: Record<string, unknown>[], want: { id: bigint; d: number }[], what: string): void {
  assert.equal(got.length, want.length, `${what}: hit count (seed ${SEED})`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i] as Record<string, unknown>;
    const w = want[i] as { id: bigint; d: number };
    const d = g.distance as number;
    assert.ok(
      Math.abs(d - w.d) <= 1e-3 * Math.max(1, w.d),
      `${what}: rank ${i} distance ${d} vs ${w.d} (seed ${SEED})`,
    );
    if (g.id !== w.id.toString()) {
      // Equal distances may come in either order; any other difference is a wrong answer.
      const tie = want.find((x) => x.id.toString() === g.id);
      assert.ok(
        tie !== undefined && Math.abs(tie.d - w.d) <= 1e-5,
        `${what}: rank ${i} id ${g.id} vs ${w.id} (seed ${SEED})`,
      );
    }
  }
}

describe("REST v2: full flow against a brute-force oracle", () => {
  let h: RestHarness;
  const live = new Map<bigint, Row>();
  const r = rng(SEED);
  const rows: Row[] = [];

  before(async () => {
    h = await startRest();
    for (let i = 0; i < N; i++) {
      const vec = new Float32Array(DIM);
      for (let k = 0; k < DIM; k++) vec[k] = r() * 2 - 1;
      rows.push({ id: BASE + BigInt(i * 7), vec, n: Math.floor(r() * 1000), s: `s${i % 7}`, f: r() * 10 });
    }
  });
  after(async () => {
    await h?.close();
  });

  it("creates a collection from a full schema (no index: not loaded)", async () => {
    okData(
      await call(h.url, "collections/create", {
        collectionName: C,
        schema: {
          autoId: false,
          enableDynamicField: false,
          fields: [
            { fieldName: "id", dataType: "Int64", isPrimary: true },
            { fieldName: "vec", dataType: "FloatVector", elementTypeParams: { dim: DIM } },
            { fieldName: "n", dataType: "Int64" },
            { fieldName: "s", dataType: "VarChar", elementTypeParams: { max_length: "32" } },
            { fieldName: "f", dataType: "Float" },
          ],
        },
      }),
    );
    assert.deepEqual(okData(await call(h.url, "collections/has", { collectionName: C })), { has: true });
    assert.ok((okData(await call(h.url, "collections/list", {})) as string[]).includes(C));
    const d = okData(await call(h.url, "collections/describe", { collectionName: C })) as Record<
      string,
      unknown
    >;
    assert.equal(d.collectionName, C);
    assert.equal(d.load, "LoadStateNotLoad");
    assert.equal(d.enableDynamicField, false);
    const fields = d.fields as Record<string, unknown>[];
    assert.deepEqual(
      fields.map((f) => [f.name, f.type, f.primaryKey]),
      [
        ["id", "Int64", true],
        ["vec", "FloatVector", false],
        ["n", "Int64", false],
        ["s", "VarChar", false],
        ["f", "Float", false],
      ],
    );
    assert.deepEqual(fields[1]?.params, [{ key: "dim", value: String(DIM) }]);
    assert.deepEqual(okData(await call(h.url, "collections/get_load_state", { collectionName: C })), {
      loadState: "LoadStateNotLoad",
    });
  });

  it("inserts 2,000 rows: keys above 2^53 as JSON integers and as decimal strings", async () => {
    const half = N / 2;
    const asJson = (x: Row, key: bigint | string) => ({
      id: key,
      vec: Array.from(x.vec),
      n: x.n,
      s: x.s,
      f: x.f,
    });
    const first = okData(
      await call(h.url, "entities/insert", {
        collectionName: C,
        data: rows.slice(0, half).map((x) => asJson(x, x.id)),
      }),
    ) as { insertCount: number; insertIds: unknown[] };
    assert.equal(first.insertCount, half);
    assert.deepEqual(
      first.insertIds,
      rows.slice(0, half).map((x) => x.id.toString()),
    );
    const second = okData(
      await call(h.url, "entities/insert", {
        collectionName: C,
        data: rows.slice(half).map((x) => asJson(x, x.id.toString())),
      }),
    ) as { insertCount: number; insertIds: unknown[] };
    assert.equal(second.insertCount, N - half);
    assert.equal(second.insertIds[0], rows[half]?.id.toString());
    for (const x of rows) live.set(x.id, x);
  });

  it("flushes, indexes, loads", async () => {
    okData(await call(h.url, "collections/flush", { collectionName: C }));
    okData(
      await call(h.url, "indexes/create", {
        collectionName: C,
        indexParams: [
          { fieldName: "vec", indexName: "vec_idx", metricType: "L2", indexType: "FLAT", params: {} },
        ],
      }),
    );
    assert.deepEqual(okData(await call(h.url, "indexes/list", { collectionName: C })), ["vec_idx"]);
    const ix = okData(
      await call(h.url, "indexes/describe", { collectionName: C, indexName: "vec_idx" }),
    ) as Record<string, unknown>[];
    assert.equal(ix.length, 1);
    assert.equal(ix[0]?.fieldName, "vec");
    assert.equal(ix[0]?.indexType, "FLAT");
    assert.equal(ix[0]?.metricType, "L2");
    okData(await call(h.url, "collections/load", { collectionName: C }));
    await waitLoaded(h.url, C);
    const st = okData(await call(h.url, "collections/get_load_state", { collectionName: C }));
    assert.deepEqual(st, { loadState: "LoadStateLoaded", loadProgress: 100 });
    const d = okData(await call(h.url, "collections/describe", { collectionName: C })) as Record<
      string,
      unknown
    >;
    assert.equal(d.load, "LoadStateLoaded");
    assert.deepEqual(d.indexes, [{ indexName: "vec_idx", fieldName: "vec", metricType: "L2" }]);
    const stats = okData(await call(h.url, "collections/get_stats", { collectionName: C })) as {
      rowCount: number;
    };
    assert.equal(stats.rowCount, N);
  });

  it("searches with a filter and output fields, as the oracle ranks", async () => {
    const keep = (x: Row) => x.n < 500 && x.s !== "s3";
    for (let q = 0; q < 5; q++) {
      const qv = new Float32Array(DIM);
      for (let k = 0; k < DIM; k++) qv[k] = r() * 2 - 1;
      const res = await call(h.url, "entities/search", {
        collectionName: C,
        data: [Array.from(qv)],
        annsField: "vec",
        limit: 10,
        filter: 'n < 500 and s != "s3"',
        outputFields: ["n", "s", "f"],
        consistencyLevel: "Strong",
      });
      const got = rowsOf(res);
      assertHits(got, oracle(live, qv, 10, keep), `query ${q}`);
      assert.deepEqual(dig(res.body, "topks"), [10]);
      for (const g of got) {
        const x = live.get(BigInt(g.id as string)) as Row;
        assert.equal(g.n, String(x.n), "Int64 field as a string when the header says false");
        assert.equal(g.s, x.s);
        assert.equal(Math.fround(g.f as number), Math.fround(x.f), "Float reads back to the stored float32");
      }
    }
  });

  it("searches nq=2 (one flat list, topks) and pages with offset", async () => {
    const q1 = rows[3]?.vec as Float32Array;
    const q2 = rows[900]?.vec as Float32Array;
    const res = await call(h.url, "entities/search", {
      collectionName: C,
      data: [Array.from(q1), Array.from(q2)],
      limit: 5,
      consistencyLevel: "Strong",
    });
    const got = rowsOf(res);
    assert.deepEqual(dig(res.body, "topks"), [5, 5]);
    assertHits(
      got.slice(0, 5),
      oracle(live, q1, 5, () => true),
      "nq=2 first",
    );
    assertHits(
      got.slice(5),
      oracle(live, q2, 5, () => true),
      "nq=2 second",
    );
    assert.equal(got[0]?.id, rows[3]?.id.toString(), "a stored vector finds itself first");
    assert.deepEqual(
      Object.keys(got[0] ?? {}).sort(),
      ["distance", "id"],
      "no output fields: key and distance",
    );
    const paged = rowsOf(
      await call(h.url, "entities/search", {
        collectionName: C,
        data: [Array.from(q1)],
        limit: 5,
        offset: 5,
        searchParams: { metricType: "L2", params: { nprobe: 8 } },
        consistencyLevel: "Strong",
      }),
    );
    assertHits(paged, oracle(live, q1, 10, () => true).slice(5), "offset 5");
  });

  it("queries by filter, counts, pages; Int64 as numbers when the header allows", async () => {
    const want = [...live.values()].filter((x) => x.n < 50).sort((a, b) => (a.id < b.id ? -1 : 1));
    const got = rowsOf(
      await call(h.url, "entities/query", {
        collectionName: C,
        filter: "n < 50",
        outputFields: ["n", "s"],
        limit: 1000,
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(
      got.map((g) => [g.id, g.n, g.s]),
      want.map((x) => [x.id.toString(), String(x.n), x.s]),
      `seed ${SEED}`,
    );
    const count = okData(
      await call(h.url, "entities/query", {
        collectionName: C,
        filter: "n < 500",
        outputFields: ["count(*)"],
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(count, [{ "count(*)": String([...live.values()].filter((x) => x.n < 500).length) }]);
    const page = rowsOf(
      await call(h.url, "entities/query", { collectionName: C, consistencyLevel: "Strong" }),
    );
    assert.equal(page.length, 100, "default limit 100, all fields");
    assert.deepEqual(Object.keys(page[0] ?? {}).sort(), ["f", "id", "n", "s", "vec"]);
    // With the header true (and with none, the Milvus default) keys are exact JSON integers.
    const k = rows[5] as Row;
    for (const headers of [{ "Accept-Type-Allow-Int64": "true" }, {}]) {
      const raw = await call(
        h.url,
        "entities/query",
        { collectionName: C, filter: `id == ${k.id}`, outputFields: ["id"], consistencyLevel: "Strong" },
        headers,
      );
      assert.ok(raw.text.includes(`"id":${k.id}`), raw.text);
    }
  });

  it("gets by id, including vectors as float32", async () => {
    const a = rows[11] as Row;
    const b = rows[1999] as Row;
    const got = rowsOf(
      await call(h.url, "entities/get", {
        collectionName: C,
        id: [b.id.toString(), a.id.toString()],
        consistencyLevel: "Strong",
      }),
    );
    assert.equal(got.length, 2);
    const byId = new Map(got.map((g) => [g.id, g]));
    for (const x of [a, b]) {
      const g = byId.get(x.id.toString()) as Record<string, unknown>;
      const vec = g.vec as number[];
      assert.deepEqual(
        vec.map(Math.fround),
        Array.from(x.vec),
        "float32 written as its shortest decimal reads back exactly",
      );
      const digits = (v: number) => (v.toExponential().split("e")[0] ?? "").replace(/[-.]/g, "").length;
      assert.ok(
        vec.every((v) => digits(v) <= 9),
        "shortest float32 text, not the double's",
      );
      assert.equal(g.s, x.s);
    }
    const one = rowsOf(
      await call(h.url, "entities/get", {
        collectionName: C,
        id: a.id.toString(),
        outputFields: ["s"],
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(one, [{ id: a.id.toString(), s: a.s }]);
  });

  it("deletes by filter and by id, then upserts", async () => {
    const [a, b, c, d] = [rows[20] as Row, rows[21] as Row, rows[22] as Row, rows[23] as Row];
    const byFilter = okData(
      await call(h.url, "entities/delete", {
        collectionName: C,
        filter: `id in [${a.id}, ${b.id}, ${c.id}]`,
      }),
    );
    assert.deepEqual(byFilter, { deleteCount: 3 });
    const byId = okData(await call(h.url, "entities/delete", { collectionName: C, id: [d.id.toString()] }));
    assert.deepEqual(byId, { deleteCount: 1 });
    for (const x of [a, b, c, d]) live.delete(x.id);
    const gone = rowsOf(
      await call(h.url, "entities/get", {
        collectionName: C,
        id: [a.id.toString(), d.id.toString()],
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(gone, []);
    const e = rows[30] as Row;
    const fresh = { ...e, s: "up", vec: new Float32Array(DIM).fill(0.25) };
    const up = okData(
      await call(h.url, "entities/upsert", {
        collectionName: C,
        data: [{ id: e.id, vec: Array.from(fresh.vec), n: e.n, s: "up", f: e.f }],
      }),
    );
    assert.deepEqual(up, { upsertCount: 1, upsertIds: [e.id.toString()] });
    live.set(e.id, fresh);
    const got = rowsOf(
      await call(h.url, "entities/get", {
        collectionName: C,
        id: e.id.toString(),
        outputFields: ["s"],
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(got, [{ id: e.id.toString(), s: "up" }]);
    const count = okData(
      await call(h.url, "entities/query", {
        collectionName: C,
        outputFields: ["count(*)"],
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(count, [{ "count(*)": String(live.size) }]);
    const res = rowsOf(
      await call(h.url, "entities/search", {
        collectionName: C,
        data: [Array.from(fresh.vec)],
        limit: 10,
        consistencyLevel: "Strong",
      }),
    );
    assertHits(
      res,
      oracle(live, fresh.vec, 10, () => true),
      "after delete and upsert",
    );
  });

  it("partitions: create, insert into, load, list, stats, release, drop", async () => {
    okData(await call(h.url, "partitions/create", { collectionName: C, partitionName: "p1" }));
    assert.deepEqual(
      okData(await call(h.url, "partitions/has", { collectionName: C, partitionName: "p1" })),
      {
        has: true,
      },
    );
    assert.deepEqual(
      okData(await call(h.url, "partitions/has", { collectionName: C, partitionName: "p2" })),
      {
        has: false,
      },
    );
    assert.deepEqual(
      (okData(await call(h.url, "partitions/list", { collectionName: C })) as string[]).sort(),
      ["_default", "p1"],
    );
    const extra = Array.from({ length: 10 }, (_, i) => ({
      id: (BASE + 100_000n + BigInt(i)).toString(),
      vec: Array.from({ length: DIM }, () => r()),
      n: 1,
      s: "p1",
      f: 0,
    }));
    okData(await call(h.url, "entities/insert", { collectionName: C, partitionName: "p1", data: extra }));
    okData(await call(h.url, "partitions/load", { collectionName: C, partitionNames: ["p1"] }));
    await waitLoaded(h.url, C);
    const inP1 = rowsOf(
      await call(h.url, "entities/query", {
        collectionName: C,
        partitionNames: ["p1"],
        outputFields: ["s"],
        limit: 100,
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(
      inP1.map((x) => x.id),
      extra.map((x) => x.id),
    );
    const stats = okData(
      await call(h.url, "partitions/get_stats", { collectionName: C, partitionName: "p1" }),
    );
    assert.equal(typeof dig(stats, "rowCount"), "number");
    okData(await call(h.url, "partitions/release", { collectionName: C, partitionNames: ["p1"] }));
    okData(await call(h.url, "partitions/drop", { collectionName: C, partitionName: "p1" }));
    assert.deepEqual(okData(await call(h.url, "partitions/list", { collectionName: C })), ["_default"]);
  });

  it("releases (search then fails with 101) and drops (idempotently)", async () => {
    okData(await call(h.url, "collections/release", { collectionName: C }));
    assert.deepEqual(okData(await call(h.url, "collections/get_load_state", { collectionName: C })), {
      loadState: "LoadStateNotLoad",
    });
    const res = await call(h.url, "entities/search", {
      collectionName: C,
      data: [Array.from(rows[0]?.vec ?? [])],
    });
    assert.equal(res.status, 200);
    assert.equal(dig(res.body, "code"), 101, res.text);
    okData(await call(h.url, "indexes/drop", { collectionName: C, indexName: "vec_idx" }));
    assert.deepEqual(okData(await call(h.url, "indexes/list", { collectionName: C })), []);
    okData(await call(h.url, "collections/drop", { collectionName: C }));
    assert.deepEqual(okData(await call(h.url, "collections/has", { collectionName: C })), { has: false });
    okData(await call(h.url, "collections/drop", { collectionName: C }));
    const st = await call(h.url, "collections/get_load_state", { collectionName: C });
    assert.equal(dig(st.body, "code"), 100, st.text);
  });
});

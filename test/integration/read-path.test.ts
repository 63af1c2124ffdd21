import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Strata } from "../../src/api/embedded.ts";
import { isStrataError } from "../../src/common/errors.ts";
import type { MetricType } from "../../src/querynode/types.ts";
import { distributedOverrides } from "../helpers/cluster.ts";
import { rng, tempDir } from "../helpers/env.ts";

const DIM = 32;

interface Row {
  vec: Float32Array;
  n: number;
  s: string;
}

function score(metric: MetricType, a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let l2 = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k] as number;
    const y = b[k] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
    l2 += (x - y) * (x - y);
  }
  if (metric === "L2") return l2;
  if (metric === "IP") return dot;
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Brute-force top-k over the live rows passing `keep`. */
function oracle(
  live: Map<number, Row>,
  q: Float32Array,
  metric: MetricType,
  k: number,
  keep: (pk: number, r: Row) => boolean,
) {
  const asc = metric === "L2";
  const all = [...live]
    .filter(([pk, r]) => keep(pk, r))
    .map(([pk, r]) => ({ pk, score: score(metric, q, r.vec) }));
  all.sort((a, b) => (asc ? a.score - b.score : b.score - a.score) || a.pk - b.pk);
  return all.slice(0, k);
}

function assertHits(
  got: { id: bigint | string; score: number }[],
  want: { pk: number; score: number }[],
  what: string,
): void {
  assert.equal(got.length, want.length, `${what}: hit count`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i] as { id: bigint | string; score: number };
    const w = want[i] as { pk: number; score: number };
    const close = Math.abs(g.score - w.score) <= 1e-3 * Math.max(1, Math.abs(w.score));
    assert.ok(close, `${what}: rank ${i} score ${g.score} vs ${w.score}`);
    if (g.id !== BigInt(w.pk)) {
      // Equal scores may order either way; anything else is a wrong answer.
      const tie = want.find((x) => BigInt(x.pk) === g.id);
      assert.ok(
        tie !== undefined && Math.abs(tie.score - w.score) <= 1e-4 * Math.max(1, Math.abs(w.score)),
        `${what}: rank ${i} id ${g.id} vs ${w.pk}`,
      );
    }
  }
}

function oracleSuite(name: string, skip: string | false, overrides: () => Record<string, unknown>): void {
  describe(`read path on ${name}: search and query against a brute-force oracle`, { skip }, () => {
    let t: Awaited<ReturnType<typeof tempDir>>;
    let db: Strata;
    const live = new Map<number, Row>();
    const r = rng(99);
    const makeRows = (from: number, n: number) => {
      const id: number[] = [];
      const vec = new Float32Array(n * DIM);
      const nn: number[] = [];
      const s: string[] = [];
      for (let i = 0; i < n; i++) {
        const pk = from + i;
        const v = new Float32Array(DIM).map(() => r() * 2 - 1);
        vec.set(v, i * DIM);
        id.push(pk);
        nn.push(pk % 100);
        s.push(`s${pk % 37}`);
        live.set(pk, { vec: v, n: pk % 100, s: `s${pk % 37}` });
      }
      return { id, vec, n: nn, s };
    };

    before(async () => {
      t = await tempDir();
      db = await Strata.open({ dataDir: t.dir, overrides: overrides() });
      await db.createCollection({
        schema: {
          name: "docs",
          fields: [
            { name: "id", dataType: "Int64", isPrimaryKey: true },
            { name: "vec", dataType: "FloatVector", dim: DIM },
            { name: "n", dataType: "Int64" },
            { name: "s", dataType: "VarChar", maxLength: 16 },
          ],
        },
      });
      await assert.rejects(db.search("docs", { data: [new Array(DIM).fill(0)] }), (e: unknown) =>
        isStrataError(e, "CollectionNotLoaded"),
      );
      for (let from = 0; from < 3000; from += 500) await db.insert("docs", { columns: makeRows(from, 500) });
      await db.flush("docs");
      await db.load("docs");
      assert.equal(await db.loadState("docs"), "Loaded");
      for (let from = 3000; from < 4000; from += 500)
        await db.insert("docs", { columns: makeRows(from, 500) });
      const deleted = Array.from({ length: 200 }, (_, i) => i * 19);
      await db.delete("docs", deleted);
      for (const pk of deleted) live.delete(pk);
    });
    after(async () => {
      await db?.close();
      await t?.cleanup();
    });

    for (const metric of ["L2", "IP", "COSINE"] as const) {
      it(`${metric}: nq = 1 and nq = 64, sealed + growing, deletes applied, with and without a filter`, async () => {
        const queries = Array.from({ length: 64 }, () => Array.from({ length: DIM }, () => r() * 2 - 1));
        const res1 = await db.search("docs", {
          data: [queries[0] as number[]],
          metricType: metric,
          limit: 10,
          consistencyLevel: "Strong",
        });
        assertHits(
          res1[0] ?? [],
          oracle(live, Float32Array.from(queries[0] as number[]), metric, 10, () => true),
          `${metric} nq=1`,
        );
        const res = await db.search("docs", {
          data: queries,
          metricType: metric,
          limit: 7,
          consistencyLevel: "Strong",
        });
        assert.equal(res.length, 64);
        res.forEach((hits, q) => {
          assertHits(
            hits,
            oracle(live, Float32Array.from(queries[q] as number[]), metric, 7, () => true),
            `${metric} q${q}`,
          );
        });
        const filtered = await db.search("docs", {
          data: queries.slice(0, 8),
          metricType: metric,
          limit: 5,
          filter: 'n % 3 == 0 and s like "s1%"',
          outputFields: ["n", "s"],
          consistencyLevel: "Strong",
        });
        filtered.forEach((hits, q) => {
          const want = oracle(
            live,
            Float32Array.from(queries[q] as number[]),
            metric,
            5,
            (_, row) => row.n % 3 === 0 && row.s.startsWith("s1"),
          );
          assertHits(hits, want, `${metric} filtered q${q}`);
          for (const h of hits) {
            const row = live.get(Number(h.id)) as Row;
            assert.equal(h.fields.n, BigInt(row.n));
            assert.equal(h.fields.s, row.s);
          }
        });
      });
    }

    it("offset pages through the same ranking", async () => {
      const q = Array.from({ length: DIM }, () => r());
      const all = (await db.search("docs", { data: [q], limit: 20, consistencyLevel: "Strong" }))[0] ?? [];
      const page =
        (await db.search("docs", { data: [q], limit: 10, offset: 10, consistencyLevel: "Strong" }))[0] ?? [];
      assert.deepEqual(
        page.map((h) => h.id),
        all.slice(10).map((h) => h.id),
      );
    });

    it("query: count(*), filter with output fields, limit, get by ids", async () => {
      const [count] = await db.query("docs", { outputFields: ["count(*)"], consistencyLevel: "Strong" });
      assert.equal(count?.["count(*)"], live.size);
      const rows = await db.query("docs", {
        filter: "n == 42",
        outputFields: ["id", "s"],
        consistencyLevel: "Strong",
      });
      const want = [...live]
        .filter(([, row]) => row.n === 42)
        .map(([pk]) => pk)
        .sort((a, b) => a - b);
      assert.deepEqual(
        rows.map((x) => Number(x.id)),
        want,
      );
      const limited = await db.query("docs", { filter: "n >= 0", limit: 5, consistencyLevel: "Strong" });
      assert.equal(limited.length, 5);
      const got = await db.get("docs", [1, 19, 3999, 123456]);
      assert.deepEqual(
        got.map((x) => Number(x.id)),
        [1, 3999],
        "deleted (19) and missing keys are absent",
      );
      assert.equal((got[0]?.vec as number[] | undefined)?.length, DIM);
    });

    it("reads its own writes with Strong: an insert is visible and a delete hidden right after they return", async () => {
      const v = Array.from({ length: DIM }, () => 5);
      await db.insert("docs", { rows: [{ id: 900001, vec: v, n: 1, s: "x" }] });
      const hits = await db.search("docs", { data: [v], limit: 1, consistencyLevel: "Strong" });
      assert.equal(hits[0]?.[0]?.id, 900001n);
      await db.delete("docs", [900001]);
      assert.deepEqual(await db.get("docs", [900001]), []);
      await db.delete("docs", { filter: "n == 7" });
      const [c] = await db.query("docs", {
        filter: "n == 7",
        outputFields: ["count(*)"],
        consistencyLevel: "Strong",
      });
      assert.equal(c?.["count(*)"], 0);
      for (const [pk, row] of [...live]) if (row.n === 7) live.delete(pk);
    });

    it("keeps deletes after flush, reload and restart", async () => {
      await db.flush("docs");
      await db.release("docs");
      assert.equal(await db.loadState("docs"), "NotLoad");
      await db.load("docs");
      let [c] = await db.query("docs", { outputFields: ["count(*)"], consistencyLevel: "Strong" });
      assert.equal(c?.["count(*)"], live.size);
      await db.close();
      db = await Strata.open({ dataDir: t.dir, overrides: overrides() });
      await db.load("docs");
      [c] = await db.query("docs", { outputFields: ["count(*)"], consistencyLevel: "Strong" });
      assert.equal(c?.["count(*)"], live.size);
      assert.deepEqual(await db.get("docs", [19, 38]), []);
    });
  });
}

oracleSuite("embedded backends", false, () => ({}));
const dist = distributedOverrides();
oracleSuite("NATS JetStream, etcd and S3", dist.skip, () => dist.overrides ?? {});

describe("read path: handoff never shows a gap or a double count", () => {
  it("count(*) with Strong equals the acknowledged rows while rows stream in and segments flush", async () => {
    const t = await tempDir();
    const db = await Strata.open({ dataDir: t.dir, overrides: { datanode: { insertBufBytes: 32 * 1024 } } });
    try {
      await db.createCollection({
        schema: {
          name: "h",
          fields: [
            { name: "id", dataType: "Int64", isPrimaryKey: true },
            { name: "v", dataType: "FloatVector", dim: 4 },
          ],
        },
      });
      await db.load("h");
      let acked = 0;
      for (let b = 0; b < 30; b++) {
        const ids = Array.from({ length: 100 }, (_, i) => b * 100 + i);
        await db.insert("h", { columns: { id: ids, v: new Float32Array(400).fill(b) } });
        acked += 100;
        if (b % 6 === 5) void db.flush("h", { wait: false });
        const [c] = await db.query("h", { outputFields: ["count(*)"], consistencyLevel: "Strong" });
        assert.equal(c?.["count(*)"], acked, `after batch ${b}`);
      }
      await db.flush("h");
      await new Promise((res) => setTimeout(res, 500));
      const [c] = await db.query("h", { outputFields: ["count(*)"], consistencyLevel: "Strong" });
      assert.equal(c?.["count(*)"], acked);
    } finally {
      await db.close();
      await t.cleanup();
    }
  });
});

describe("read path on real text embeddings (@sap-ux/fiori-docs-embeddings, 778 × 384, cosine)", () => {
  it("matches brute force for 40 queries", async () => {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve("@sap-ux/fiori-docs-embeddings/package.json"));
    const bin = readFileSync(join(dir, "data/embeddings/embeddings.bin"));
    const all = new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4).slice();
    const n = all.length / 384;
    assert.equal(n, 778);
    const t = await tempDir();
    const db = await Strata.open(t.dir);
    try {
      await db.createCollection({
        schema: {
          name: "fiori",
          fields: [
            { name: "id", dataType: "Int64", isPrimaryKey: true },
            { name: "v", dataType: "FloatVector", dim: 384 },
          ],
        },
      });
      await db.insert("fiori", { columns: { id: Array.from({ length: n }, (_, i) => i), v: all } });
      await db.load("fiori");
      const live = new Map<number, Row>();
      for (let i = 0; i < n; i++) live.set(i, { vec: all.subarray(i * 384, (i + 1) * 384), n: 0, s: "" });
      const queries = Array.from({ length: 40 }, (_, i) => all.subarray(i * 19 * 384, (i * 19 + 1) * 384));
      const res = await db.search("fiori", {
        data: queries.map((q) => Array.from(q)),
        metricType: "COSINE",
        limit: 10,
        consistencyLevel: "Strong",
      });
      res.forEach((hits, q) => {
        assertHits(
          hits,
          oracle(live, queries[q] as Float32Array, "COSINE", 10, () => true),
          `fiori q${q}`,
        );
        assert.equal(hits[0]?.id, BigInt(q * 19), "a stored vector is its own nearest neighbour");
      });
    } finally {
      await db.close();
      await t.cleanup();
    }
  });
});

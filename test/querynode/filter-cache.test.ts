// Filter results kept per sealed segment: the cache's own contract (one evaluation per segment and
// plan, LRU by bytes, forget), plan keys, and reads through a standalone Strata against an oracle
// while deletes and new rows arrive after the bits were kept.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Strata } from "../../src/api/embedded.ts";
import { validateSchema } from "../../src/common/schema.ts";
import { compileFilter } from "../../src/expr/index.ts";
import { FilterCache, planKey } from "../../src/querynode/filter-cache.ts";
import { rng } from "../helpers/env.ts";
import { openTempStrata } from "./harness.ts";

const SCHEMA = {
  name: "fc",
  fields: [
    { name: "id", dataType: "Int64" as const, isPrimaryKey: true },
    { name: "tag", dataType: "Int64" as const },
    { name: "label", dataType: "VarChar" as const, maxLength: 16 },
    { name: "x", dataType: "Double" as const },
    { name: "v", dataType: "FloatVector" as const, dim: 8 },
  ],
};

describe("planKey", () => {
  const schema = validateSchema(SCHEMA);
  const key = (t: string) => planKey(compileFilter(t, schema));

  it("is equal for the same filter compiled twice and differs when the result may differ", () => {
    assert.equal(key("tag == 3"), key("tag == 3"));
    const distinct = [
      "tag == 3",
      "tag == 4",
      "tag != 3",
      'label == "3"',
      "x == 3",
      "x > 1e308 * 10",
      "x < -1e308 * 10",
      "tag in [1, 2]",
      "tag in [1, 3]",
    ].map(key);
    assert.ok(distinct.every((k) => k !== undefined));
    assert.equal(new Set(distinct).size, distinct.length, JSON.stringify(distinct));
  });

  it("is undefined for plans too long to keep (long id lists)", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => i).join(", ");
    assert.equal(key(`id in [${ids}]`), undefined);
  });
});

describe("FilterCache", () => {
  const bits = (n: number, every: number) =>
    Uint8Array.from({ length: n }, (_, i) => (i % every === 0 ? 1 : 0));

  it("evaluates once per (segment, plan) and counts the passing rows", () => {
    const c = new FilterCache(1 << 20);
    let calls = 0;
    const compute = () => {
      calls++;
      return bits(1000, 10);
    };
    const a = c.get(1n, 1000, "k", compute);
    const b = c.get(1n, 1000, "k", compute);
    assert.equal(calls, 1);
    assert.equal(a.passing, 100);
    assert.equal(b.bits, a.bits);
    c.get(2n, 1000, "k", compute);
    c.get(1n, 1000, "other", compute);
    assert.equal(calls, 3, "another segment or another plan is evaluated on its own");
    assert.deepEqual({ ...c.stats(), bytes: 0 }, { entries: 3, bytes: 0, hits: 1, misses: 3 });
  });

  it("drops the least recently used entries beyond its byte budget, and forgets a segment", () => {
    const c = new FilterCache(4 * 1100);
    const seen: bigint[] = [];
    const get = (seg: bigint) =>
      c.get(seg, 1000, "k", () => {
        seen.push(seg);
        return bits(1000, 3);
      });
    for (const s of [1n, 2n, 3n, 4n]) get(s);
    get(1n); // 1 is now the most recent: 2 goes first
    get(5n);
    assert.ok(c.stats().bytes <= 4 * 1100);
    seen.length = 0;
    get(1n);
    get(2n);
    assert.deepEqual(seen, [2n], "2 was evicted, 1 was kept");
    c.forget(1n);
    get(1n);
    assert.deepEqual(seen, [2n, 1n]);
  });

  it("keeps nothing with a zero budget, for an unkeyed plan, or when the segment's row count differs", () => {
    let calls = 0;
    const compute = () => {
      calls++;
      return bits(100, 2);
    };
    const none = new FilterCache(0);
    none.get(1n, 100, "k", compute);
    none.get(1n, 100, "k", compute);
    const c = new FilterCache(1 << 20);
    c.get(1n, 100, undefined, compute);
    c.get(1n, 100, undefined, compute);
    assert.equal(calls, 4);
    c.get(1n, 100, "k", compute);
    c.get(1n, 101, "k", compute);
    assert.equal(calls, 6);
    assert.equal(c.get(1n, 100, "k", compute).passing, 50);
  });
});

describe("filtered reads through a standalone Strata with kept filter results", () => {
  const N = 3000;
  const r = rng(7);
  const live = new Map<bigint, { tag: bigint; v: Float32Array }>();
  let db: Strata;
  let cleanup: () => Promise<void>;

  const insert = async (from: number, n: number) => {
    const id = BigInt64Array.from({ length: n }, (_, i) => BigInt(from + i));
    const tag = id.map((x) => x % 7n);
    const v = Float32Array.from({ length: n * 8 }, () => r() * 2 - 1);
    await db.insert("fc", {
      columns: { id, tag, label: [...id].map((x) => `l${x % 5n}`), x: Float64Array.from(id, Number), v },
    });
    for (let i = 0; i < n; i++)
      live.set(id[i] as bigint, { tag: tag[i] as bigint, v: v.subarray(i * 8, (i + 1) * 8) });
  };

  /** Exact top-k over the live rows with tag == 3, L2. */
  const oracle = (q: Float32Array, k: number) =>
    [...live]
      .filter(([, row]) => row.tag === 3n)
      .map(([id, row]) => ({ id, d: row.v.reduce((s, x, i) => s + (x - (q[i] as number)) ** 2, 0) }))
      .sort((a, b) => a.d - b.d || (a.id < b.id ? -1 : 1))
      .slice(0, k)
      .map((h) => h.id);

  const check = async (what: string) => {
    for (let t = 0; t < 5; t++) {
      const q = Float32Array.from({ length: 8 }, () => r() * 2 - 1);
      const hits = await db.search("fc", {
        data: [q],
        limit: 10,
        metricType: "L2",
        filter: "tag == 3",
        consistencyLevel: "Strong",
      });
      assert.deepEqual(
        (hits[0] ?? []).map((h) => h.id),
        oracle(q, 10),
        `${what}: search ${t}`,
      );
    }
    const rows = await db.query("fc", {
      filter: "tag == 3",
      outputFields: ["count(*)"],
      consistencyLevel: "Strong",
    });
    const want = [...live.values()].filter((x) => x.tag === 3n).length;
    assert.equal(rows[0]?.["count(*)"], want, `${what}: count`);
  };

  before(async () => {
    ({ db, cleanup } = await openTempStrata("strata-fc-"));
    await db.createCollection({ schema: SCHEMA, shardsNum: 2 });
    await insert(0, N);
    await db.flush("fc");
    await db.load("fc");
  });

  after(async () => cleanup?.());

  it("the first filtered read keeps the sealed segments' bits (memory reported), answers equal the oracle", async () => {
    const before = db.internals.querynode.resourceCost().memUsage;
    await check("sealed only");
    const grown = db.internals.querynode.resourceCost().memUsage - before;
    assert.ok(grown >= N, `kept filter bits show in memUsage (grew by ${grown} bytes)`);
    await check("sealed only, again");
  });

  it("rows deleted after the bits were kept are never returned; new rows in growing segments are", async () => {
    const gone = [...live].filter(([id, row]) => row.tag === 3n && id % 2n === 0n).map(([id]) => id);
    await db.delete("fc", BigInt64Array.from(gone));
    for (const id of gone) live.delete(id);
    await check("after deletes");
    await insert(N, 500);
    await check("with growing rows");
  });

  it("upserted rows replace their old values even when the old row's bit is kept", async () => {
    // Old tag 3 rows move to tag 4 and some tag 4 rows move to tag 3.
    const moved = [...live].filter(([id, row]) => (row.tag === 3n || row.tag === 4n) && id % 3n === 0n);
    const id = BigInt64Array.from(moved.map(([k]) => k));
    const tag = BigInt64Array.from(moved.map(([, row]) => (row.tag === 3n ? 4n : 3n)));
    const v = new Float32Array(id.length * 8);
    moved.forEach(([, row], i) => {
      v.set(row.v, i * 8);
    });
    await db.upsert("fc", {
      columns: { id, tag, label: [...id].map(() => "u"), x: Float64Array.from(id, Number), v },
    });
    moved.forEach(([k, row], i) => {
      live.set(k, { tag: tag[i] as bigint, v: row.v });
    });
    await check("after upserts");
  });
});

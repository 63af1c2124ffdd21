// Searches answered by one segment take a shortcut past the merge; it must give what the merge
// gives: one hit per key (the row written last), best first, the right output fields.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Strata } from "../../src/api/embedded.ts";
import { rng } from "../helpers/env.ts";
import { openTempStrata } from "./harness.ts";

const DIM = 4;

describe("search answered by a single segment", () => {
  const r = rng(11);
  /** The live row per key: the one written last. */
  const live = new Map<bigint, { tag: bigint; v: Float32Array }>();
  let db: Strata;
  let cleanup: () => Promise<void>;

  const insert = async (ids: bigint[], same = false) => {
    const id = BigInt64Array.from(ids);
    const tag = id.map((x) => x * 10n + BigInt(live.has(x) ? 1 : 0));
    const v = Float32Array.from({ length: ids.length * DIM }, () => r() * 2 - 1);
    if (same)
      ids.forEach((k, i) => {
        v.set(live.get(k)?.v ?? [], i * DIM);
      });
    await db.insert("one", { columns: { id, tag, v } });
    ids.forEach((k, i) => {
      live.set(k, { tag: tag[i] as bigint, v: v.slice(i * DIM, (i + 1) * DIM) });
    });
  };

  const oracle = (q: Float32Array, k: number) =>
    [...live]
      .map(([id, row]) => ({
        id,
        tag: row.tag,
        d: row.v.reduce((s, x, i) => s + (x - (q[i] as number)) ** 2, 0),
      }))
      .sort((a, b) => a.d - b.d || (a.id < b.id ? -1 : 1))
      .slice(0, k);

  before(async () => {
    ({ db, cleanup } = await openTempStrata("strata-one-"));
    await db.createCollection({
      schema: {
        name: "one",
        fields: [
          { name: "id", dataType: "Int64", isPrimaryKey: true },
          { name: "tag", dataType: "Int64" },
          { name: "v", dataType: "FloatVector", dim: DIM },
        ],
      },
      shardsNum: 1,
    });
    await db.load("one");
  });

  after(async () => cleanup?.());

  /**
   * `repeated`: keys inserted twice. Each one among the best takes two of the segment's k slots,
   * so the answer may be that many hits short, never different.
   */
  const check = async (what: string, queries: Float32Array[], repeated = new Set<bigint>()) => {
    for (const [n, q] of queries.entries()) {
      const hits = (
        await db.search("one", {
          data: [q],
          limit: 10,
          metricType: "L2",
          outputFields: ["tag"],
          consistencyLevel: "Strong",
        })
      )[0];
      const full = oracle(q, 10);
      const short = full.filter((h) => repeated.has(h.id)).length;
      const want = full.slice(0, Math.max(10 - short, hits?.length ?? 0));
      assert.deepEqual(
        hits?.map((h) => h.id),
        want.map((w) => w.id),
        `${what}, query ${n}`,
      );
      hits?.forEach((h, i) => {
        assert.equal(
          h.fields.tag,
          want[i]?.tag,
          `${what}, query ${n}, hit ${i}: output field of the live row`,
        );
        assert.ok(Math.abs(h.score - (want[i]?.d ?? Number.NaN)) < 1e-4, `${what}: score`);
      });
    }
  };

  it("one growing segment, no repeated keys: equals brute force", async () => {
    await insert(Array.from({ length: 300 }, (_, i) => BigInt(i)));
    await check(
      "distinct keys",
      [0, 1, 2].map(() => Float32Array.from({ length: DIM }, () => r() * 2 - 1)),
    );
  });

  it("keys inserted again without a delete (same segment): one hit per key, the newer row's fields", async () => {
    // Same vectors again (new tags): both versions score alike, so both reach the results and the
    // shortcut must hand them to the merge, which keeps the row written last.
    const old = [...live.entries()].slice(0, 20);
    await insert(
      old.map(([k]) => k),
      true,
    );
    await check(
      "repeated keys",
      old.slice(0, 5).map(([, row]) => row.v),
      new Set(old.map(([k]) => k)),
    );
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StrataError } from "../../src/common/errors.ts";
import type { DataNode } from "../../src/datanode/index.ts";
import { SegmentState } from "../../src/dataservice/types.ts";
import { rng } from "../helpers/env.ts";
import { assertDeleteCheckpointsSafe, assertDeletesExactlyOnce } from "./delete-oracle.ts";
import {
  assertCheckpointsSafe,
  assertRowsExactlyOnce,
  readDeltas,
  readStats,
  SMALL_SCHEMA,
  waitUntil,
} from "./harness.ts";
import { COLL, P1, P2, type World, world } from "./world.ts";

const range = (from: number, n: number, step = 1): bigint[] =>
  Array.from({ length: n }, (_, i) => BigInt(from + i * step));

/** The segment's committed files other than delta logs, and its row count: final once flushed. */
function frozen(w: World, id: bigint): unknown {
  const s = w.ds.seg(id);
  return structuredClone({ state: s.state, rows: s.persistedRows, binlogs: s.binlogs, stats: s.statslogs });
}

describe("data node: deletes after a flush", () => {
  it("land in the flushed segment's delta log by a delta-only save, only where partition and PK filter allow", async () => {
    const w = await world(41, SMALL_SCHEMA, [
      [100n, P1],
      [101n, P1],
      [102n, P2],
    ]);
    try {
      const node = await w.node();
      const evens = range(0, 400, 2);
      await w.feeder.insert(100n, P1, 400, evens);
      await w.feeder.insert(101n, P1, 400, range(1, 400, 2));
      await w.feeder.insert(102n, P2, 50, range(10_000, 50));
      const early = await w.feeder.delete([0n]); // before the flush: goes in with the flush sync
      await w.flushAll(node, [100n, 101n, 102n]);
      const before = new Map([100n, 101n, 102n].map((id) => [id, frozen(w, id)]));
      const flushSaves = w.ds.saves.length;
      assert.deepEqual(await readDeltas(w.objects, w.ds.seg(100n)), [{ pk: 0n, ts: early.ts }]);

      const odd = await w.feeder.delete([1n, 3n]);
      const even = await w.feeder.delete([...evens.slice(1), 999_999n]);
      const wrongPart = await w.feeder.delete([10_000n], P1); // 102 holds it, but in P2
      const inP2 = await w.feeder.delete([10_001n], P2);
      const anyPart = await w.feeder.delete([10_002n]);
      const tick = await w.feeder.tick();
      await w.ticks.waitSeq(w.channel, tick);

      for (const [id, f] of before)
        assert.deepEqual(frozen(w, id), f, `segment ${id}: rows and state untouched`);
      const a = await readDeltas(w.objects, w.ds.seg(100n));
      assert.deepEqual(a.slice(0, 1), [{ pk: 0n, ts: early.ts }], "the pre-flush delete is not repeated");
      assert.deepEqual(
        a.filter((x) => x.ts === even.ts).map((x) => x.pk),
        evens.slice(1),
        "every later delete of a flushed row reaches its segment",
      );
      const c = await readDeltas(w.objects, w.ds.seg(102n));
      assert.deepEqual(c, [
        { pk: 10_001n, ts: inP2.ts },
        { pk: 10_002n, ts: anyPart.ts },
      ]);
      assert.ok(!c.some((x) => x.ts === wrongPart.ts), "a delete scoped to P1 reaches no P2 segment");
      const b = await readDeltas(w.objects, w.ds.seg(101n));
      assert.deepEqual(
        b.filter((x) => x.ts === odd.ts),
        [
          { pk: 1n, ts: odd.ts },
          { pk: 3n, ts: odd.ts },
        ],
      );
      // the evens in 101's delta log are bloom false positives, about 1% of them
      const [stats101] = await readStats(w.objects, w.ds.seg(101n));
      const falsePositives = b.filter((x) => x.ts === even.ts);
      for (const x of falsePositives) assert.ok(stats101?.mayContain(x.pk));
      assert.ok(falsePositives.length <= 0.04 * evens.length, `${falsePositives.length} false positives`);

      // One delta-only save per segment at that tick. Each one's checkpoint stops before the first
      // delete still buffered for a segment synced after it in the tick, so a crash between the
      // saves cannot lose those deletes; the last one commits the tick.
      const saves = w.ds.saves.slice(flushSaves).map((s) => s.req);
      assert.deepEqual(
        saves.map((s) => s.segmentId),
        [100n, 101n, 102n],
      );
      const seqOfTs = new Map(w.feeder.deletes.map((d) => [d.ts, d.seq]));
      const firstSeq = new Map<bigint, number>();
      for (const s of saves) {
        const recs = await readDeltas(w.objects, { ...w.ds.seg(s.segmentId), deltalogs: s.deltalogs });
        firstSeq.set(s.segmentId, Math.min(...recs.map((r) => seqOfTs.get(r.ts) as number)));
      }
      for (const [i, s] of saves.entries()) {
        assert.equal(s.fieldBinlogs.length + s.statslogs.length, 0, "delta only");
        assert.equal(s.deltalogs.length, 1);
        assert.equal(s.flushed, false);
        assert.equal(s.persistedSeq, tick);
        assert.equal(s.persistedRows, w.ds.seg(s.segmentId).persistedRows);
        const later = saves.slice(i + 1).map((x) => (firstSeq.get(x.segmentId) as number) - 1);
        assert.equal(s.checkpoint.seq, Math.min(tick, ...later), `save of ${s.segmentId}: checkpoint`);
      }
      assert.equal(w.ds.channels.get(w.channel)?.checkpoint.seq, tick);

      // Ticks without deletes write nothing.
      await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      assert.equal(w.ds.saves.length, flushSaves + 3);
      await assertDeletesExactlyOnce(w.feeder, w.ds, w.objects);
      assertDeleteCheckpointsSafe(w.ds, w.feeder);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
      assert.deepEqual(w.ds.violations, []);
    } finally {
      await w.close();
    }
  });

  it("a restart with deletes of flushed segments buffered but unsynced persists every delete exactly once", async () => {
    const w = await world(42, SMALL_SCHEMA, [
      [100n, P1],
      [101n, P1],
      [102n, P1],
    ]);
    try {
      const n1 = await w.node({ retryAttempts: 1000, retryBaseMs: 20 });
      await w.feeder.insert(100n, P1, 200, range(0, 200));
      await w.feeder.insert(101n, P1, 200, range(200, 200));
      await w.flushAll(n1, [100n, 101n]);
      // an open segment whose buffered rows keep the checkpoint behind everything below
      const open = await w.feeder.insert(102n, P1, 20, range(1000, 20));
      const d1 = await w.feeder.delete([...range(1, 10), 205n]);
      const t1 = await w.feeder.tick();
      await w.ticks.waitSeq(w.channel, t1);
      assert.equal(w.ds.seg(100n).persistedSeq, t1);
      assert.equal(w.ds.seg(101n).persistedSeq, t1);
      assert.ok((w.ds.channels.get(w.channel)?.checkpoint.seq ?? 0) < open, "checkpoint held back");

      // segment 101's next delta-only save keeps failing (retriably) until the node stops
      let attempts = 0;
      w.ds.failSave = (req) => {
        if (req.segmentId !== 101n || req.fieldBinlogs.length > 0) return undefined;
        attempts++;
        return new StrataError("ServiceUnavailable", "down");
      };
      const d2 = await w.feeder.delete([...range(11, 10), ...range(210, 6), 1005n]);
      await w.feeder.tick();
      await waitUntil(() => attempts >= 2, "retries of segment 101's save");
      assert.ok(
        !(await readDeltas(w.objects, w.ds.seg(101n))).some((x) => x.ts === d2.ts),
        "101 has not persisted the second batch",
      );
      await n1.close();
      w.ds.failSave = undefined;

      // The new node knows the flushed rows only through their stats logs, and replays d1 and d2.
      const n2 = await w.node();
      const d3 = await w.feeder.delete([...range(21, 10), 220n, 1010n, 5000n]);
      await w.flushAll(n2, [102n]);

      for (const [id, rows] of [
        [100n, 200],
        [101n, 200],
        [102n, 20],
      ] as const) {
        assert.equal(w.ds.seg(id).state, SegmentState.FLUSHED);
        assert.equal(w.ds.seg(id).persistedRows, rows);
      }
      const { expected } = await assertDeletesExactlyOnce(w.feeder, w.ds, w.objects);
      assert.equal(expected, 11 + 17 + 12, "every delete of a produced row was checked");
      for (const d of [d1, d2, d3]) assert.ok(w.feeder.deletes.includes(d));
      assertDeleteCheckpointsSafe(w.ds, w.feeder);
      assertCheckpointsSafe(w.ds, w.feeder);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
      assert.deepEqual(w.ds.violations, []);
    } finally {
      await w.close();
    }
  });

  for (const seed of [51, 52]) {
    it(`random inserts, flushes, deletes and restarts: every delete persisted exactly once (seed ${seed})`, async () => {
      const segs: [bigint, bigint][] = [
        [100n, P1],
        [101n, P1],
        [102n, P2],
        [103n, P2],
        [104n, P1],
        [105n, P2],
      ];
      const w = await world(seed, SMALL_SCHEMA, segs);
      const opts = { insertBufBytes: 3000 };
      const r = rng(seed * 13);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
      const flushAsked = new Set<bigint>();
      const unflushed = (): bigint[] =>
        segs.map(([s]) => s).filter((s) => w.ds.seg(s).state !== SegmentState.FLUSHED);
      const askFlush = async (node: DataNode, ids: bigint[]): Promise<void> => {
        for (const id of ids) flushAsked.add(id);
        if (ids.length > 0) await node.flush({ dbId: 1n, collectionId: COLL, segmentIds: ids });
      };
      try {
        let node = await w.node(opts);
        let restarts = 0;
        const deleteSome = async (): Promise<void> => {
          const known = [...w.feeder.rows.values()];
          if (known.length === 0) return;
          const pks = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(known).pk);
          const scope = r() < 0.2 ? pick([P1, P2]) : -1n;
          await w.feeder.delete([...new Set(pks)], scope);
        };
        for (let i = 0; i < 260; i++) {
          const x = r();
          const open = segs.filter(([s]) => !flushAsked.has(s));
          if (x < 0.4 && open.length > 0) {
            const [s, p] = pick(open);
            await w.feeder.insert(s, p, 1 + Math.floor(r() * 10));
          } else if (x < 0.72) await deleteSome();
          else if (x < 0.93) await w.feeder.tick();
          else if (x < 0.97 && open.length > 1) await askFlush(node, [pick(open)[0]]);
          else {
            // stop mid-stream (whatever is buffered, synced or in flight) and start a new node,
            // which the dataservice would ask again to flush what is still pending
            await node.close();
            node = await w.node(opts);
            restarts++;
            await askFlush(
              node,
              [...flushAsked].filter((s) => unflushed().includes(s)),
            );
          }
        }
        await askFlush(node, unflushed());
        await w.ticks.waitSeq(w.channel, await w.feeder.tick());
        assert.deepEqual(unflushed(), [], "every segment flushed");
        // deletes of flushed rows only, then one more restart replaying from the checkpoint
        for (let i = 0; i < 20; i++) await deleteSome();
        await w.ticks.waitSeq(w.channel, await w.feeder.tick());
        for (let i = 0; i < 10; i++) await deleteSome();
        await node.close();
        node = await w.node(opts);
        await w.ticks.waitSeq(w.channel, await w.feeder.tick());
        assert.ok(restarts >= 1, "the seed restarts the node at least once mid-stream");
        const { expected } = await assertDeletesExactlyOnce(w.feeder, w.ds, w.objects);
        assert.ok(expected > 50, `only ${expected} deletes checked`);
        const deltaOnly = w.ds.saves.filter(
          (s) => s.req.fieldBinlogs.length === 0 && s.req.deltalogs.length > 0 && !s.req.flushed,
        );
        assert.ok(deltaOnly.length > 0, "some deletes reached flushed segments");
        assertDeleteCheckpointsSafe(w.ds, w.feeder);
        assertCheckpointsSafe(w.ds, w.feeder);
        await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
        assert.deepEqual(w.ds.violations, []);
      } catch (e) {
        console.log(`delete-after-flush random test failed with seed ${seed}`);
        throw e;
      } finally {
        await w.close();
      }
    });
  }
});

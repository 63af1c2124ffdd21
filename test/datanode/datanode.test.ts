import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isStrataError, StrataError } from "../../src/common/errors.ts";
import { decodeJsonBytes } from "../../src/common/json.ts";
import { silentLogger } from "../../src/common/log.ts";
import { encodeMsg, MsgType } from "../../src/common/msg/index.ts";
import { physicalOf } from "../../src/common/timestamp.ts";
import { createDataNode } from "../../src/datanode/index.ts";
import { SegmentState } from "../../src/dataservice/types.ts";
import { rng } from "../helpers/env.ts";
import {
  ALL_TYPES_SCHEMA,
  assertCheckpointsSafe,
  assertRowsExactlyOnce,
  readDeltas,
  readStats,
  SMALL_SCHEMA,
  VARCHAR_PK_SCHEMA,
  waitUntil,
} from "./harness.ts";
import { COLL, P1, P2, world } from "./world.ts";

describe("data node: insert path", () => {
  it("rows synced on flush equal the produced rows exactly (every type, bit-exact)", async () => {
    const w = await world(1, ALL_TYPES_SCHEMA, [[100n, P1]]);
    try {
      const node = await w.node();
      for (let i = 0; i < 6; i++) {
        await w.feeder.insert(100n, P1, 1 + i * 7);
        if (i % 2 === 1) await w.feeder.tick();
      }
      await w.feeder.insert(100n, P1, 0); // an empty batch is harmless
      await w.flushAll(node, [100n]);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
      const info = w.ds.seg(100n);
      assert.equal(info.persistedRows, 1 + 8 + 15 + 22 + 29 + 36);
      // one sync: one file per field, one stats log covering exactly the PKs
      assert.equal(w.ds.saves.length, 1);
      assert.ok(info.binlogs.every((f) => f.binlogs.length === 1));
      const [stats] = await readStats(w.objects, info);
      assert.ok(stats !== undefined);
      assert.equal(stats.rows, info.persistedRows);
      assert.equal(stats.min, 1n);
      assert.equal(stats.max, BigInt(info.persistedRows));
      for (const row of w.feeder.rows.values()) assert.ok(stats.mayContain(row.pk));
      assert.equal(info.deltalogs.length, 0, "no delta log without deletes");
      assertCheckpointsSafe(w.ds, w.feeder);
      // the checkpoint of a flush with nothing else buffered is the tick itself
      const last = w.ds.saves.at(-1)?.req;
      assert.equal(last?.checkpoint.seq, last?.persistedSeq);
      assert.equal(last?.flushed, true);
    } finally {
      await w.close();
    }
  });

  it("several segments and partitions on one channel each get exactly their rows", async () => {
    const segs: [bigint, bigint][] = [
      [100n, P1],
      [101n, P1],
      [102n, P2],
    ];
    const w = await world(2, SMALL_SCHEMA, segs);
    try {
      const node = await w.node();
      const r = rng(22);
      for (let i = 0; i < 30; i++) {
        const [seg, part] = segs[Math.floor(r() * segs.length)] as [bigint, bigint];
        await w.feeder.insert(seg, part, 1 + Math.floor(r() * 20));
        if (r() < 0.3) await w.feeder.tick();
      }
      await w.flushAll(node, [100n, 101n, 102n]);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
      for (const [seg, part] of segs) {
        const info = w.ds.seg(seg);
        assert.equal(info.partitionId, part);
        for (const f of info.binlogs)
          for (const b of f.binlogs)
            assert.ok(b.path.startsWith(`insert_log/${COLL}/${part}/${seg}/${f.fieldId}/`));
      }
      assertCheckpointsSafe(w.ds, w.feeder);
    } finally {
      await w.close();
    }
  });

  it("syncs a segment when its buffer passes insertBufBytes, without a flush", async () => {
    const w = await world(3, SMALL_SCHEMA, [
      [100n, P1],
      [101n, P1],
    ]);
    try {
      const node = await w.node({ insertBufBytes: 4096 });
      // segment 100 grows past 4 KiB; segment 101 stays small and must not be synced
      await w.feeder.insert(101n, P1, 3);
      for (let i = 0; i < 12; i++) {
        await w.feeder.insert(100n, P1, 30);
        const seq = await w.feeder.tick();
        await w.ticks.waitSeq(w.channel, seq);
      }
      const saves = w.ds.saves.map((s) => s.req);
      assert.ok(saves.length >= 2, `only ${saves.length} size-triggered syncs`);
      assert.ok(saves.every((s) => s.segmentId === 100n && !s.flushed));
      assert.equal(w.ds.seg(101n).persistedRows, 0, "a small buffer is not synced");
      for (const s of saves) {
        // synced at a tick, and the checkpoint stays before segment 101's buffered insert (seq 1)
        assert.ok(w.feeder.ticks.some((t) => t.seq === s.persistedSeq));
        assert.equal(s.checkpoint.seq, 0);
      }
      await w.flushAll(node, [100n, 101n]);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
      // one binlog per sync that had rows
      const withRows = w.ds.saves.filter((s) => s.req.segmentId === 100n && s.req.fieldBinlogs.length > 0);
      assert.equal(w.ds.seg(100n).binlogs[0]?.binlogs.length, withRows.length);
      assertCheckpointsSafe(w.ds, w.feeder);
    } finally {
      await w.close();
    }
  });

  it("syncs a segment at the first tick at least syncPeriodMs (tick time) after its first buffered row", async () => {
    const w = await world(4, SMALL_SCHEMA, [[100n, P1]]);
    try {
      await w.node({ syncPeriodMs: 1000 });
      await w.feeder.insert(100n, P1, 5);
      const first = await w.feeder.tick(300); // buffered at this tick's time
      const firstMs = physicalOf(w.feeder.ticks[0]?.ts ?? 0n);
      const ticks: number[] = [];
      for (let i = 0; i < 5; i++) ticks.push(await w.feeder.tick(300));
      await w.ticks.waitSeq(w.channel, ticks.at(-1) as number);
      assert.equal(w.ds.saves.length, 1, "exactly one age-triggered sync");
      const save = w.ds.saves[0]?.req;
      const at = w.feeder.ticks.find((t) => t.seq === save?.persistedSeq);
      assert.ok(at !== undefined && first < at.seq);
      const ageAtSync = physicalOf(at.ts) - firstMs;
      assert.ok(ageAtSync >= 1000 && ageAtSync < 1300, `synced at age ${ageAtSync} ms`);
      assert.equal(save?.flushed, false);
      assert.equal(w.ds.seg(100n).persistedRows, 5);
    } finally {
      await w.close();
    }
  });
});

describe("data node: deletes", () => {
  it("routes buffered deletes to the segments holding the PK (partition-scoped or not)", async () => {
    const w = await world(5, SMALL_SCHEMA, [
      [100n, P1],
      [101n, P2],
    ]);
    try {
      const node = await w.node();
      await w.feeder.insert(
        100n,
        P1,
        20,
        Array.from({ length: 20 }, (_, i) => BigInt(2 * i)),
      ); // even PKs
      await w.feeder.insert(
        101n,
        P2,
        20,
        Array.from({ length: 20 }, (_, i) => BigInt(2 * i + 1)),
      ); // odd PKs
      const d1 = await w.feeder.delete([0n, 2n, 3n, 999n]); // any partition
      const d2 = await w.feeder.delete([4n, 5n], P2); // only P2: 4 lives in P1, untouched
      await w.feeder.tick();
      // a delete in the same pack before the insert of that PK still reaches it
      const d3 = await w.feeder.delete([1000n]);
      await w.feeder.insert(100n, P1, 1, [1000n]);
      await w.flushAll(node, [100n, 101n]);
      const a = await readDeltas(w.objects, w.ds.seg(100n));
      const b = await readDeltas(w.objects, w.ds.seg(101n));
      assert.deepEqual(a, [
        { pk: 0n, ts: d1.ts },
        { pk: 2n, ts: d1.ts },
        { pk: 1000n, ts: d3.ts },
      ]);
      assert.deepEqual(b, [
        { pk: 3n, ts: d1.ts },
        { pk: 5n, ts: d2.ts },
      ]);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
    } finally {
      await w.close();
    }
  });

  it("routes deletes of persisted rows through the stats logs loaded at start (bloom excludes the others)", async () => {
    const w = await world(6, SMALL_SCHEMA, [
      [100n, P1],
      [101n, P1],
    ]);
    try {
      const n1 = await w.node({ insertBufBytes: 1 }); // every buffer syncs at its tick
      const n = 400;
      await w.feeder.insert(
        100n,
        P1,
        n,
        Array.from({ length: n }, (_, i) => BigInt(2 * i)),
      );
      await w.feeder.insert(
        101n,
        P1,
        n,
        Array.from({ length: n }, (_, i) => BigInt(2 * i + 1)),
      );
      await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      assert.equal(w.ds.seg(100n).persistedRows, n);
      assert.equal(w.ds.seg(101n).persistedRows, n);
      await n1.close();
      // a new node knows these rows only through the stats logs
      const n2 = await w.node();
      const evens = Array.from({ length: n }, (_, i) => BigInt(2 * i));
      const del = await w.feeder.delete(evens);
      await w.flushAll(n2, [100n, 101n]);
      const a = await readDeltas(w.objects, w.ds.seg(100n));
      assert.deepEqual(
        a.map((x) => x.pk),
        evens,
        "every delete of a persisted row reaches its segment",
      );
      assert.ok(a.every((x) => x.ts === del.ts));
      const b = await readDeltas(w.objects, w.ds.seg(101n));
      // segment 101 holds only odd PKs: what it got is bloom false positives, about 1%
      const [stats101] = await readStats(w.objects, w.ds.seg(101n));
      for (const x of b)
        assert.ok(stats101?.mayContain(x.pk), `pk ${x.pk} routed to 101 though its filter excludes it`);
      assert.ok(b.length <= 0.04 * n, `${b.length} of ${n} deletes routed to the wrong segment`);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
    } finally {
      await w.close();
    }
  });

  it("VarChar primary keys: rows and deletes", async () => {
    const w = await world(7, VARCHAR_PK_SCHEMA, [
      [100n, P1],
      [101n, P1],
    ]);
    try {
      const node = await w.node();
      await w.feeder.insert(100n, P1, 5, ["a", "b", "c", "é", "😀"]);
      await w.feeder.insert(101n, P1, 3, ["x", "y", "z"]);
      const d = await w.feeder.delete(["b", "😀", "y", "nope"]);
      await w.flushAll(node, [100n, 101n]);
      assert.deepEqual(await readDeltas(w.objects, w.ds.seg(100n)), [
        { pk: "b", ts: d.ts },
        { pk: "😀", ts: d.ts },
      ]);
      assert.deepEqual(await readDeltas(w.objects, w.ds.seg(101n)), [{ pk: "y", ts: d.ts }]);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
    } finally {
      await w.close();
    }
  });
});

describe("data node: exactly once", () => {
  for (const seed of [31, 32]) {
    it(`a node stopped mid-stream is replaced without loss or duplicates (seed ${seed})`, async () => {
      const segs: [bigint, bigint][] = [
        [100n, P1],
        [101n, P1],
        [102n, P2],
        [103n, P2],
      ];
      const w = await world(seed, SMALL_SCHEMA, segs);
      try {
        const r = rng(seed * 7);
        const opts = { insertBufBytes: 3000 };
        const run = async (steps: number): Promise<void> => {
          for (let i = 0; i < steps; i++) {
            const [seg, part] = segs[Math.floor(r() * segs.length)] as [bigint, bigint];
            const x = r();
            if (x < 0.65) await w.feeder.insert(seg, part, 1 + Math.floor(r() * 12));
            else if (x < 0.8) {
              const known = [...w.feeder.rows.values()];
              const pick = known[Math.floor(r() * known.length)];
              if (pick !== undefined) await w.feeder.delete([pick.pk]);
            } else await w.feeder.tick();
          }
        };
        const n1 = await w.node(opts);
        await run(120);
        await w.ticks.waitSeq(w.channel, await w.feeder.tick());
        await run(15); // and some rows after the last tick the first node saw
        assert.ok(w.ds.saves.length > 0, "some syncs happened before the stop");
        const persisted = segs.reduce((n, [s]) => n + w.ds.seg(s).persistedRows, 0);
        assert.ok(persisted < w.feeder.rows.size, "some rows were still buffered at the stop");
        await n1.close();
        const n2 = await w.node(opts);
        await run(80);
        await w.flushAll(
          n2,
          segs.map(([s]) => s),
        );
        await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
        assertCheckpointsSafe(w.ds, w.feeder);
        // every delete of a produced PK is recorded exactly once in the segment holding it
        const expected = new Map<bigint, string[]>();
        for (const d of w.feeder.deletes) {
          for (const pk of d.pks) {
            const row = [...w.feeder.rows.values()].find((x) => x.pk === pk);
            if (row === undefined) continue;
            const k = expected.get(row.segmentId) ?? [];
            k.push(`${pk}@${d.ts}`);
            expected.set(row.segmentId, k);
          }
        }
        for (const [seg] of segs) {
          const got = (await readDeltas(w.objects, w.ds.seg(seg))).map((x) => `${x.pk}@${x.ts}`);
          const [mine] = [expected.get(seg) ?? []];
          const stats = await readStats(w.objects, w.ds.seg(seg));
          for (const k of mine)
            assert.equal(got.filter((g) => g === k).length, 1, `segment ${seg}: delete ${k}`);
          // anything else is a bloom false positive of a PK that lives elsewhere
          for (const g of got.filter((x) => !mine.includes(x))) {
            const pk = BigInt(g.split("@")[0] as string);
            assert.ok(
              stats.some((s) => s.mayContain(pk)),
              `segment ${seg}: stray delete ${g}`,
            );
          }
        }
      } finally {
        await w.close();
      }
    });
  }

  it("a sync that fails for good stops the channel; watching it again persists every row once", async () => {
    const w = await world(8, SMALL_SCHEMA, [
      [100n, P1],
      [101n, P1],
    ]);
    try {
      const node = await w.node({ insertBufBytes: 1, retryAttempts: 3 });
      await w.feeder.insert(100n, P1, 5);
      await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      assert.equal(w.ds.saves.length, 1);
      // transient failures are retried
      let transient = 2;
      w.ds.failSave = () =>
        transient-- > 0 ? new StrataError("ServiceUnavailable", "try again") : undefined;
      await w.feeder.insert(100n, P1, 4);
      await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      assert.equal(w.ds.saves.length, 2);
      assert.deepEqual(node.watchedChannels(), [w.channel]);
      // a permanent failure stops the channel, files written so far stay unregistered
      w.ds.failSave = () => new StrataError("ParameterInvalid", "refused on purpose");
      await w.feeder.insert(101n, P1, 6);
      await w.feeder.insert(100n, P1, 2);
      await w.feeder.tick();
      await waitUntil(() => node.watchedChannels().length === 0, "channel stopped");
      assert.equal(w.ds.saves.length, 2);
      w.ds.failSave = undefined;
      await w.feeder.insert(101n, P1, 3);
      await node.watchDmChannels([w.channel]);
      await w.flushAll(node, [100n, 101n]);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
      assertCheckpointsSafe(w.ds, w.feeder);
    } finally {
      await w.close();
    }
  });
});

describe("data node: flush, DDL, reports, lifecycle", () => {
  it("a flush of segments with no buffered rows completes with no new files", async () => {
    const w = await world(9, SMALL_SCHEMA, [
      [100n, P1],
      [101n, P1],
    ]);
    try {
      const node = await w.node({ insertBufBytes: 1 });
      await w.feeder.insert(100n, P1, 4);
      await w.ticks.waitSeq(w.channel, await w.feeder.tick()); // synced, nothing buffered now
      const before = w.ds.saves.length;
      // 100 has persisted rows only; 101 never had a row and the node never heard of it
      await w.flushAll(node, [100n, 101n]);
      const flushes = w.ds.saves.slice(before).map((s) => s.req);
      assert.deepEqual(flushes.map((s) => s.segmentId).sort(), [100n, 101n]);
      for (const f of flushes) {
        assert.equal(f.flushed, true);
        assert.equal(f.fieldBinlogs.length + f.statslogs.length + f.deltalogs.length, 0);
      }
      assert.equal(w.ds.seg(100n).persistedRows, 4);
      assert.equal(w.ds.seg(101n).persistedRows, 0);
      // idempotent: flushing again (and unknown segments) changes nothing
      await node.flush({ dbId: 1n, collectionId: COLL, segmentIds: [100n, 101n, 999n] });
      await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      assert.equal(w.ds.saves.length, before + 2);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
    } finally {
      await w.close();
    }
  });

  it("a flush waits for the tick that passes the segment's last assignment expiry", async () => {
    const w = await world(13, SMALL_SCHEMA, [[100n, P1]]);
    try {
      const node = await w.node();
      await w.feeder.insert(100n, P1, 3);
      await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      // an assignment still valid for 1 s of tick time: rows may still come
      const expiry = (w.feeder.ticks.at(-1)?.ts ?? 0n) + (1000n << 18n);
      w.ds.seg(100n).lastExpireTime = expiry;
      w.feeder.onInsert = undefined;
      await node.flush({ dbId: 1n, collectionId: COLL, segmentIds: [100n] });
      await w.ticks.waitSeq(w.channel, await w.feeder.tick(300));
      await w.feeder.insert(100n, P1, 4);
      await w.ticks.waitSeq(w.channel, await w.feeder.tick(300));
      assert.equal(w.ds.saves.length, 0, "flushed before the expiry");
      await w.feeder.insert(100n, P1, 5);
      await w.feeder.tick(600); // still below the expiry
      const last = await w.feeder.tick(0);
      await w.ticks.waitSeq(w.channel, last);
      const saves = w.ds.saves.map((x) => x.req);
      assert.equal(saves.length, 1);
      const at = w.feeder.ticks.find((t) => t.seq === saves[0]?.persistedSeq);
      assert.ok(at !== undefined && at.ts >= expiry, "flushed at the first tick past the expiry");
      assert.equal(w.ds.seg(100n).state, SegmentState.FLUSHED);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
    } finally {
      await w.close();
    }
  });

  it("close during a sync that keeps failing returns promptly and commits nothing", async () => {
    const w = await world(14, SMALL_SCHEMA, [[100n, P1]]);
    try {
      const node = await w.node({ insertBufBytes: 1, retryAttempts: 1000, retryBaseMs: 20 });
      let attempts = 0;
      w.ds.failSave = () => {
        attempts++;
        return new StrataError("ServiceUnavailable", "down");
      };
      await w.feeder.insert(100n, P1, 3);
      await w.feeder.tick();
      await waitUntil(() => attempts >= 2, "retries");
      const t0 = Date.now();
      await node.close();
      assert.ok(Date.now() - t0 < 2000, `close took ${Date.now() - t0} ms`);
      const after = attempts;
      await sleep(200);
      assert.equal(attempts, after, "no retry after close");
      assert.equal(w.ds.saves.length, 0);
      assert.equal(w.ds.channels.get(w.channel)?.checkpoint.seq, 0);
    } finally {
      await w.close();
    }
  });

  it("publishes a tick report after every tick with the row count of every segment", async () => {
    const w = await world(10, SMALL_SCHEMA, [
      [100n, P1],
      [101n, P2],
    ]);
    try {
      const node = await w.node({ insertBufBytes: 2000 });
      const r = rng(10);
      for (let i = 0; i < 25; i++) {
        const seg = r() < 0.5 ? 100n : 101n;
        await w.feeder.insert(seg, seg === 100n ? P1 : P2, 1 + Math.floor(r() * 9));
        if (i % 3 === 2) await w.feeder.tick();
      }
      const last = await w.feeder.tick();
      await w.ticks.waitSeq(w.channel, last);
      const mine = w.ticks.reports.filter((x) => x.channel === w.channel);
      assert.deepEqual(
        mine.map((x) => x.seq),
        w.feeder.ticks.map((t) => t.seq),
        "one report per tick, in order",
      );
      for (const rep of mine) {
        const tick = w.feeder.ticks.find((t) => t.seq === rep.seq);
        assert.equal(rep.timestamp, tick?.ts);
        assert.equal(rep.nodeId, 1);
        assert.equal(rep.collectionId, COLL);
        const want = new Map<bigint, number>();
        for (const ins of w.feeder.inserts) {
          if (ins.seq < rep.seq) want.set(ins.segmentId, (want.get(ins.segmentId) ?? 0) + ins.rows);
        }
        assert.deepEqual(
          new Map(rep.segments.map((s) => [s.segmentId, s.numRows])),
          want,
          `report at seq ${rep.seq}`,
        );
      }
      // statistics go to the stats channel
      const c = await w.mq.consume(w.ds.statsChannel, { kind: "earliest" });
      const stats = await c.next(1000);
      await c.close();
      assert.ok(stats.length > 0);
      const first = decodeJsonBytes<{ nodeId: number; segments: { segmentId: bigint; numRows: number }[] }>(
        (stats[0] as { payload: Uint8Array }).payload,
      );
      assert.equal(first.nodeId, 1);
      void node;
    } finally {
      await w.close();
    }
  });

  it("a DDL DropCollection releases the channel; DropPartition discards that partition's rows", async () => {
    const w = await world(11, SMALL_SCHEMA, [
      [100n, P1],
      [101n, P2],
    ]);
    try {
      const dd = `${w.channel}_dd`;
      const node = await w.node({ ddChannel: dd });
      await w.feeder.insert(100n, P1, 5);
      await w.feeder.insert(101n, P2, 5);
      await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      await w.mq.produce(dd, [
        encodeMsg({
          type: MsgType.DropPartition,
          timestamp: 5n,
          collectionId: COLL,
          partitionId: P2,
          body: "{}",
        }),
      ]);
      // the drop takes effect at a pack boundary: from then on segment 101 is gone from the reports
      let gone = false;
      for (let i = 0; i < 100 && !gone; i++) {
        const rep = await w.ticks.waitSeq(w.channel, await w.feeder.tick());
        gone = !rep.segments.some((x) => x.segmentId === 101n);
      }
      assert.ok(gone, "DropPartition never took effect");
      await w.feeder.insert(101n, P2, 5); // ignored: partition dropped
      await w.feeder.insert(100n, P1, 2);
      await w.flushAll(node, [100n]);
      await node.flush({ dbId: 1n, collectionId: COLL, segmentIds: [101n] }); // dropped here: ignored
      const rep = await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      assert.ok(!rep.segments.some((x) => x.segmentId === 101n));
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects, { exclude: (row) => row.partitionId === P2 });
      assert.ok(
        w.ds.saves.every((x) => x.req.segmentId !== 101n),
        "nothing of the dropped partition is saved",
      );
      // another collection's drop changes nothing
      await w.mq.produce(dd, [
        encodeMsg({
          type: MsgType.DropCollection,
          timestamp: 6n,
          collectionId: 77n,
          partitionId: -1n,
          body: "{}",
        }),
      ]);
      await sleep(50);
      assert.deepEqual(node.watchedChannels(), [w.channel]);
      await w.mq.produce(dd, [
        encodeMsg({
          type: MsgType.DropCollection,
          timestamp: 7n,
          collectionId: COLL,
          partitionId: -1n,
          body: "{}",
        }),
      ]);
      await waitUntil(() => node.watchedChannels().length === 0, "channel released by the drop");
    } finally {
      await w.close();
    }
  });

  it("watch/release/close contract: unknown channel, idempotence, Closed after close", async () => {
    const w = await world(12, SMALL_SCHEMA, [[100n, P1]]);
    try {
      const node = await w.node();
      await node.watchDmChannels([w.channel, w.channel]); // idempotent
      assert.deepEqual(node.watchedChannels(), [w.channel]);
      await assert.rejects(node.watchDmChannels(["nope"]), (e: unknown) =>
        isStrataError(e, "ChannelNotFound"),
      );
      await assert.rejects(node.watchDmChannels([42 as unknown as string]), (e: unknown) =>
        isStrataError(e, "ParameterInvalid"),
      );
      await assert.rejects(
        node.flush({ dbId: 1n, collectionId: COLL, segmentIds: [1 as unknown as bigint] }),
        (e: unknown) => isStrataError(e, "ParameterInvalid"),
      );
      // released rows are not persisted; a later watcher replays them
      await w.feeder.insert(100n, P1, 3);
      await w.ticks.waitSeq(w.channel, await w.feeder.tick());
      await node.releaseDmChannels([w.channel]);
      await node.releaseDmChannels([w.channel, "never-watched"]);
      assert.deepEqual(node.watchedChannels(), []);
      assert.equal(w.ds.saves.length, 0);
      await node.watchDmChannels([w.channel]);
      await w.flushAll(node, [100n]);
      await assertRowsExactlyOnce(w.feeder, w.ds, w.objects);
      await node.close();
      await node.close();
      assert.deepEqual(node.watchedChannels(), []);
      await assert.rejects(node.watchDmChannels([w.channel]), (e: unknown) => isStrataError(e, "Closed"));
      await assert.rejects(node.flush({ dbId: 1n, collectionId: COLL, segmentIds: [] }), (e: unknown) =>
        isStrataError(e, "Closed"),
      );
      assert.throws(() =>
        createDataNode(
          {
            nodeId: 1,
            mq: w.mq,
            objects: w.objects,
            dataservice: w.ds,
            rootcoord: w.rc,
            logger: silentLogger(),
          },
          { insertBufBytes: 0 },
        ),
      );
      assert.equal(w.ds.registered.length, 1);
    } finally {
      await w.close();
    }
  });
});

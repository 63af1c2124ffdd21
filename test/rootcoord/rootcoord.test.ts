import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Strata } from "../../src/api/embedded.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { decodeMsg, MsgType } from "../../src/common/msg/index.ts";
import type { MessageQueue } from "../../src/mq/types.ts";
import { TimeTickMerger } from "../../src/rootcoord/timetick.ts";
import { tempDir } from "../helpers/env.ts";
import { readToEnd } from "../helpers/mq.ts";

const schema = (name: string) => ({
  name,
  fields: [
    { name: "id", dataType: "Int64" as const, isPrimaryKey: true },
    { name: "v", dataType: "FloatVector" as const, dim: 4 },
  ],
});

async function drain(mq: MessageQueue, channel: string) {
  return (await readToEnd(mq, channel)).map((m) => ({ seq: m.seq, msg: decodeMsg(m.payload) }));
}

describe("rootcoord catalogue", () => {
  it("creates, describes, lists and drops collections and partitions, persisted across restart", async () => {
    const t = await tempDir();
    try {
      let db = await Strata.open(t.dir);
      const a = await db.createCollection({ schema: schema("a") });
      assert.equal(a.shardsNum, 2, "default shards");
      assert.deepEqual(a.channels, [`dml_${a.collectionId}_0`, `dml_${a.collectionId}_1`]);
      assert.deepEqual(
        a.partitions.map((p) => p.name),
        ["_default"],
      );
      const b = await db.createCollection({ schema: schema("b"), shardsNum: 3 });
      assert.equal(b.channels.length, 3);
      assert.notEqual(a.collectionId, b.collectionId);
      await assert.rejects(
        db.createCollection({ schema: schema("a") }),
        (e: unknown) => isStrataError(e, "ParameterInvalid") && /already exists/.test(e.message),
      );
      await assert.rejects(
        db.createCollection({ schema: schema("c"), shardsNum: 17 }),
        (e: unknown) => isStrataError(e, "ParameterInvalid") && /shards_num/.test(e.message),
      );
      await assert.rejects(db.createCollection({ schema: { name: "bad", fields: [] } }), (e: unknown) =>
        isStrataError(e, "CollectionIllegalSchema"),
      );
      assert.deepEqual(await db.listCollections(), ["a", "b"]);
      assert.equal(await db.hasCollection("a"), true);
      assert.equal(await db.hasCollection("zz"), false);
      const p = await db.createPartition("a", "p1");
      await assert.rejects(db.createPartition("a", "p1"), (e: unknown) =>
        isStrataError(e, "ParameterInvalid"),
      );
      await assert.rejects(db.createPartition("a", "bad-name"), (e: unknown) =>
        isStrataError(e, "ParameterInvalid"),
      );
      await assert.rejects(db.createPartition("zz", "p"), (e: unknown) =>
        isStrataError(e, "CollectionNotFound"),
      );
      assert.equal(await db.hasPartition("a", "p1"), true);
      await assert.rejects(db.dropPartition("a", "_default"), (e: unknown) =>
        isStrataError(e, "ParameterInvalid"),
      );
      await assert.rejects(db.dropPartition("a", "nope"), (e: unknown) =>
        isStrataError(e, "PartitionNotFound"),
      );
      await db.createPartition("a", "p2");
      await db.dropPartition("a", "p2");
      await db.close();

      db = await Strata.open(t.dir);
      const a2 = await db.describeCollection("a");
      assert.deepEqual(a2.schema, a.schema);
      assert.equal(a2.collectionId, a.collectionId);
      assert.deepEqual(
        (await db.listPartitions("a")).map((x) => [x.name, x.partitionId]),
        [
          ["_default", a.partitions[0]?.partitionId],
          ["p1", p.partitionId],
        ],
      );
      await db.dropCollection("b");
      await assert.rejects(
        db.describeCollection("b"),
        (e: unknown) => isStrataError(e, "CollectionNotFound") && e.milvusCode === 100,
      );
      await assert.rejects(db.dropCollection("b"), (e: unknown) => isStrataError(e, "CollectionNotFound"));
      assert.deepEqual(await db.listCollections(), ["a"]);

      const dd = await drain(db.internals.backends.mq, await db.internals.rootcoord.getDdChannel());
      assert.deepEqual(
        dd.map((m) => m.msg.type),
        [
          MsgType.CreateCollection,
          MsgType.CreateCollection,
          MsgType.CreatePartition,
          MsgType.CreatePartition,
          MsgType.DropPartition,
          MsgType.DropCollection,
        ],
        "every DDL is announced on the DD channel, in order",
      );
      await db.close();
      db = await Strata.open(t.dir);
      assert.deepEqual(await db.listCollections(), ["a"], "a drop survives restart");
      await db.close();
    } finally {
      await t.cleanup();
    }
  });

  it("writes merged time ticks into every DML channel, strictly increasing, and never above an in-flight batch", async () => {
    const t = await tempDir();
    try {
      const db = await Strata.open({ dataDir: t.dir, overrides: { rootcoord: { timeTickIntervalMs: 20 } } });
      const info = await db.createCollection({ schema: schema("tt") });
      const writes = [];
      for (let i = 0; i < 20; i++) {
        writes.push(
          db.insert("tt", {
            columns: {
              id: [i * 2, i * 2 + 1],
              v: [
                [1, 2, 3, 4],
                [4, 3, 2, 1],
              ],
            },
          }),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
      await Promise.all(writes);
      await new Promise((r) => setTimeout(r, 100));
      for (const ch of info.channels) {
        const msgs = await drain(db.internals.backends.mq, ch);
        let lastTick = 0n;
        let ticks = 0;
        for (const { msg } of msgs) {
          if (msg.type === MsgType.TimeTick) {
            assert.ok(msg.timestamp > lastTick, "ticks strictly increase");
            lastTick = msg.timestamp;
            ticks++;
          } else {
            assert.ok(
              msg.timestamp > lastTick,
              `a ${msg.type} message at ${msg.timestamp} arrived after tick ${lastTick}`,
            );
          }
        }
        assert.ok(ticks >= 3, `channel ${ch} got ${ticks} ticks`);
      }
      await db.close();
    } finally {
      await t.cleanup();
    }
  });
});

describe("time-tick merge", () => {
  it("takes the minimum over live proxies, per channel, with each proxy's default for unlisted channels", () => {
    const m = new TimeTickMerger();
    assert.equal(m.tickFor("c"), undefined);
    m.register(1, 0);
    assert.equal(m.tickFor("c"), 0n, "a registered proxy holds everything back until it reports");
    m.report({ proxyId: 1, ticks: [{ channel: "c", timestamp: 50n }], defaultTimestamp: 100n }, 0);
    m.report({ proxyId: 2, ticks: [], defaultTimestamp: 80n }, 0);
    assert.equal(m.tickFor("c"), 50n);
    assert.equal(m.tickFor("d"), 80n);
    m.report({ proxyId: 1, ticks: [], defaultTimestamp: 120n }, 10);
    assert.equal(m.tickFor("c"), 80n, "a channel no longer in flight falls back to the default");
    m.report({ proxyId: 2, ticks: [], defaultTimestamp: 70n }, 10);
    assert.equal(m.tickFor("d"), 80n, "a stale default is ignored");
    assert.deepEqual(m.expire(1000, 500), [1, 2]);
    assert.equal(m.tickFor("c"), undefined);
  });
});

/**
 * Rebalance: a query node that joins a loaded cluster is given sealed segments from the fullest
 * node; reads never find a segment missing while it moves (the distribution only ever names a
 * node that holds the segment), and the old copy is freed afterwards.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fresh, LoadedCollection } from "../../src/queryservice/collections.ts";
import { PartitionState } from "../../src/queryservice/index.ts";
import { planMoves } from "../../src/queryservice/rebalance.ts";
import type { CollectionInfo } from "../../src/rootcoord/types.ts";
import { until, World } from "./world.ts";

describe("queryservice: rebalance", () => {
  let w: World;
  let info: CollectionInfo;

  before(async () => {
    w = await World.open();
    info = await w.createCollection("rb", [], 1);
    for (let i = 0; i < 6; i++) {
      await w.insert("rb", 40 + i);
      await w.flush("rb");
    }
  });
  after(() => w.close());

  it("moves segments onto a node that joins, without a gap, then frees the old copies", async () => {
    const n1 = w.addNode(1);
    const qs = await w.startQs({ rebalanceIntervalMs: 50, rebalanceReleaseDelayMs: 200 });
    await w.register(1);
    await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [] });
    await qs.waitLoaded(info.collectionId, 10_000);
    const before = await qs.getDistribution(info.collectionId);
    assert.equal(before.sealed.length, 6);
    assert.ok(before.sealed.every((s) => s.nodeId === 1));

    // Watch every distribution while the new node joins: each names a node that holds the segment.
    let checks = 0;
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        const d = await qs.getDistribution(info.collectionId);
        assert.equal(d.sealed.length, 6, "a sealed segment vanished from the distribution");
        for (const s of d.sealed) {
          const holder = w.nodes.get(s.nodeId);
          assert.ok(
            holder?.loaded.has(s.segmentId),
            `segment ${s.segmentId} routed to node ${s.nodeId} that lacks it`,
          );
        }
        checks++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const n2 = w.addNode(2);
    await w.register(2);
    await until(
      "node 2 holds segments and node 1 freed them",
      () => n2.loaded.size > 0 && n1.loaded.size + n2.loaded.size === 6,
      15_000,
    );
    stop = true;
    await watcher;
    assert.ok(checks > 10, `the distribution was checked only ${checks} times`);
    const after = await qs.getDistribution(info.collectionId);
    const rows = (id: number) => after.sealed.filter((s) => s.nodeId === id).length;
    assert.ok(rows(2) >= 2 && rows(1) >= 2, `segments per node: ${rows(1)} / ${rows(2)}`);
    // Placement survives a restart of the service as moved.
    await qs.close();
    w.qs = undefined;
    const qs2 = await w.startQs({ rebalanceIntervalMs: 50 });
    await w.register(1, 2);
    await qs2.waitLoaded(info.collectionId, 10_000);
    const again = await qs2.getDistribution(info.collectionId);
    assert.deepEqual(
      again.sealed.map((s) => [s.segmentId, s.nodeId]),
      after.sealed.map((s) => [s.segmentId, s.nodeId]),
    );
  });

  it("plans greedy moves that narrow the gap, only for settled collections", () => {
    const coll = (state: PartitionState) => {
      const c = new LoadedCollection(7n, 0n);
      c.partitions.set(1n, { partitionId: 1n, state, caughtUp: true, everInMemory: true });
      c.channels.set("ch", { channel: "ch", ...fresh(1, 1), ready: true });
      let token = 10;
      for (const [id, rows] of [
        [100n, 100],
        [101n, 50],
        [102n, 10],
      ] as const) {
        c.segments.set(id, {
          segmentId: id,
          partitionId: 1n,
          sizeBytes: rows * 10,
          numRows: rows,
          ...fresh(1, token++),
          ready: true,
        });
      }
      return c;
    };
    // 160 rows on node 1, none on 2: the segment closest to half the gap (80) moves, then the
    // gap (60 vs 100) cannot narrow with what node 2 holds.
    assert.deepEqual(
      planMoves([coll(PartitionState.IN_MEMORY)], [1, 2], 8).map((m) => [m.segmentId, m.from, m.to, m.token]),
      [[100n, 1, 2, 10]],
    );
    assert.equal(planMoves([coll(PartitionState.IN_MEMORY)], [1, 2], 0).length, 0);
    assert.equal(
      planMoves([coll(PartitionState.IN_MEMORY)], [1], 8).length,
      0,
      "one node: nothing to balance",
    );
    assert.equal(planMoves([coll(PartitionState.PARTIAL_IN_MEMORY)], [1, 2], 8).length, 0, "still loading");
    // Three nodes: two moves even it out better than one.
    const three = planMoves([coll(PartitionState.IN_MEMORY)], [1, 2, 3], 8).map((m) => [m.segmentId, m.to]);
    assert.deepEqual(three, [
      [100n, 2],
      [101n, 3],
    ]);
  });
});

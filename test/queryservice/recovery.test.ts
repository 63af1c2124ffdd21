/**
 * Restart recovery from the meta store: a restarted query service re-places the loaded
 * collections — on the nodes it adopts, on newly registered nodes when the old ones are gone, and
 * after the whole instance restarted — on the embedded backends and on NATS + etcd + S3.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LoadSegmentRequest } from "../../src/querynode/types.ts";
import { type Distribution, NodeState, PartitionState } from "../../src/queryservice/index.ts";
import { distributedOverrides } from "../helpers/cluster.ts";
import { rejectsWith, World } from "./world.ts";

const { NOT_PRESENT, ON_DISK, PARTIAL_IN_MEMORY, IN_MEMORY } = PartitionState;
const LOADING: [number, number][] = [
  [NOT_PRESENT, ON_DISK],
  [ON_DISK, PARTIAL_IN_MEMORY],
  [PARTIAL_IN_MEMORY, IN_MEMORY],
];

const ids = (d: Distribution): bigint[] => d.sealed.map((s) => s.segmentId);

function suite(
  name: string,
  skip: string | false,
  overrides: () => Record<string, unknown> | undefined,
): void {
  describe(`queryservice: restart recovery on ${name}`, { skip }, () => {
    it("re-places a loaded collection: on adopted nodes, on new nodes, and after a whole-instance restart", async () => {
      const w = await World.open(overrides());
      try {
        const info = await w.createCollection("r", ["p1"]);
        const p0 = info.partitions.find((p) => p.name === "_default")?.partitionId ?? -1n;
        const p1 = info.partitions.find((p) => p.name === "p1")?.partitionId ?? -1n;
        await w.insert("r", 70);
        await w.insert("r", 40, "p1");
        await w.flush("r");
        w.addNode(1);
        w.addNode(2);
        let qs = await w.startQs();
        await w.register(1, 2);
        // Only p0 is loaded: the restarted service must not load p1.
        await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [p0] });
        await qs.waitLoaded(info.collectionId, 10_000);
        const before = await qs.getDistribution(info.collectionId);
        assert.equal(before.sealed.length, 2);

        // 1. The service restarts; the nodes are still there and are adopted without registering.
        await qs.close();
        for (const n of w.nodes.values()) n.calls.length = 0;
        w.events.length = 0;
        qs = await w.startQs();
        await rejectsWith(qs.getDistribution(info.collectionId), "CollectionNotLoaded");
        await qs.waitLoaded(info.collectionId, 10_000);
        assert.deepEqual(await qs.getDistribution(info.collectionId), before, "same placement as before");
        for (const n of w.nodes.values()) {
          const mine = before.sealed.filter((s) => s.nodeId === n.nodeId).map((s) => s.segmentId);
          const sent = n
            .callsOf("loadSegments")
            .flatMap((c) => [...(c.args as LoadSegmentRequest).segmentIds]);
          assert.deepEqual(sent, mine, `node ${n.nodeId} got its segments again`);
          assert.deepEqual(
            n.callsOf("watchDmChannels").flatMap((c) => c.args as string[]),
            before.channels.filter((c) => c.nodeId === n.nodeId).map((c) => c.channel),
          );
          assert.deepEqual(w.nodeTransitions(n.nodeId)[0], [null, NodeState.INITIALIZING]);
        }
        assert.deepEqual(w.partitionTransitions(info.collectionId, p0), LOADING);
        assert.deepEqual(w.partitionTransitions(info.collectionId, p1), []);
        const desc = await qs.describePartition({
          dbId: 0n,
          collectionId: info.collectionId,
          partitionIds: [p0, p1],
        });
        assert.deepEqual(
          desc.partitionDescriptions.map((p) => p.state),
          [IN_MEMORY, NOT_PRESENT],
        );

        // 2. The service restarts and the old nodes are gone: a new node gets everything.
        await qs.close();
        w.nodes.clear();
        qs = await w.startQs();
        const n3 = w.addNode(3);
        await w.register(3);
        await qs.waitLoaded(info.collectionId, 10_000);
        const moved = await qs.getDistribution(info.collectionId);
        assert.deepEqual(ids(moved), ids(before));
        assert.ok([...moved.sealed, ...moved.channels].every((x) => x.nodeId === 3));
        assert.deepEqual(
          [...n3.loaded.keys()].sort((a, b) => (a < b ? -1 : 1)),
          ids(before),
        );
        assert.deepEqual([...(await qs.describeService()).nodeDescriptions.keys()], [3]);
        const kv = w.db.internals.backends.kv;
        assert.deepEqual(
          (await kv.getPrefix("queryservice/node/")).map((e) => e.key),
          ["queryservice/node/3"],
        );

        // 3. The whole instance restarts; the load state comes back from the meta store.
        await w.reopen();
        w.nodes.clear();
        w.events.length = 0;
        w.addNode(4);
        qs = await w.startQs();
        await w.register(4);
        await qs.waitLoaded(info.collectionId, 20_000);
        const again = await qs.getDistribution(info.collectionId);
        assert.deepEqual(ids(again), ids(before));
        assert.deepEqual(again.partitionIds, [p0]);
        assert.ok([...again.sealed, ...again.channels].every((x) => x.nodeId === 4));
        assert.deepEqual(w.partitionTransitions(info.collectionId, p0), LOADING);

        // Handoff still works after the restart.
        await w.insert("r", 30);
        const fresh = await w.flush("r");
        const deadline = Date.now() + 10_000;
        for (;;) {
          const d = await qs.getDistribution(info.collectionId);
          if (fresh.every((id) => ids(d).includes(id))) break;
          if (Date.now() > deadline) assert.fail("handoff after restart did not happen");
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await w.close();
      }
    });
  });
}

suite("embedded backends", false, () => undefined);
const dist = distributedOverrides();
suite("NATS JetStream, etcd and S3", dist.skip, () => dist.overrides);

/**
 * Handoff: segments flushed after load are loaded and join the distribution only once their load
 * resolved; DROPPED segments and dropped collections are released.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SegmentState } from "../../src/dataservice/types.ts";
import type { LoadSegmentRequest, ReleaseSegmentRequest } from "../../src/querynode/types.ts";
import { PartitionState, type QueryServiceDeps } from "../../src/queryservice/index.ts";
import type { CollectionInfo } from "../../src/rootcoord/types.ts";
import { Gate } from "./recording-node.ts";
import { rejectsWith, until, World } from "./world.ts";

const { NOT_PRESENT, ON_DISK, PARTIAL_IN_MEMORY, IN_MEMORY } = PartitionState;

describe("queryservice: handoff", () => {
  let w: World;
  let info: CollectionInfo;
  let p0: bigint;
  /** Segments the wrapped dataservice reports DROPPED (compaction does not exist yet). */
  const dropped = new Set<bigint>();

  before(async () => {
    w = await World.open();
    info = await w.createCollection("h");
    p0 = info.partitions[0]?.partitionId ?? -1n;
    await w.insert("h", 100);
    await w.flush("h");
    const ds = w.ds;
    const wrapped: QueryServiceDeps["dataservice"] = {
      showSegments: async (r) => {
        const out = await ds.showSegments(r);
        return { segmentIds: out.segmentIds.filter((id) => !dropped.has(id)) };
      },
      getSegmentStates: async (r) => {
        const out = await ds.getSegmentStates(r);
        return dropped.has(r.segmentId) ? { ...out, state: SegmentState.DROPPED } : out;
      },
      getSegmentInfo: (id) => ds.getSegmentInfo(id),
      getInsertChannels: (r) => ds.getInsertChannels(r),
    };
    w.addNode(1);
    w.addNode(2);
    await w.startQs({}, wrapped);
    await w.register(1, 2);
  });
  after(() => w.close());

  it("loads a segment flushed after load and routes to it only after its load resolved", async () => {
    const qs = w.qs;
    assert.ok(qs !== undefined);
    await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [p0] });
    await qs.waitLoaded(info.collectionId, 10_000);
    const first = await qs.getDistribution(info.collectionId);
    const old = first.sealed.map((s) => s.segmentId);
    assert.equal(old.length, 2);

    const gates = [new Gate(), new Gate()];
    w.nodes.get(1)?.gates.set("loadSegments", gates[0] as Gate);
    w.nodes.get(2)?.gates.set("loadSegments", gates[1] as Gate);
    await w.insert("h", 60);
    const fresh = await w.flush("h");
    assert.equal(fresh.length, 2);
    const loadCalls = () =>
      [...w.nodes.values()].flatMap((n) =>
        n.callsOf("loadSegments").flatMap((c) => [...(c.args as LoadSegmentRequest).segmentIds]),
      );
    await until("handoff loads asked", () => fresh.every((id) => loadCalls().includes(id)));
    // Held at the gates for several passes: still not routed, and the partition never left IN_MEMORY.
    for (let i = 0; i < 5; i++) {
      const d = await qs.getDistribution(info.collectionId);
      assert.deepEqual(
        d.sealed.map((s) => s.segmentId),
        old,
      );
      await sleep(50);
    }
    for (const g of gates) g.open();
    // Whenever the distribution shows a new segment, its node already has it loaded.
    await until("new segments routed", async () => {
      const d = await qs.getDistribution(info.collectionId);
      for (const s of d.sealed) {
        assert.ok(
          w.nodes.get(s.nodeId)?.loaded.has(s.segmentId),
          `segment ${s.segmentId} routed before loaded`,
        );
      }
      return fresh.every((id) => d.sealed.some((s) => s.segmentId === id));
    });
    const d = await qs.getDistribution(info.collectionId);
    assert.deepEqual(
      d.sealed.map((s) => s.segmentId),
      [...old, ...fresh].sort((a, b) => (a < b ? -1 : 1)),
    );
    // Every segment was loaded exactly once; the states went through loading once, never back.
    const all = loadCalls().sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(
      all,
      [...old, ...fresh].sort((a, b) => (a < b ? -1 : 1)),
    );
    assert.deepEqual(w.partitionTransitions(info.collectionId, p0), [
      [NOT_PRESENT, ON_DISK],
      [ON_DISK, PARTIAL_IN_MEMORY],
      [PARTIAL_IN_MEMORY, IN_MEMORY],
    ]);
  });

  it("releases a segment the dataservice reports DROPPED", async () => {
    const qs = w.qs;
    assert.ok(qs !== undefined);
    const before = await qs.getDistribution(info.collectionId);
    const victim = before.sealed[0];
    assert.ok(victim !== undefined);
    const holder = w.nodes.get(victim.nodeId);
    assert.ok(holder !== undefined);
    assert.ok(holder.loaded.has(victim.segmentId));
    dropped.add(victim.segmentId);
    await until("dropped segment released", () => !holder.loaded.has(victim.segmentId));
    const rel = holder.callsOf("releaseSegments").map((c) => c.args as ReleaseSegmentRequest);
    assert.deepEqual(
      rel.map((r) => [r.collectionId, r.partitionId, [...r.segmentIds]]),
      [[info.collectionId, p0, [victim.segmentId]]],
    );
    const after = await qs.getDistribution(info.collectionId);
    assert.deepEqual(
      after.sealed,
      before.sealed.filter((s) => s.segmentId !== victim.segmentId),
    );
    assert.equal((await qs.describeNodes()).flatMap((n) => n.segmentIds).includes(victim.segmentId), false);
    assert.equal(w.partitionTransitions(info.collectionId, p0).length, 3, "no state change");
  });

  it("releases everything when the collection is dropped", async () => {
    const qs = w.qs;
    assert.ok(qs !== undefined);
    await w.db.dropCollection("h");
    await until("collection released", async () => {
      try {
        await qs.getDistribution(info.collectionId);
        return false;
      } catch (e) {
        assert.equal((e as { code?: string }).code, "CollectionNotLoaded");
        return true;
      }
    });
    await until("nodes freed", () =>
      [...w.nodes.values()].every((n) => n.loaded.size === 0 && n.watched.size === 0),
    );
    assert.deepEqual(w.partitionTransitions(info.collectionId, p0).at(-1), [IN_MEMORY, NOT_PRESENT]);
    assert.equal(
      await w.db.internals.backends.kv.get(`queryservice/collection/${info.collectionId}`),
      undefined,
    );
    await rejectsWith(qs.waitLoaded(info.collectionId, 100), "CollectionNotLoaded");
  });
});

/**
 * Query nodes: registration and states, failing calls, node failure moving work, and the query
 * channels.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../src/common/errors.ts";
import type { LoadSegmentRequest } from "../../src/querynode/types.ts";
import { NodeState, PartitionState, type QueryChannels } from "../../src/queryservice/index.ts";
import type { CollectionInfo } from "../../src/rootcoord/types.ts";
import { Gate } from "./recording-node.ts";
import { rejectsWith, until, World } from "./world.ts";

const { IN_MEMORY, PARTIAL_IN_MEMORY } = PartitionState;
const { INITIALIZING, HEALTHY, ABNORMAL } = NodeState;

describe("queryservice: query nodes", () => {
  let w: World;
  let info: CollectionInfo;
  let p0: bigint;
  let p1: bigint;

  before(async () => {
    w = await World.open();
    info = await w.createCollection("n", ["p1"]);
    p0 = info.partitions.find((p) => p.name === "_default")?.partitionId ?? -1n;
    p1 = info.partitions.find((p) => p.name === "p1")?.partitionId ?? -1n;
    for (let i = 0; i < 2; i++) {
      await w.insert("n", 50);
      await w.insert("n", 30, "p1");
      await w.flush("n");
    }
  });
  after(() => w.close());
  beforeEach(async () => {
    await w.qs?.close();
    w.qs = undefined;
    w.nodes.clear();
    w.events.length = 0;
    // Each test starts from an empty placement.
    await w.db.internals.backends.kv.deletePrefix("queryservice/");
  });

  const load = async (): Promise<void> => {
    const qs = w.qs;
    assert.ok(qs !== undefined);
    await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [] });
    await qs.waitLoaded(info.collectionId, 10_000);
  };

  it("registerNode is idempotent; a repeated registration re-sends the node's work without a state change", async () => {
    const n1 = w.addNode(1);
    const qs = await w.startQs();
    const a = await qs.registerNode({ nodeId: 1, address: "a" });
    await load();
    const dist = await qs.getDistribution(info.collectionId);
    const watches = n1.callsOf("watchDmChannels").length;
    const loads = n1.callsOf("loadSegments").length;
    const events = w.events.length;
    const b = await qs.registerNode({ nodeId: 1, address: "a" });
    assert.deepEqual(b, a);
    assert.equal(a.nodeId, 1);
    await until("work re-sent", () => n1.callsOf("loadSegments").length === loads * 2);
    assert.equal(n1.callsOf("watchDmChannels").length, watches * 2);
    assert.equal(w.events.length, events, "no state transition");
    assert.deepEqual(await qs.getDistribution(info.collectionId), dist);
    assert.deepEqual([...(await qs.describeService()).nodeDescriptions.keys()], [1]);
    assert.deepEqual(w.nodeTransitions(1), [
      [null, INITIALIZING],
      [INITIALIZING, HEALTHY],
    ]);
  });

  it("a node whose calls fail is ABNORMAL, is retried, and is HEALTHY again once a call succeeds", async () => {
    const n1 = w.addNode(1);
    const qs = await w.startQs();
    await w.register(1);
    await until("HEALTHY", () => w.nodeTransitions(1).length === 2);
    n1.failWith = {
      methods: new Set(["loadSegments"]),
      error: new StrataError("IoFailed", "disk on fire"),
      remaining: 3,
    };
    await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [] });
    await until(
      "ABNORMAL",
      async () => (await qs.describeService()).nodeDescriptions.get(1)?.nodeState === ABNORMAL,
    );
    await qs.waitLoaded(info.collectionId, 10_000);
    assert.equal((await qs.describeService()).nodeDescriptions.get(1)?.nodeState, HEALTHY);
    const t = w.nodeTransitions(1);
    assert.deepEqual(t.slice(0, 3), [
      [null, INITIALIZING],
      [INITIALIZING, HEALTHY],
      [HEALTHY, ABNORMAL],
    ]);
    assert.deepEqual(t.at(-1), [ABNORMAL, HEALTHY]);
    // Three failed attempts (two partitions per attempt round), then the successful ones.
    const calls = n1.callsOf("loadSegments").map((c) => c.args as LoadSegmentRequest);
    assert.ok(calls.length >= 5, `retried: ${calls.length} calls`);
    const dist = await qs.getDistribution(info.collectionId);
    assert.equal(dist.sealed.length, 8);
    assert.deepEqual(
      [...n1.loaded.keys()].sort((a, b) => (a < b ? -1 : 1)),
      dist.sealed.map((s) => s.segmentId),
    );
  });

  it("a node whose calls throw Closed is ABNORMAL, then dropped, and its work moves to the others", async () => {
    const n1 = w.addNode(1);
    const n2 = w.addNode(2, 1);
    const qs = await w.startQs();
    await w.register(1, 2);
    await load();
    const before = await qs.getDistribution(info.collectionId);
    // Both nodes hold something: channels are spread one per node.
    assert.deepEqual(
      before.channels.map((c) => c.nodeId).sort((a, b) => a - b),
      [1, 2],
    );
    const moved = before.sealed.filter((s) => s.nodeId === 2).map((s) => s.segmentId);
    const movedChannels = before.channels.filter((c) => c.nodeId === 2).map((c) => c.channel);
    const gate = new Gate();
    n1.gates.set("loadSegments", gate);
    await n2.close();
    await until("node 2 dropped", () => w.nodeTransitions(2).at(-1)?.[1] === null);
    assert.deepEqual(w.nodeTransitions(2).slice(-2), [
      [HEALTHY, ABNORMAL],
      [ABNORMAL, null],
    ]);
    // Recovering: every partition lost a channel, so none is served until it is back.
    await until("channel moved", () => movedChannels.every((c) => n1.watched.has(c)));
    if (moved.length > 0) await rejectsWith(qs.getDistribution(info.collectionId), "ServiceUnavailable");
    for (const p of [p0, p1]) {
      assert.deepEqual(w.partitionTransitions(info.collectionId, p)[3], [IN_MEMORY, PARTIAL_IN_MEMORY]);
    }
    gate.open();
    await qs.waitLoaded(info.collectionId, 10_000);
    const afterDist = await qs.getDistribution(info.collectionId);
    assert.ok(afterDist.sealed.every((s) => s.nodeId === 1));
    assert.ok(afterDist.channels.every((c) => c.nodeId === 1));
    assert.deepEqual(
      afterDist.sealed.map((s) => s.segmentId),
      before.sealed.map((s) => s.segmentId),
    );
    for (const s of moved) assert.ok(n1.loaded.has(s));
    assert.deepEqual([...(await qs.describeService()).nodeDescriptions.keys()], [1]);
    assert.equal(await w.db.internals.backends.kv.get("queryservice/node/2"), undefined);
    for (const p of [p0, p1]) {
      assert.deepEqual(w.partitionTransitions(info.collectionId, p).slice(3), [
        [IN_MEMORY, PARTIAL_IN_MEMORY],
        [PARTIAL_IN_MEMORY, IN_MEMORY],
      ]);
    }
  });

  it("a node the resolver no longer returns is dropped after the grace; unregisterNode moves work too", async () => {
    w.addNode(1);
    w.addNode(2);
    const n3 = w.addNode(3);
    const qs = await w.startQs({ resolveGraceMs: 200 });
    await w.register(1, 2, 3);
    await load();
    w.nodes.delete(1);
    const t0 = Date.now();
    await until("node 1 dropped", () => w.nodeTransitions(1).at(-1)?.[1] === null);
    assert.ok(Date.now() - t0 < 3000);
    await qs.waitLoaded(info.collectionId, 10_000);
    let d = await qs.getDistribution(info.collectionId);
    assert.ok([...d.sealed, ...d.channels].every((x) => x.nodeId !== 1));
    assert.equal(d.sealed.length, 8);

    const on3 = [...d.sealed.filter((s) => s.nodeId === 3).map((s) => s.segmentId)];
    await qs.unregisterNode(3);
    await qs.unregisterNode(3);
    // A node that leaves is asked to free what it held.
    for (const s of on3) assert.equal(n3.loaded.has(s), false);
    assert.equal(n3.watched.size, 0);
    await qs.waitLoaded(info.collectionId, 10_000);
    d = await qs.getDistribution(info.collectionId);
    assert.ok([...d.sealed, ...d.channels].every((x) => x.nodeId === 2));
    assert.equal(d.sealed.length, 8);
    assert.deepEqual(
      (await qs.describeNodes()).map((n) => [n.nodeId, n.channels.length, n.segmentIds.length]),
      [[2, 2, 8]],
    );
    // With no node left, work waits; a new node gets all of it.
    await qs.unregisterNode(2);
    await rejectsWith(qs.getDistribution(info.collectionId), "ServiceUnavailable");
    w.addNode(7);
    await w.register(7);
    await qs.waitLoaded(info.collectionId, 10_000);
    d = await qs.getDistribution(info.collectionId);
    assert.ok([...d.sealed, ...d.channels].every((x) => x.nodeId === 7));
  });

  it("a corrupt placement record stops start with Corrupted", async () => {
    const kv = w.db.internals.backends.kv;
    await kv.put("queryservice/collection/77", new TextEncoder().encode('{"collectionId": 77}'));
    await rejectsWith(w.startQs(), "Corrupted");
    await kv.put("queryservice/collection/77", new TextEncoder().encode("{not json"));
    await rejectsWith(w.startQs(), "Corrupted");
    await kv.delete("queryservice/collection/77");
    w.qs = undefined;
  });

  it("query channels: fresh unique pairs in the mq, served by every registered node; tick and stats channels", async () => {
    const n1 = w.addNode(1);
    const qs = await w.startQs();
    const init = await qs.registerNode({ nodeId: 1, address: "" });
    const a = await qs.createQueryChannel();
    const b = await qs.createQueryChannel();
    const pairs: QueryChannels[] = [init.queryChannels, a, b];
    const names = pairs.flatMap((p) => [p.requestChannel, p.resultChannel]);
    assert.equal(new Set(names).size, 6, `unique: ${names}`);
    const existing = await w.db.internals.backends.mq.listChannels();
    for (const n of names) assert.ok(existing.includes(n), `${n} exists in the mq`);
    // Served before createQueryChannel returned.
    assert.deepEqual(n1.queryChannels, pairs);
    const n2 = w.addNode(2);
    const init2 = await qs.registerNode({ nodeId: 2, address: "" });
    assert.deepEqual(init2.queryChannels, init.queryChannels);
    await until("late node serves every pair", () => n2.queryChannels.length === 3);
    assert.deepEqual(n2.queryChannels, pairs);

    const tt = await qs.getTimeTickChannel();
    const stats = await qs.getStatsChannel();
    assert.notEqual(tt, stats);
    const all = await w.db.internals.backends.mq.listChannels();
    assert.ok(all.includes(tt) && all.includes(stats));

    // A restarted service keeps handing out fresh names.
    await qs.close();
    const qs2 = await w.startQs();
    const c = await qs2.createQueryChannel();
    assert.ok(!names.includes(c.requestChannel) && !names.includes(c.resultChannel));
    await until(
      "adopted nodes serve the new pair",
      () => n1.queryChannels.length === 4 && n2.queryChannels.length === 4,
    );
    await sleep(10);
  });
});

/**
 * Load, release and describe against real flushed segments: the calls the query nodes get, the
 * partition state machine, placement by least memory, the persisted placement, and the errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeJsonBytes } from "../../src/common/json.ts";
import type { LoadSegmentRequest, ReleaseSegmentRequest } from "../../src/querynode/types.ts";
import { NodeState, PartitionState } from "../../src/queryservice/index.ts";
import type { CollectionRecord } from "../../src/queryservice/records.ts";
import type { CollectionInfo } from "../../src/rootcoord/types.ts";
import { Gate, ROW_BYTES } from "./recording-node.ts";
import { rejectsWith, until, World } from "./world.ts";

const { NOT_EXIST, NOT_PRESENT, ON_DISK, PARTIAL_IN_MEMORY, IN_MEMORY } = PartitionState;
const LOADING: [number, number][] = [
  [NOT_PRESENT, ON_DISK],
  [ON_DISK, PARTIAL_IN_MEMORY],
  [PARTIAL_IN_MEMORY, IN_MEMORY],
];

const pid = (info: CollectionInfo, name: string): bigint => {
  const p = info.partitions.find((x) => x.name === name);
  assert.ok(p !== undefined, `partition ${name}`);
  return p.partitionId;
};

const byId = (ids: readonly bigint[]): bigint[] => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

async function record(w: World, collectionId: bigint): Promise<CollectionRecord | undefined> {
  const kv = await w.db.internals.backends.kv.get(`queryservice/collection/${collectionId}`);
  return kv === undefined ? undefined : decodeJsonBytes<CollectionRecord>(kv.value);
}

async function rowsOf(w: World, ids: readonly bigint[]): Promise<number> {
  let n = 0;
  for (const id of ids) n += (await w.ds.getSegmentInfo(id)).numRows;
  return n;
}

describe("queryservice: load and release", () => {
  let w: World;
  let info: CollectionInfo;
  let p0: bigint;
  let p1: bigint;

  before(async () => {
    w = await World.open();
    info = await w.createCollection("c", ["p1"]);
    p0 = pid(info, "_default");
    p1 = pid(info, "p1");
    await w.insert("c", 120);
    await w.insert("c", 80, "p1");
    await w.flush("c");
  });
  after(() => w.close());

  it("refuses calls before start, rejects bad input, and needs a registered node to load", async () => {
    const i = w.db.internals;
    const { createQueryService } = await import("../../src/queryservice/index.ts");
    const { silentLogger } = await import("../../src/common/log.ts");
    const idle = createQueryService({
      kv: i.backends.kv,
      mq: i.backends.mq,
      dataservice: i.dataservice,
      rootcoord: i.rootcoord,
      queryNodes: () => undefined,
      logger: silentLogger(),
    });
    await rejectsWith(idle.describeService(), "ServiceNotReady");
    assert.throws(
      () =>
        createQueryService(
          {
            ...{
              kv: i.backends.kv,
              mq: i.backends.mq,
              dataservice: i.dataservice,
              rootcoord: i.rootcoord,
              queryNodes: () => undefined,
              logger: silentLogger(),
            },
          },
          { handoffIntervalMs: 0 },
        ),
      /handoffIntervalMs/,
    );

    const qs = await w.startQs();
    const req = { dbId: 0n, collectionId: info.collectionId, partitionIds: [p0] };
    await rejectsWith(qs.loadPartitions(req), "ServiceUnavailable");
    await rejectsWith(
      qs.loadPartitions({ dbId: 0n, collectionId: 424242n, partitionIds: [] }),
      "CollectionNotFound",
    );
    await w.register(1);
    w.addNode(1);
    await rejectsWith(
      qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [p0, 999_999n] }),
      "PartitionNotFound",
    );
    await rejectsWith(
      qs.loadPartitions({ dbId: 0n, collectionId: 5 as unknown as bigint, partitionIds: [] }),
      "ParameterInvalid",
    );
    await rejectsWith(
      qs.loadPartitions({
        dbId: 0n,
        collectionId: info.collectionId,
        partitionIds: "x" as unknown as bigint[],
      }),
      "ParameterInvalid",
    );
    await rejectsWith(qs.registerNode({ nodeId: -1, address: "" }), "ParameterInvalid");
    // Nothing of the failed loads was kept.
    assert.equal(await record(w, info.collectionId), undefined);
    await rejectsWith(qs.getDistribution(info.collectionId), "CollectionNotLoaded");
    await rejectsWith(qs.waitLoaded(info.collectionId, 1000), "CollectionNotLoaded");
    await rejectsWith(
      qs.describePartition({ dbId: 0n, collectionId: 424242n, partitionIds: [] }),
      "CollectionNotFound",
    );
    const d = await qs.describePartition({
      dbId: 0n,
      collectionId: info.collectionId,
      partitionIds: [p0, 999_999n],
    });
    assert.deepEqual(
      d.partitionDescriptions.map((p) => [p.id, p.state, p.resourceCost.memUsage]),
      [
        [p0, NOT_PRESENT, 0],
        [999_999n, NOT_EXIST, 0],
      ],
    );
    await qs.close();
    await rejectsWith(qs.getDistribution(info.collectionId), "Closed");
    w.qs = undefined;
    w.nodes.clear();
    w.events.length = 0;
  });

  it("places every channel and flushed segment on the node, moving through the partition states", async () => {
    const node = w.addNode(1);
    const qs = await w.startQs();
    await w.register(1);
    await until("node HEALTHY", () => w.nodeTransitions(1).some(([, to]) => to === NodeState.HEALTHY));
    assert.deepEqual(w.nodeTransitions(1), [
      [null, NodeState.INITIALIZING],
      [NodeState.INITIALIZING, NodeState.HEALTHY],
    ]);

    const gate = new Gate();
    node.gates.set("loadSegments", gate);
    await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [p0, p1] });
    // Placement is decided and persisted before loadPartitions returns.
    const rec = await record(w, info.collectionId);
    assert.ok(rec !== undefined);
    assert.deepEqual(rec.partitionIds, byId([p0, p1]));
    const seg0 = await w.flushedOf(info, p0);
    const seg1 = await w.flushedOf(info, p1);
    assert.ok(seg0.length >= 1 && seg1.length >= 1);
    assert.deepEqual(
      rec.segments.map((s) => [s.segmentId, s.partitionId, s.nodeId]),
      [...seg0.map((s) => [s, p0, 1] as const), ...seg1.map((s) => [s, p1, 1] as const)].sort((a, b) =>
        a[0] < b[0] ? -1 : 1,
      ),
    );
    assert.deepEqual(
      rec.channels.map((c) => [c.channel, c.nodeId]),
      [...info.channels].sort().map((c) => [c, 1]),
    );

    await until("channels watched", () => info.channels.every((c) => node.watched.has(c)));
    await until("PARTIAL_IN_MEMORY", async () => {
      const d = await qs.describePartition({
        dbId: 0n,
        collectionId: info.collectionId,
        partitionIds: [p0, p1],
      });
      return d.partitionDescriptions.every((p) => p.state === PARTIAL_IN_MEMORY);
    });
    // Segments held at the gate: not served, not loaded.
    await sleep(150);
    await rejectsWith(qs.getDistribution(info.collectionId), "CollectionNotLoaded");
    await rejectsWith(qs.waitLoaded(info.collectionId, 100), "Timeout");
    gate.open();
    await qs.waitLoaded(info.collectionId, 10_000);

    assert.deepEqual(w.partitionTransitions(info.collectionId, p0), LOADING);
    assert.deepEqual(w.partitionTransitions(info.collectionId, p1), LOADING);
    const loads = node.callsOf("loadSegments").map((c) => c.args as LoadSegmentRequest);
    assert.deepEqual(
      loads
        .map((r) => [r.dbId, r.collectionId, r.partitionId, [...r.segmentIds], [...r.fieldIds]])
        .sort((a, b) => ((a[2] as bigint) < (b[2] as bigint) ? -1 : 1)),
      [
        [0n, info.collectionId, p0, seg0, []],
        [0n, info.collectionId, p1, seg1, []],
      ].sort((a, b) => ((a[2] as bigint) < (b[2] as bigint) ? -1 : 1)),
    );
    const watchedArgs = node.callsOf("watchDmChannels").flatMap((c) => c.args as string[]);
    assert.deepEqual(watchedArgs.sort(), [...info.channels].sort());

    const dist = await qs.getDistribution(info.collectionId);
    assert.deepEqual(dist, {
      collectionId: info.collectionId,
      partitionIds: byId([p0, p1]),
      channels: [...info.channels].sort().map((channel) => ({ channel, nodeId: 1 })),
      sealed: [
        ...seg0.map((s) => ({ segmentId: s, partitionId: p0, nodeId: 1 })),
        ...seg1.map((s) => ({ segmentId: s, partitionId: p1, nodeId: 1 })),
      ].sort((a, b) => (a.segmentId < b.segmentId ? -1 : 1)),
    });

    // Resource costs: per partition, what the node says its segments hold; per node, its own measure.
    const rows0 = await rowsOf(w, seg0);
    const rows1 = await rowsOf(w, seg1);
    assert.equal(rows0 + rows1, 200);
    const d = await qs.describePartition({ dbId: 0n, collectionId: info.collectionId, partitionIds: [] });
    assert.deepEqual(
      d.partitionDescriptions.map((p) => [p.id, p.state, p.resourceCost.memUsage]),
      [
        [p0, IN_MEMORY, rows0 * ROW_BYTES],
        [p1, IN_MEMORY, rows1 * ROW_BYTES],
      ].sort((a, b) => ((a[0] as bigint) < (b[0] as bigint) ? -1 : 1)),
    );
    const s = await qs.describeService();
    assert.deepEqual(
      [...s.nodeDescriptions],
      [[1, { nodeState: NodeState.HEALTHY, resourceCost: { memUsage: 200 * ROW_BYTES, cpuUsage: 0.25 } }]],
    );
    assert.deepEqual(
      [...s.dbDescriptions],
      [[0n, { collectionDescriptions: [{ collectionId: info.collectionId, partitionIds: byId([p0, p1]) }] }]],
    );

    // Loading again changes nothing and calls nobody.
    const before = node.calls.length;
    await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [p1] });
    await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [] });
    await sleep(200);
    assert.deepEqual(
      node.calls.slice(before).filter((c) => c.method !== "describePartition"),
      [],
    );
    assert.equal(w.partitionTransitions(info.collectionId, p0).length, 3);
  });

  it("releases a partition's segments, then the channels with the last partition; loads again", async () => {
    const qs = w.qs;
    const node = w.nodes.get(1);
    assert.ok(qs !== undefined && node !== undefined);
    const seg0 = await w.flushedOf(info, p0);
    const seg1 = await w.flushedOf(info, p1);
    const before = node.calls.length;
    await qs.releasePartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [p1] });
    const released = node.calls.slice(before);
    assert.deepEqual(
      released.map((c) => c.method),
      ["releaseSegments"],
    );
    const relReq = released[0]?.args as ReleaseSegmentRequest | undefined;
    assert.deepEqual([...(relReq?.segmentIds ?? [])], seg1);
    assert.deepEqual(byId([...node.loaded.keys()]), seg0);
    assert.deepEqual(w.partitionTransitions(info.collectionId, p1), [...LOADING, [IN_MEMORY, NOT_PRESENT]]);
    assert.deepEqual(w.partitionTransitions(info.collectionId, p0), LOADING);
    const dist = await qs.getDistribution(info.collectionId);
    assert.deepEqual(dist.partitionIds, [p0]);
    assert.deepEqual(
      dist.sealed.map((s) => s.segmentId),
      seg0,
    );
    assert.deepEqual((await record(w, info.collectionId))?.partitionIds, [p0]);
    const svc = await qs.describeService();
    assert.deepEqual(svc.dbDescriptions.get(0n)?.collectionDescriptions, [
      { collectionId: info.collectionId, partitionIds: [p0] },
    ]);

    await qs.releasePartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [] });
    assert.equal(node.loaded.size, 0);
    assert.equal(node.watched.size, 0);
    assert.deepEqual(
      node
        .callsOf("releaseDmChannels")
        .flatMap((c) => c.args as string[])
        .sort(),
      [...info.channels].sort(),
    );
    assert.equal(await record(w, info.collectionId), undefined);
    await rejectsWith(qs.getDistribution(info.collectionId), "CollectionNotLoaded");
    const d = await qs.describePartition({ dbId: 0n, collectionId: info.collectionId, partitionIds: [] });
    assert.ok(d.partitionDescriptions.every((p) => p.state === NOT_PRESENT && p.resourceCost.memUsage === 0));
    const n = node.calls.length;
    await qs.releasePartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [p0] });
    assert.equal(node.calls.length, n, "releasing again calls nobody");

    // One partition, then a second while the first stays IN_MEMORY.
    await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [p0] });
    await qs.waitLoaded(info.collectionId, 10_000);
    assert.deepEqual((await qs.getDistribution(info.collectionId)).partitionIds, [p0]);
    await qs.loadPartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [p1] });
    await qs.waitLoaded(info.collectionId, 10_000);
    assert.deepEqual(w.partitionTransitions(info.collectionId, p0), [
      ...LOADING,
      [IN_MEMORY, NOT_PRESENT],
      ...LOADING,
    ]);
    const t1 = w.partitionTransitions(info.collectionId, p1).slice(4);
    assert.deepEqual(t1, LOADING);
    assert.deepEqual((await qs.getDistribution(info.collectionId)).partitionIds, byId([p0, p1]));
    await qs.releasePartitions({ dbId: 0n, collectionId: info.collectionId, partitionIds: [] });
  });

  it("places segments on the node with the least memory and channels on the node with the fewest", async () => {
    const old = w.qs;
    await old?.close();
    w.nodes.clear();
    w.events.length = 0;
    const c2 = await w.createCollection("c2", [], 2);
    // Three flushes of different sizes: six segments of distinct sizes.
    for (const n of [300, 40, 150]) {
      await w.insert("c2", n);
      await w.flush("c2");
    }
    const segs = await w.flushedOf(c2, pid(c2, "_default"));
    assert.equal(segs.length, 6);
    const sizes = new Map<bigint, number>();
    for (const s of segs) {
      const info = await w.ds.getSegmentInfo(s);
      sizes.set(
        s,
        info.binlogs.reduce((a, f) => a + f.binlogs.reduce((b, x) => b + x.size, 0), 0),
      );
    }
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    const base = new Map([
      [1, Math.round(total * 0.6)],
      [2, 0],
      [3, Math.round(total * 0.25)],
    ]);
    for (const [id, mem] of base) w.addNode(id, mem);
    const qs = await w.startQs();
    await w.register(1, 2, 3);
    // The oracle: in segment ID order, the node with the least (measured + placed, not loaded) bytes.
    const charge = new Map(base);
    const expected = new Map<bigint, number>();
    for (const s of segs) {
      const size = sizes.get(s) ?? 0;
      let best = -1;
      for (const [id, m] of charge) if (best === -1 || m < (charge.get(best) ?? 0)) best = id;
      charge.set(best, (charge.get(best) ?? 0) + size);
      expected.set(s, best);
    }
    assert.ok(new Set(expected.values()).size >= 2, "the oracle spreads segments over nodes");
    await qs.loadPartitions({ dbId: 0n, collectionId: c2.collectionId, partitionIds: [] });
    await qs.waitLoaded(c2.collectionId, 10_000);
    const dist = await qs.getDistribution(c2.collectionId);
    assert.deepEqual(new Map(dist.sealed.map((s) => [s.segmentId, s.nodeId])), expected);
    for (const s of dist.sealed) assert.ok(w.nodes.get(s.nodeId)?.loaded.has(s.segmentId));
    // Channels: fewest channels first, ties by least memory: node 2 (0 B), then node 3.
    assert.deepEqual(
      dist.channels.map((c) => c.nodeId),
      [2, 3],
    );
    // A second collection is placed by what the nodes now measure.
    const c3 = await w.createCollection("c3", [], 1);
    await w.insert("c3", 10);
    await w.flush("c3");
    const measured = [...w.nodes.values()].map((n) => [n.nodeId, n.resourceCost().memUsage] as const);
    const least = [...measured].sort((a, b) => a[1] - b[1] || a[0] - b[0])[0]?.[0];
    await qs.loadPartitions({ dbId: 0n, collectionId: c3.collectionId, partitionIds: [] });
    await qs.waitLoaded(c3.collectionId, 10_000);
    const d3 = await qs.getDistribution(c3.collectionId);
    assert.deepEqual(
      d3.sealed.map((s) => s.nodeId),
      [least],
    );
    // Node 1 follows no channel yet: it gets c3's only channel.
    assert.deepEqual(
      d3.channels.map((c) => c.nodeId),
      [1],
    );
    const svc = await qs.describeService();
    for (const [id, n] of w.nodes) {
      assert.deepEqual(svc.nodeDescriptions.get(id)?.resourceCost, n.resourceCost());
    }
    assert.deepEqual(
      svc.dbDescriptions.get(0n)?.collectionDescriptions.map((c) => c.collectionId),
      [c2.collectionId, c3.collectionId],
    );
  });
});

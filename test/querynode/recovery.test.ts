/**
 * Where the query node's data comes from when the write path is ahead of it, on a VarChar primary
 * key: growing segments partly synced to binlogs before the watch (read from binlogs, then the
 * channel replayed after the checkpoint: every row once), and sealed segments loaded before the
 * watch while deletes reached their delta logs meanwhile (caught up at the watch).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type SegmentInfo, SegmentState } from "../../src/dataservice/types.ts";
import { compileFilter } from "../../src/expr/index.ts";
import type { QueryNode } from "../../src/querynode/types.ts";
import { rng } from "../helpers/env.ts";
import {
  flushedSegments,
  loadFlushed,
  newNode,
  openWorld,
  refreshInfo,
  searchReq,
  strongScope,
  type World,
  waitFor,
} from "./harness.ts";

const DIM = 8;
const SEED = 4417;
const SCHEMA = {
  name: "vc",
  fields: [
    { name: "key", dataType: "VarChar", isPrimaryKey: true, maxLength: 40 },
    { name: "vec", dataType: "FloatVector", dim: DIM },
    { name: "num", dataType: "Int64" },
  ],
} as const;
const F = { key: 100, vec: 101, num: 102 };

interface Row {
  key: string;
  ts: bigint;
  vec: Float32Array;
  num: bigint;
}

describe("query node recovery paths on a VarChar primary key", () => {
  const r = rng(SEED);
  const versions: Row[] = [];
  const deletes: { key: string; ts: bigint }[] = [];
  let w: World;
  let node: QueryNode;
  let checkpointReads = 0;
  let segmentInfoHook: ((id: bigint) => Promise<SegmentInfo>) | undefined;

  const keyOf = (i: number) => `k${String(i).padStart(5, "0")}-${"é".repeat(i % 3)}`;
  const insert = async (ids: number[], gen = 0, partition?: string) => {
    const vec = Float32Array.from({ length: ids.length * DIM }, () => Math.fround(r() * 2 - 1));
    const keys = ids.map(keyOf);
    const num = BigInt64Array.from(ids, (i) => BigInt(i * 10 + gen));
    const res = await w.db.insert(
      "vc",
      { columns: { key: keys, vec, num } },
      partition === undefined ? {} : { partition },
    );
    for (let j = 0; j < ids.length; j++) {
      versions.push({
        key: keys[j]!,
        ts: res.timestamp,
        vec: vec.subarray(j * DIM, (j + 1) * DIM),
        num: num[j]!,
      });
    }
  };
  const remove = async (ids: number[]) => {
    const res = await w.db.delete("vc", ids.map(keyOf));
    for (const i of ids) deletes.push({ key: keyOf(i), ts: res.timestamp });
  };
  const live = (readTs: bigint): Row[] => {
    const best = new Map<string, Row>();
    for (const v of versions) {
      if (v.ts > readTs) continue;
      if (deletes.some((d) => d.key === v.key && v.ts < d.ts && d.ts <= readTs)) continue;
      const cur = best.get(v.key);
      if (cur === undefined || v.ts > cur.ts) best.set(v.key, v);
    }
    return [...best.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  };
  const checkAll = async (what: string, extra = {}) => {
    const scope = await strongScope(w, node, extra);
    const want = live(scope.readTs);
    const res = await node.query({ ...scope, outputFieldIds: [F.num], countOnly: false });
    assert.deepEqual(
      res.pks,
      want.map((x) => x.key),
      `${what}: keys (seed ${SEED})`,
    );
    assert.deepEqual(
      [...(res.fields[0]!.column.data as BigInt64Array)],
      want.map((x) => x.num),
      `${what}: num`,
    );
    const q = Float32Array.from({ length: DIM }, (_, i) => (i % 2 === 0 ? 0.3 : -0.2));
    const s = await node.search(searchReq(scope, F.vec, "IP", q, 1, 5));
    const scored = want
      .map((x) => ({ key: x.key, s: x.vec.reduce((a, v, i) => a + v * q[i]!, 0) }))
      .sort((a, b) => b.s - a.s);
    assert.deepEqual(
      s.results[0]!.pks,
      scored.slice(0, 5).map((x) => x.key),
      `${what}: search`,
    );
  };

  before(async () => {
    // Every tick with buffered rows syncs them: growing segments have binlogs long before a flush.
    // A segment's rows are synced at the first tick they pass 2 KB: the default partition's
    // segments sync early, the second partition's few rows stay buffered (holding back the
    // channel checkpoint, so synced segments have persistedSeq above it).
    w = await openWorld(SCHEMA, { datanode: { insertBufBytes: 2048 } });
    await w.db.createPartition("vc", "p2");
    await refreshInfo(w);
  });

  after(async () => {
    await node?.close();
    await w?.cleanup();
  });

  it("growing segments with binlogs are read from them, then the channel after the checkpoint", async () => {
    await insert([10_000, 10_001, 10_002, 10_003], 0, "p2");
    for (let b = 0; b < 5; b++) {
      await insert(Array.from({ length: 120 }, (_, i) => b * 120 + i));
      await new Promise((res) => setTimeout(res, 120));
    }
    await remove([3, 5, 7, 130, 131, 599]);
    const ds = w.db.internals.dataservice;
    await waitFor(async () => {
      const v = await ds.getVChannelInfo(w.info.channels[0]!);
      return v.segments.some(
        (s) => s.state === SegmentState.GROWING && s.persistedRows > 0 && s.persistedSeq > v.checkpoint.seq,
      );
    }, "a growing segment with binlogs past the channel checkpoint");
    // The delete buffer is pruned on every tick: loads must still see every delete.
    const ds0 = w.db.internals.dataservice;
    node = newNode(
      w,
      3,
      { searchWorkers: 0, deleteBufferPruneMs: 1 },
      {
        getVChannelInfo: (c) => {
          checkpointReads++;
          return ds0.getVChannelInfo(c);
        },
        getSegmentInfo: (id) => (segmentInfoHook ?? ((x: bigint) => ds0.getSegmentInfo(x)))(id),
        showSegments: (r) => ds0.showSegments(r),
        getSegmentIndexes: (ids) => ds0.getSegmentIndexes(ids),
        reportIndexFault: (b, k, r) => ds0.reportIndexFault(b, k, r),
      },
    );
    await node.start();
    await node.watchDmChannels(w.info.channels);
    await checkAll("after watch");
    // Rows already in binlogs are not taken from the channel again.
    const held = [...(node.segments().rows?.values() ?? [])].reduce((a, b) => a + b, 0);
    assert.equal(held, versions.length, "every inserted row held exactly once");
    // More rows and deletes while watched, including keys of rows read from binlogs.
    await insert([600, 601, 602]);
    await remove([0, 1, 600]);
    await insert([1], 1);
    await checkAll("while following");
  });

  it("sealed copies loaded before the watch get the deletes persisted in between", async () => {
    await node.releaseDmChannels(w.info.channels);
    await w.db.flush("vc");
    await loadFlushed(w, node);
    const victims = [10, 11, 250, 251, 480];
    await remove(victims);
    // Wait until the data node has the deletes in delta logs and the checkpoint past them.
    const ds = w.db.internals.dataservice;
    await waitFor(async () => {
      let n = 0;
      for (const p of await flushedSegments(w)) {
        for (const id of p.segmentIds) n += (await ds.getSegmentInfo(id)).deltalogs.length;
      }
      return n >= 3;
    }, "delta logs");
    await new Promise((res) => setTimeout(res, 300));
    await node.watchDmChannels(w.info.channels);
    const scope = await strongScope(w, node, {
      filter: compileFilter(
        `key in [${victims.map((i) => JSON.stringify(keyOf(i))).join(",")}]`,
        w.info.schema,
      ),
    });
    const res = await node.query({ ...scope, outputFieldIds: [], countOnly: true });
    assert.equal(res.count, 0, "deleted keys hidden");
    await checkAll("sealed loaded before watch");
  });

  it("handoff with deletes while the delete buffer is pruned constantly", async () => {
    const ids = Array.from({ length: 300 }, (_, i) => 20_000 + i);
    await insert(ids);
    await checkAll("growing");
    const before = new Set((await flushedSegments(w)).flatMap((p) => p.segmentIds));
    const reads = checkpointReads;
    await w.db.flush("vc");
    await remove(ids.filter((i) => i % 5 === 0));
    await insert([20_001, 20_002], 7);
    const flushed = (await flushedSegments(w)).flatMap((p) => p.segmentIds).filter((id) => !before.has(id));
    await loadFlushed(w, node);
    await checkAll("after handoff");
    const scope = await strongScope(w, node, { excludeGrowing: flushed });
    const res = await node.query({ ...scope, outputFieldIds: [], countOnly: true });
    const now = await w.db.internals.rootcoord.allocTimestamp();
    assert.equal(res.count, live(now).length);
    assert.ok(checkpointReads > reads, "the buffer was pruned meanwhile");
  });

  it("a delete pruned from the buffer while a load read older delta logs still reaches the sealed copy", async () => {
    const ds = w.db.internals.dataservice;
    const ids = Array.from({ length: 200 }, (_, i) => 30_000 + i);
    await insert(ids);
    await checkAll("growing");
    const before = new Set((await flushedSegments(w)).flatMap((p) => p.segmentIds));
    await w.db.flush("vc");
    const flushed = (await flushedSegments(w)).flatMap((p) => p.segmentIds).filter((id) => !before.has(id));
    assert.ok(flushed.length > 0);
    // The load lists each segment's files now, but only gets the answer after the delete below
    // is persisted by the data node and pruned from the node's buffer.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    let held = 0;
    segmentInfoHook = async (id) => {
      const info = await ds.getSegmentInfo(id);
      if (flushed.includes(id) && held < flushed.length) {
        held++;
        await gate;
      }
      return info;
    };
    const loading = loadFlushed(w, node);
    await waitFor(() => held === 1, "the load to list its first segment");
    const victims = ids.filter((i) => i % 3 === 0);
    const reads = checkpointReads;
    await remove(victims);
    await waitFor(async () => {
      let n = 0;
      for (const id of flushed) n += (await ds.getSegmentInfo(id)).deltalogs.length;
      return n > 0;
    }, "the delete in delta logs");
    await checkAll("deleted in the growing copies");
    // The delete is in the buffer until a prune sees the checkpoint past it (every tick here).
    await new Promise((res) => setTimeout(res, 500));
    assert.ok(checkpointReads > reads, "the buffer was pruned after the delete");
    release();
    await loading;
    segmentInfoHook = undefined;
    assert.ok(flushed.every((id) => node.segments().sealed.includes(id)));
    const scope = await strongScope(w, node, {
      excludeGrowing: flushed,
      filter: compileFilter(
        `key in [${victims.map((i) => JSON.stringify(keyOf(i))).join(",")}]`,
        w.info.schema,
      ),
    });
    const res = await node.query({ ...scope, outputFieldIds: [], countOnly: true });
    assert.equal(res.count, 0, "deleted rows hidden in the sealed copies");
    await checkAll("after the delayed load", { excludeGrowing: flushed });
  });
});

/**
 * A query node following live DML channels of a real standalone Strata: Strong-consistency waits
 * and their timeout, growing → sealed handoff without gap or double count, deletes that reach a
 * sealed copy only through the channel's delete buffer, memory accounting on release, the query
 * channels, and a corrupt binlog failing a load cleanly.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { composeTs } from "../../src/common/timestamp.ts";
import { compileFilter } from "../../src/expr/index.ts";
import {
  decodeWire,
  encodeWire,
  type QueryChannelRequest,
  type QueryChannelResult,
} from "../../src/querynode/index.ts";
import type { NodeQueryResult, QueryNode } from "../../src/querynode/types.ts";
import { PartitionState } from "../../src/queryservice/types.ts";
import { distributedOverrides } from "../helpers/cluster.ts";
import { rng, uniqueName } from "../helpers/env.ts";
import {
  flushedSegments,
  loadFlushed,
  newNode,
  openWorld,
  searchReq,
  strongScope,
  type World,
  waitFor,
} from "./harness.ts";
import { checkHits, checkQuery, DIM, Model, makeBatch, range, SCHEMA } from "./model.ts";

const SEED = 99173;
const F = { vec: 101, num: 104, tag: 105 };

function liveSuite(name: string, skip: string | false, overrides: () => Record<string, unknown>): void {
  describe(`query node on live channels (${name})`, { skip }, () => {
    const r = rng(SEED);
    const model = new Model();
    let w: World;
    let node: QueryNode;

    const insert = async (pks: bigint[], gen = 0) => {
      const b = makeBatch(r, pks, gen);
      const res = await w.db.insert("qn", { columns: b.columns as never });
      model.insert(b, res.timestamp);
      return res.timestamp;
    };
    const remove = async (pks: bigint[]) => {
      const res = await w.db.delete("qn", BigInt64Array.from(pks));
      model.delete(pks, res.timestamp);
      return res.timestamp;
    };
    const countAll = async (extra = {}) =>
      (await node.query({ ...(await strongScope(w, node, extra)), outputFieldIds: [], countOnly: true }))
        .count;

    /** The full search + query oracle over every segment the node serves. */
    const checkAll = async (what: string, extra = {}) => {
      const scope = await strongScope(w, node, extra);
      const live = model.live(scope.readTs);
      const q = Float32Array.from({ length: 4 * DIM }, (_, i) => Math.sin(i + 1));
      const res = await node.search(searchReq(scope, F.vec, "L2", q, 4, 20));
      for (let i = 0; i < 4; i++) {
        checkHits(
          res.results[i]!,
          live,
          "L2",
          q.subarray(i * DIM, (i + 1) * DIM),
          20,
          `${what} q${i} (seed ${SEED})`,
        );
      }
      const rows = await node.query({ ...scope, outputFieldIds: [F.num], countOnly: false });
      checkQuery(rows, live, `${what} query`);
    };

    before(async () => {
      w = await openWorld(SCHEMA, overrides());
      await insert(range(0, 600));
      await w.db.flush("qn");
      node = newNode(w, 11);
      await node.start();
      await node.watchDmChannels(w.info.channels);
      await loadFlushed(w, node);
    });

    after(async () => {
      await node?.close();
      await w?.cleanup();
    });

    it("watching twice is a no-op; describePartition reports IN_MEMORY with the memory held", async () => {
      await node.watchDmChannels(w.info.channels);
      const p = w.info.partitions[0]!.partitionId;
      const d = await node.describePartition({
        dbId: w.info.dbId,
        collectionId: w.info.collectionId,
        partitionIds: [p, 999n],
      });
      assert.equal(d.partitionDescriptions[0]!.state, PartitionState.IN_MEMORY);
      assert.ok(d.partitionDescriptions[0]!.resourceCost.memUsage > 600 * DIM * 4);
      assert.equal(d.partitionDescriptions[1]!.state, PartitionState.NOT_EXIST);
      await checkAll("initial");
    });

    it("a row inserted after the node started is visible once tSafe passes its timestamp", async () => {
      const ts = await insert([5000n]);
      const before = await node.query({
        ...(await strongScope(w, node)),
        readTs: ts - 1n,
        guaranteeTs: ts - 1n,
        filter: compileFilter("id == 5000", w.info.schema),
        outputFieldIds: [],
        countOnly: true,
      });
      assert.equal(before.count, 0, "invisible at a read timestamp before its insert");
      const scope = await strongScope(w, node, { filter: compileFilter("id == 5000", w.info.schema) });
      const res = await node.query({ ...scope, outputFieldIds: [F.num], countOnly: false });
      assert.deepEqual([...(res.pks as BigInt64Array)], [5000n]);
      for (const ch of w.info.channels) assert.ok(node.tSafe(ch) >= scope.guaranteeTs, `tSafe of ${ch}`);
    });

    it("a guarantee timestamp beyond every tick times out with Timeout", async () => {
      const future = composeTs(Date.now() + 3_600_000, 0);
      const scope = { ...(await strongScope(w, node)), guaranteeTs: future, readTs: future, timeoutMs: 300 };
      const t0 = Date.now();
      await assert.rejects(
        node.query({ ...scope, outputFieldIds: [], countOnly: true }),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, "Timeout");
          assert.match(e.message, /tSafe/);
          assert.match(e.message, new RegExp(w.info.channels[0]!));
          return true;
        },
      );
      assert.ok(Date.now() - t0 >= 250, "waited for the timeout");
      // Eventually (no wait) still answers at once.
      const now = await strongScope(w, node);
      const n = await node.query({
        ...now,
        guaranteeTs: 0n,
        readTs: node.tSafe(w.info.channels[0]!),
        outputFieldIds: [],
        countOnly: true,
      });
      assert.ok(n.count >= 0);
    });

    it("handoff: flushed while watched, sealed copy loaded, no double count and no gap", async () => {
      await insert(range(1000, 700));
      await remove(range(1000, 700).filter((pk) => pk % 9n === 0n));
      await checkAll("growing before flush");
      const before = new Set((await flushedSegments(w)).flatMap((p) => p.segmentIds));
      await w.db.flush("qn");
      const flushed = (await flushedSegments(w)).flatMap((p) => p.segmentIds).filter((id) => !before.has(id));
      assert.ok(flushed.length >= 1, "the flush produced new segments");
      // Until the sealed copies are loaded the growing copies serve the rows.
      await checkAll("flushed, growing copies");
      await loadFlushed(w, node);
      const segs = node.segments();
      for (const id of flushed) {
        assert.ok(segs.sealed.includes(id), `sealed copy of ${id} loaded`);
        assert.ok(!segs.growing.includes(id), `growing copy of ${id} dropped`);
      }
      // The new distribution (sealed listed, growing excluded) and the old one (only the channels)
      // both read every row exactly once.
      await checkAll("after handoff, new distribution", { excludeGrowing: flushed });
      await checkAll("after handoff, old distribution", { sealedSegmentIds: [...before] });
      const live = model.live(await w.db.internals.rootcoord.allocTimestamp()).length;
      assert.equal(await countAll({ excludeGrowing: flushed }), live);
      assert.equal(await countAll({ sealedSegmentIds: [...before] }), live);
    });

    it("a delete after the flush and before the sealed load reaches the sealed copy through the delete buffer", async () => {
      const pks = range(2000, 400);
      await insert(pks);
      await checkAll("growing");
      const before = new Set((await flushedSegments(w)).flatMap((p) => p.segmentIds));
      await w.db.flush("qn");
      const flushed = (await flushedSegments(w)).flatMap((p) => p.segmentIds).filter((id) => !before.has(id));
      // The data node stops: the delete below never reaches a delta log, only the channel.
      await w.db.internals.datanode.close();
      const victims = pks.filter((pk) => pk % 4n === 1n);
      const delTs = await remove(victims);
      await checkAll("deleted from the growing copy");
      await loadFlushed(w, node);
      const ds = w.db.internals.dataservice;
      for (const id of flushed) {
        const info = await ds.getSegmentInfo(id);
        assert.equal(
          info.deltalogs.filter((d) => d.timestampTo >= delTs).length,
          0,
          "the delete is in no delta log",
        );
      }
      const scope = await strongScope(w, node, {
        excludeGrowing: flushed,
        filter: compileFilter(`id in [${victims.join(",")}]`, w.info.schema),
      });
      const res = await node.query({ ...scope, outputFieldIds: [], countOnly: false });
      assert.deepEqual([...(res.pks as BigInt64Array)], [], "deleted rows hidden in the sealed copies");
      await checkAll("sealed copies with buffered deletes", { excludeGrowing: flushed });
    });

    it("the query channels carry requests and results", async () => {
      const channels = { requestChannel: uniqueName("qreq"), resultChannel: uniqueName("qres") };
      await node.addQueryChannel(channels);
      await node.addQueryChannel(channels);
      const mq = w.db.internals.backends.mq;
      const results = await mq.consume(channels.resultChannel, { kind: "after", seq: 0 });
      const scope = await strongScope(w, node);
      const q = Float32Array.from({ length: 2 * DIM }, (_, i) => Math.cos(i));
      const search = searchReq(scope, F.vec, "COSINE", q, 2, 7, [F.tag]);
      const reqs: QueryChannelRequest[] = [
        { requestId: "s1", kind: "search", request: search },
        {
          requestId: "q1",
          kind: "query",
          request: { ...scope, limit: 5, outputFieldIds: [F.num], countOnly: false },
        },
        {
          requestId: "bad",
          kind: "query",
          request: { ...scope, collectionId: 4242n, outputFieldIds: [], countOnly: true },
        },
        {
          requestId: "other",
          nodeId: 99,
          kind: "query",
          request: { ...scope, outputFieldIds: [], countOnly: true },
        },
      ];
      await mq.produce(
        channels.requestChannel,
        reqs.map((x) => encodeWire(x)),
      );
      const got = new Map<string, QueryChannelResult>();
      await waitFor(async () => {
        for (const m of await results.next(100)) {
          const res = decodeWire<QueryChannelResult>(m.payload);
          got.set(res.requestId, res);
        }
        return got.size >= 3;
      }, "three results");
      await results.close();
      assert.ok(!got.has("other"), "a request for another node is not answered");
      const s1 = got.get("s1");
      assert.ok(s1?.ok === true && s1.kind === "search");
      const direct = await node.search(search);
      assert.deepEqual(
        s1.result.results.map((h) => [...(h.pks as BigInt64Array)]),
        direct.results.map((h) => [...(h.pks as BigInt64Array)]),
      );
      assert.deepEqual(s1.result.results[0]!.scores, direct.results[0]!.scores);
      assert.deepEqual(s1.result.results[1]!.fields, direct.results[1]!.fields);
      const q1 = got.get("q1");
      assert.ok(q1?.ok === true && q1.kind === "query");
      checkQuery(
        q1.result as NodeQueryResult,
        model.live(scope.readTs).slice(0, 5),
        "query over the channel",
      );
      const bad = got.get("bad");
      assert.ok(bad?.ok === false);
      assert.equal(bad.error.code, "CollectionNotLoaded");
      await node.removeQueryChannel(channels);
    });

    it("releaseSegments frees the memory; a release twice is harmless", async () => {
      const sealed = node.segments().sealed;
      const victim = sealed[0]!;
      const p = (await w.db.internals.dataservice.getSegmentInfo(victim)).partitionId;
      const before = node.resourceCost().memUsage;
      const req = {
        dbId: w.info.dbId,
        collectionId: w.info.collectionId,
        partitionId: p,
        segmentIds: [victim],
      };
      await node.releaseSegments(req);
      await node.releaseSegments(req);
      const afterMem = node.resourceCost().memUsage;
      const info = await w.db.internals.dataservice.getSegmentInfo(victim);
      assert.ok(before - afterMem >= info.persistedRows * DIM * 4, `memory ${before} → ${afterMem}`);
      assert.ok(!node.segments().sealed.includes(victim));
      const scope = await strongScope(w, node, { sealedSegmentIds: [victim] });
      await assert.rejects(node.query({ ...scope, outputFieldIds: [], countOnly: true }), {
        code: "SegmentNotFound",
      });
      const cpu = node.resourceCost().cpuUsage;
      assert.ok(cpu >= 0 && Number.isFinite(cpu));
    });

    it("a corrupt binlog fails the load with Corrupted and leaves nothing loaded", async () => {
      const sealedBefore = node.segments().sealed;
      const all = (await flushedSegments(w)).flatMap((p) =>
        p.segmentIds.map((id) => ({ id, p: p.partitionId })),
      );
      const target = all.find((x) => !sealedBefore.includes(x.id));
      assert.ok(target !== undefined, "a flushed segment not loaded (released above)");
      const info = await w.db.internals.dataservice.getSegmentInfo(target.id);
      const objects = w.db.internals.backends.objects;
      const path = info.binlogs.find((b) => b.fieldId === F.vec)!.binlogs[0]!.path;
      const bytes = await objects.get(path);
      bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)]! ^ 0xff) & 0xff;
      await objects.put(path, bytes);
      const mem = node.resourceCost().memUsage;
      await assert.rejects(
        node.loadSegments({
          dbId: w.info.dbId,
          collectionId: w.info.collectionId,
          partitionId: target.p,
          segmentIds: [target.id],
          fieldIds: [],
        }),
        { code: "Corrupted" },
      );
      assert.ok(!node.segments().sealed.includes(target.id));
      assert.equal(node.resourceCost().memUsage, mem);
    });

    it("releaseDmChannels stops the channels and frees the growing segments", async () => {
      await node.releaseDmChannels(w.info.channels);
      await node.releaseDmChannels(w.info.channels);
      assert.deepEqual(node.segments().growing, []);
      const scope = await strongScope(w, node);
      await assert.rejects(node.query({ ...scope, outputFieldIds: [], countOnly: true }), {
        code: "ChannelNotFound",
      });
    });
  });
}

liveSuite("embedded backends", false, () => ({}));
const dist = distributedOverrides();
liveSuite("NATS, etcd and S3", dist.skip, () => dist.overrides ?? {});

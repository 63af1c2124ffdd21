/**
 * The dataservice suite, driven through its interface as rootcoord, proxy and data nodes would,
 * on real backends. Each backend (embedded, etcd + NATS) registers it unchanged.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeJsonBytes, encodeJsonBytes } from "../../src/common/json.ts";
import { silentLogger } from "../../src/common/log.ts";
import { physicalOf } from "../../src/common/timestamp.ts";
import type {
  ChannelTickReport,
  DataServiceOptions,
  SegIDAssignment,
  SegIDRequest,
  SegmentInfo,
} from "../../src/dataservice/index.ts";
import { createDataService, maxRowsFor, SegmentState } from "../../src/dataservice/index.ts";
import type { CollectionInfo } from "../../src/rootcoord/types.ts";
import { rng } from "../helpers/env.ts";
import {
  type BackendFactory,
  deltaRequest,
  Env,
  FakeRootCoord,
  rejectsWith,
  StateTrace,
  syncRequest,
  TEST_OPTIONS,
  waitFor,
} from "./harness.ts";

const { GROWING, SEALED, FLUSHING, FLUSHED, DROPPED, NOT_EXIST } = SegmentState;

export function dataServiceSuite(name: string, factory: BackendFactory): void {
  const withEnv =
    (fn: (env: Env) => Promise<void>, options: DataServiceOptions = TEST_OPTIONS) =>
    async (): Promise<void> => {
      const backend = await factory.create();
      const env = await Env.open(backend, options);
      try {
        await fn(env);
      } finally {
        await env.close();
        await backend.cleanup();
      }
    };

  const part = (info: CollectionInfo): bigint => info.partitions[0]!.partitionId;
  const req = (
    info: CollectionInfo,
    channel: string,
    count: number,
    partitionId = part(info),
  ): SegIDRequest => ({
    count,
    channelName: channel,
    collectionId: info.collectionId,
    partitionId,
  });
  const assign1 = async (env: Env, r: SegIDRequest): Promise<SegIDAssignment[]> => [
    ...(await env.ds.assignSegmentID({ perChannelRequest: [r] })).perChannelResponse,
  ];
  const info = (env: Env, id: bigint): Promise<SegmentInfo> => env.ds.getSegmentInfo(id);

  describe(`dataservice on ${name}`, { skip: factory.skip }, () => {
    it(
      "names its channels, creates them, and registers data nodes idempotently",
      withEnv(async (env) => {
        assert.equal(await env.ds.getTimeTickChannel(), "datanode_tt");
        assert.equal(await env.ds.getStatsChannel(), "datanode_stats");
        const channels = await env.backend.mq.listChannels();
        assert.ok(
          channels.includes("datanode_tt") && channels.includes("datanode_stats"),
          channels.join(","),
        );
        const node = await env.addNode(7);
        const init = await env.ds.registerNode({ nodeId: 7, address: "host:1" });
        assert.deepEqual(init, { nodeId: 7, timeTickChannel: "datanode_tt", statsChannel: "datanode_stats" });
        assert.deepEqual(await env.ds.describeNodes(), [{ nodeId: 7, address: "host:1", channels: [] }]);
        const session = await env.backend.kv.get("session/datanode/7");
        assert.ok(session !== undefined, "a live node has a session key");
        assert.ok(session.lease !== undefined, "the session is attached to a lease");
        assert.equal(decodeJsonBytes<{ address: string }>(session.value).address, "host:1");
        await rejectsWith(env.ds.registerNode({ nodeId: -1, address: "" }), "ParameterInvalid");
        assert.equal(node.calls.length, 0);
      }),
    );

    it(
      "assigns rows per channel with a future expiry, reusing, filling and splitting segments",
      withEnv(async (env) => {
        await env.addNode(1);
        const c = await env.collection("c_assign", 2);
        const [ch0, ch1] = c.channels as [string, string];
        const maxRows = maxRowsFor(c.schema, TEST_OPTIONS.segmentMaxBytes!);
        assert.equal(maxRows, 100);
        const before = await env.rc.allocTimestamp();
        const r1 = (await env.ds.assignSegmentID({ perChannelRequest: [req(c, ch0, 30), req(c, ch1, 10)] }))
          .perChannelResponse;
        const after = await env.rc.allocTimestamp();
        assert.equal(r1.length, 2);
        const [a0, a1] = r1 as [SegIDAssignment, SegIDAssignment];
        assert.deepEqual(
          { ch: a0.channelName, n: a0.count, c: a0.collectionId, p: a0.partitionId },
          { ch: ch0, n: 30, c: c.collectionId, p: part(c) },
        );
        assert.deepEqual({ ch: a1.channelName, n: a1.count }, { ch: ch1, n: 10 });
        assert.notEqual(a0.segId, a1.segId);
        for (const a of r1) {
          assert.ok(a.expireTime > after, "an assignment expires in the future");
          assert.ok(physicalOf(a.expireTime) >= physicalOf(before) + 2000, "after assignmentExpirationMs");
        }
        const segA = await info(env, a0.segId);
        assert.equal(segA.state, GROWING);
        assert.equal(segA.maxRows, maxRows);
        assert.equal(segA.channel, ch0);
        assert.equal(segA.lastExpireTime, a0.expireTime);
        assert.ok(segA.createTime > before && segA.createTime < after);

        // A segment with room is reused.
        const r2 = await assign1(env, req(c, ch0, 30));
        assert.deepEqual(
          r2.map((a) => [a.segId, a.count]),
          [[a0.segId, 30]],
        );
        assert.equal((await info(env, a0.segId)).lastExpireTime, r2[0]!.expireTime);
        // The rest of the room, then a new segment.
        const r3 = await assign1(env, req(c, ch0, 50));
        assert.equal(r3.length, 2);
        assert.deepEqual([r3[0]!.segId, r3[0]!.count, r3[1]!.count], [a0.segId, 40, 10]);
        const segB = r3[1]!.segId;
        assert.ok(segB !== a0.segId);
        // A full segment is skipped.
        assert.deepEqual(
          (await assign1(env, req(c, ch0, 5))).map((a) => [a.segId, a.count]),
          [[segB, 5]],
        );
        // A request larger than a segment is split over the open one and new ones.
        const r5 = await assign1(env, req(c, ch1, 250));
        assert.deepEqual(
          r5.map((a) => a.count),
          [90, 100, 60],
        );
        assert.equal(r5[0]!.segId, a1.segId);
        assert.equal(new Set(r5.map((a) => a.segId)).size, 3);
        for (const a of r5) {
          const s = await info(env, a.segId);
          assert.equal(s.channel, ch1);
          assert.equal(s.state, GROWING);
        }
        const shown = (await env.ds.showSegments({ collectionId: c.collectionId, partitionId: part(c) }))
          .segmentIds;
        const expected = [a0.segId, segB, ...r5.map((a) => a.segId)].sort((x, y) => (x < y ? -1 : 1));
        assert.deepEqual(shown, expected);
      }),
    );

    it(
      "rejects bad assignment requests without opening segments",
      withEnv(async (env) => {
        await env.addNode(1);
        const c = await env.collection("c_bad", 2);
        const ch = c.channels[0]!;
        const show = async () =>
          (await env.ds.showSegments({ collectionId: c.collectionId, partitionId: part(c) })).segmentIds;
        for (const count of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
          await rejectsWith(assign1(env, req(c, ch, count)), "ParameterInvalid", `count ${count}`);
        }
        await rejectsWith(assign1(env, { ...req(c, ch, 1), collectionId: 987654321n }), "CollectionNotFound");
        await rejectsWith(assign1(env, req(c, "dml_not_mine", 1)), "ChannelNotFound");
        await rejectsWith(assign1(env, req(c, ch, 1, 424242n)), "PartitionNotFound");
        await rejectsWith(
          env.ds.assignSegmentID({ perChannelRequest: [req(c, ch, 5), req(c, ch, 0)] }),
          "ParameterInvalid",
        );
        await rejectsWith(
          env.ds.assignSegmentID({ perChannelRequest: [req(c, ch, 5), req(c, ch, 1, 424242n)] }),
          "PartitionNotFound",
        );
        assert.deepEqual(await show(), [], "no segment was opened by a rejected request");
        assert.deepEqual((await env.ds.assignSegmentID({ perChannelRequest: [] })).perChannelResponse, []);
        // A partition created after the collection was first seen is found.
        const p2 = await env.rc.addPartition(c.collectionId, "p2");
        assert.equal((await assign1(env, req(c, ch, 3, p2.partitionId))).length, 1);
      }),
    );

    it(
      "flushes a sealed segment only once the tick passes its last expiry; states only move forward",
      withEnv(async (env) => {
        const node = await env.addNode(1);
        const c = await env.collection("c_flush", 1);
        const ch = c.channels[0]!;
        await env.watching(node, [ch]);
        const trace = new StateTrace();
        const [x1] = await assign1(env, req(c, ch, 10));
        const [x2] = await assign1(env, req(c, ch, 10));
        const id = x1!.segId;
        assert.equal(x2!.segId, id);
        assert.ok(x2!.expireTime > x1!.expireTime);
        assert.equal((await info(env, id)).lastExpireTime, x2!.expireTime);
        await trace.observe(env, id);

        // The tick passes the first assignment's expiry only: that allocation is dropped, nothing else.
        await env.report(1, c, ch, x1!.expireTime, [[id, 10]]);
        await trace.observe(env, id);
        assert.equal(await env.state(id), GROWING);
        assert.equal((await env.ds.getSegmentStates({ segmentId: id })).numRows, 10, "rows from the report");

        const flushed = await env.ds.flush({ dbId: 0n, collectionId: c.collectionId });
        assert.deepEqual(flushed.segmentIds, [id]);
        await trace.observe(env, id);
        const sealed = await info(env, id);
        assert.equal(sealed.state, SEALED);
        assert.ok(sealed.sealedTime > sealed.createTime);
        assert.equal(
          sealed.lastExpireTime,
          x2!.expireTime,
          "dropping an expired allocation keeps the last expiry",
        );

        await env.report(1, c, ch, x2!.expireTime - 1n, [[id, 20]]);
        await trace.observe(env, id);
        assert.equal(await env.state(id), SEALED, "tick below lastExpireTime: not flushable");
        assert.deepEqual(node.flushed(), []);

        await env.report(1, c, ch, x2!.expireTime, [[id, 20]]);
        await trace.observe(env, id);
        assert.equal(await env.state(id), FLUSHING);
        assert.deepEqual(node.flushed(), [id]);
        const call = node.calls.find((k) => k.method === "flush");
        assert.ok(call?.method === "flush");
        assert.deepEqual(call.req, { dbId: 0n, collectionId: c.collectionId, segmentIds: [id] });

        // New rows go to a new segment.
        const [x3] = await assign1(env, req(c, ch, 5));
        assert.notEqual(x3!.segId, id);

        const seg = await info(env, id);
        await env.ds.saveBinlogPaths(
          syncRequest(seg, 1, { tag: "l1", rows: 20, persistedSeq: 42, checkpointSeq: 40, flushed: true }),
        );
        await trace.observe(env, id);
        const done = await info(env, id);
        assert.equal(done.state, FLUSHED);
        assert.equal(done.numRows, 20);
        assert.equal(done.persistedRows, 20);
        assert.equal(done.persistedSeq, 42);
        const paths = (await env.ds.getInsertBinlogPaths({ segmentId: id })).fieldIdToPaths;
        assert.deepEqual([...paths.keys()], [0, 1, 100, 101]);
        for (const [f, p] of paths) assert.ok(p.length >= 1, `field ${f} has a binlog`);
        assert.equal((await env.ds.getVChannelInfo(ch)).checkpoint.seq, 40);

        // Later ticks and flushes leave a FLUSHED segment alone.
        await env.report(1, c, ch, x3!.expireTime - 1n, [[id, 25]]);
        await trace.observe(env, id);
        assert.equal((await info(env, id)).numRows, 20);
        const again = await env.ds.flush({ dbId: 0n, collectionId: c.collectionId });
        assert.deepEqual(again.segmentIds, [x3!.segId], "only the new growing segment is sealed");
        await trace.observe(env, id, x3!.segId);
        assert.deepEqual(trace.trace(id), [GROWING, SEALED, FLUSHING, FLUSHED]);
        assert.deepEqual(trace.trace(x3!.segId), [SEALED]);
        await rejectsWith(env.ds.flush({ dbId: 0n, collectionId: 55555555n }), "CollectionNotFound");
      }),
    );

    it(
      "flush() also returns SEALED and FLUSHING segments; a stuck FLUSHING segment is asked again",
      withEnv(async (env) => {
        const node = await env.addNode(1);
        const c = await env.collection("c_retry", 2);
        const [ch0, ch1] = c.channels as [string, string];
        await env.watching(node, c.channels);
        const [a] = await assign1(env, req(c, ch0, 5));
        const [b] = await assign1(env, req(c, ch1, 5));
        const ids = [a!.segId, b!.segId].sort((x, y) => (x < y ? -1 : 1));
        assert.deepEqual((await env.ds.flush({ dbId: 0n, collectionId: c.collectionId })).segmentIds, ids);
        await env.report(1, c, ch0, a!.expireTime, [[a!.segId, 5]]);
        assert.equal(await env.state(a!.segId), FLUSHING);
        assert.equal(await env.state(b!.segId), SEALED);
        assert.deepEqual((await env.ds.flush({ dbId: 0n, collectionId: c.collectionId })).segmentIds, ids);
        assert.deepEqual(node.flushed(), [a!.segId]);
        // The node "restarted" and forgot: a later report brings the request again.
        await new Promise((r) => setTimeout(r, 150));
        await env.report(1, c, ch0, a!.expireTime + 1n, [[a!.segId, 5]]);
        assert.deepEqual(node.flushed(), [a!.segId, a!.segId]);
        assert.equal(await env.state(a!.segId), FLUSHING);
      }),
    );

    it(
      "shows segments per partition, NOT_EXIST for unknown IDs, channels and channel info",
      withEnv(async (env) => {
        await env.addNode(1);
        const c = await env.collection("c_show", 2);
        const [ch0, ch1] = c.channels as [string, string];
        const p2 = (await env.rc.addPartition(c.collectionId, "p2")).partitionId;
        const [d0] = await assign1(env, req(c, ch0, 5));
        const [d1] = await assign1(env, req(c, ch1, 5));
        const [e0] = await assign1(env, req(c, ch0, 3, p2));
        const sorted = (xs: bigint[]) => xs.sort((x, y) => (x < y ? -1 : 1));
        assert.deepEqual(
          (await env.ds.showSegments({ collectionId: c.collectionId, partitionId: part(c) })).segmentIds,
          sorted([d0!.segId, d1!.segId]),
        );
        assert.deepEqual(
          (await env.ds.showSegments({ collectionId: c.collectionId, partitionId: p2 })).segmentIds,
          [e0!.segId],
        );
        assert.deepEqual(
          (await env.ds.showSegments({ collectionId: c.collectionId, partitionId: 1n })).segmentIds,
          [],
        );
        assert.deepEqual(await env.ds.getSegmentStates({ segmentId: 999999999n }), {
          state: NOT_EXIST,
          createTime: 0n,
          sealedTime: 0n,
          numRows: 0,
        });
        const st = await env.ds.getSegmentStates({ segmentId: d0!.segId });
        assert.equal(st.state, GROWING);
        assert.ok(st.createTime > 0n);
        assert.equal(st.sealedTime, 0n);
        await rejectsWith(env.ds.getSegmentInfo(999999999n), "SegmentNotFound");
        await rejectsWith(env.ds.getInsertBinlogPaths({ segmentId: 999999999n }), "SegmentNotFound");
        assert.equal((await env.ds.getInsertBinlogPaths({ segmentId: d0!.segId })).fieldIdToPaths.size, 0);
        assert.deepEqual(
          await env.ds.getInsertChannels({ dbId: 0n, collectionId: c.collectionId }),
          c.channels,
        );
        await rejectsWith(env.ds.getInsertChannels({ dbId: 0n, collectionId: 31337n }), "CollectionNotFound");
        const v = await env.ds.getVChannelInfo(ch0);
        assert.equal(v.collectionId, c.collectionId);
        assert.equal(v.channel, ch0);
        assert.deepEqual(v.checkpoint, { channel: ch0, seq: 0, timestamp: 0n });
        assert.deepEqual(
          v.segments.map((s) => s.segmentId),
          sorted([d0!.segId, e0!.segId]),
        );
        await rejectsWith(env.ds.getVChannelInfo("no_such_channel"), "ChannelNotFound");
        // Announcing the same channels again is a no-op; another collection cannot claim them.
        await env.ds.watchChannels(c.collectionId, c.channels);
        assert.deepEqual(await env.ds.getVChannelInfo(ch0), v);
        await rejectsWith(env.ds.watchChannels(c.collectionId + 1000n, [ch0]), "ParameterInvalid");
        await rejectsWith(env.ds.watchChannels(c.collectionId, []), "ParameterInvalid");
        await rejectsWith(env.ds.watchChannels(c.collectionId, ["bad name"]), "ParameterInvalid");
      }),
    );

    it(
      "saveBinlogPaths commits files, position and checkpoint together; idempotent; rejects bad writers",
      withEnv(async (env) => {
        await env.addNode(1);
        await env.addNode(2);
        const c = await env.collection("c_save", 1);
        const ch = c.channels[0]!;
        assert.equal(await env.owner(ch), 1);
        const [x] = await assign1(env, req(c, ch, 10));
        const id = x!.segId;
        const seg = await info(env, id);
        const cp = async () => (await env.ds.getVChannelInfo(ch)).checkpoint.seq;

        const s1 = syncRequest(seg, 1, { tag: "s1", rows: 6, persistedSeq: 10, checkpointSeq: 8 });
        await env.ds.saveBinlogPaths(s1);
        const after1 = await info(env, id);
        assert.equal(after1.state, GROWING);
        assert.deepEqual([after1.persistedRows, after1.persistedSeq, await cp()], [6, 10, 8]);
        assert.deepEqual(
          after1.binlogs.map((f) => [f.fieldId, f.binlogs.length]),
          [
            [0, 1],
            [1, 1],
            [100, 1],
            [101, 1],
          ],
        );
        assert.equal(after1.statslogs[0]?.binlogs.length, 1);
        await env.ds.saveBinlogPaths(s1);
        assert.deepEqual(await info(env, id), after1, "a retried identical request changes nothing");
        assert.equal(await cp(), 8);

        const s2 = syncRequest(seg, 1, { tag: "s2", rows: 9, persistedSeq: 20, checkpointSeq: 5 });
        await env.ds.saveBinlogPaths(s2);
        const after2 = await info(env, id);
        assert.deepEqual([after2.persistedRows, after2.persistedSeq], [9, 20]);
        assert.equal(await cp(), 8, "the checkpoint never moves back");
        const paths = (await env.ds.getInsertBinlogPaths({ segmentId: id })).fieldIdToPaths;
        assert.deepEqual(paths.get(101), [
          `insert_log/${c.collectionId}/${part(c)}/${id}/101/s1`,
          `insert_log/${c.collectionId}/${part(c)}/${id}/101/s2`,
        ]);

        const base = { rows: 9, persistedSeq: 30, checkpointSeq: 30 };
        const dup = syncRequest(seg, 1, { tag: "d", ...base });
        const bad: [string, unknown, string][] = [
          ["not the owner", syncRequest(seg, 2, { tag: "x1", ...base }), "ParameterInvalid"],
          [
            "flushed while GROWING",
            syncRequest(seg, 1, { tag: "x2", ...base, flushed: true }),
            "ParameterInvalid",
          ],
          [
            "persistedSeq backwards",
            syncRequest(seg, 1, { tag: "x3", ...base, persistedSeq: 15 }),
            "ParameterInvalid",
          ],
          [
            "persistedRows backwards",
            syncRequest(seg, 1, { tag: "x4", ...base, rows: 3 }),
            "ParameterInvalid",
          ],
          [
            "wrong partition",
            { ...syncRequest(seg, 1, { tag: "x5", ...base }), partitionId: 123n },
            "ParameterInvalid",
          ],
          [
            "wrong channel",
            { ...syncRequest(seg, 1, { tag: "x6", ...base }), channel: "dml_x" },
            "ParameterInvalid",
          ],
          [
            "unknown segment",
            { ...syncRequest(seg, 1, { tag: "x7", ...base }), segmentId: 987654321n },
            "SegmentNotFound",
          ],
          [
            "checkpoint of another channel",
            {
              ...syncRequest(seg, 1, { tag: "x8", ...base }),
              checkpoint: { channel: "other", seq: 40, timestamp: 1n },
            },
            "ParameterInvalid",
          ],
          [
            "path twice",
            {
              ...dup,
              fieldBinlogs: [...dup.fieldBinlogs, { fieldId: 7, binlogs: dup.fieldBinlogs[0]!.binlogs }],
            },
            "ParameterInvalid",
          ],
          [
            "negative node",
            { ...syncRequest(seg, 1, { tag: "x9", ...base }), nodeId: -3 },
            "ParameterInvalid",
          ],
        ];
        for (const [what, r, code] of bad) {
          // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed requests
          await rejectsWith(env.ds.saveBinlogPaths(r as any), code, what);
          assert.deepEqual(await info(env, id), after2, `${what}: nothing changed`);
          assert.equal(await cp(), 8, `${what}: checkpoint unchanged`);
        }

        // The final sync: seal, tick past the expiry, flushed=true; a retry succeeds, new writes are refused.
        await env.ds.flush({ dbId: 0n, collectionId: c.collectionId });
        await env.report(1, c, ch, x!.expireTime, [[id, 10]]);
        assert.equal(await env.state(id), FLUSHING);
        const s3 = syncRequest(seg, 1, {
          tag: "s3",
          rows: 10,
          persistedSeq: 30,
          checkpointSeq: 31,
          flushed: true,
        });
        await env.ds.saveBinlogPaths(s3);
        const final = await info(env, id);
        assert.equal(final.state, FLUSHED);
        assert.equal(await cp(), 31);
        await env.ds.saveBinlogPaths(s3);
        assert.deepEqual(await info(env, id), final);
        await rejectsWith(
          env.ds.saveBinlogPaths(
            syncRequest(seg, 1, { tag: "s4", rows: 10, persistedSeq: 40, checkpointSeq: 40 }),
          ),
          "ParameterInvalid",
        );
        assert.deepEqual(await info(env, id), final);
        assert.equal((await env.ds.getInsertBinlogPaths({ segmentId: id })).fieldIdToPaths.get(0)?.length, 3);

        // Writes to a dropped collection's segments are refused.
        const [y] = await assign1(env, req(c, ch, 1));
        const segY = await info(env, y!.segId);
        await env.ds.dropCollection(c.collectionId);
        await rejectsWith(
          env.ds.saveBinlogPaths(
            syncRequest(segY, 1, { tag: "y1", rows: 1, persistedSeq: 50, checkpointSeq: 50 }),
          ),
          "ParameterInvalid",
        );
      }),
    );

    it(
      "a FLUSHED segment takes delta-only saves (appended, seq and checkpoint forward, still FLUSHED) and nothing else",
      withEnv(async (env) => {
        await env.addNode(1);
        await env.addNode(2);
        const c = await env.collection("c_delta", 1);
        const ch = c.channels[0]!;
        assert.equal(await env.owner(ch), 1);
        const [x] = await assign1(env, req(c, ch, 10));
        const id = x!.segId;
        await env.ds.flush({ dbId: 0n, collectionId: c.collectionId });
        await env.report(1, c, ch, x!.expireTime, [[id, 10]]);
        assert.equal(await env.state(id), FLUSHING);
        await env.ds.saveBinlogPaths(
          syncRequest(await info(env, id), 1, {
            tag: "f",
            rows: 10,
            persistedSeq: 30,
            checkpointSeq: 28,
            flushed: true,
          }),
        );
        const flushed = await info(env, id);
        assert.equal(flushed.state, FLUSHED);
        const cp = async () => (await env.ds.getVChannelInfo(ch)).checkpoint.seq;
        assert.equal(await cp(), 28);

        // Accepted: the delta log is appended, persistedSeq and checkpoint move, nothing else changes.
        const d1 = deltaRequest(flushed, 1, { tag: "d1", entries: 3, persistedSeq: 40, checkpointSeq: 35 });
        await env.ds.saveBinlogPaths(d1);
        const after1 = await info(env, id);
        assert.deepEqual(after1, { ...flushed, persistedSeq: 40, deltalogs: d1.deltalogs });
        assert.equal(await cp(), 35);
        assert.equal(await env.state(id), FLUSHED);
        assert.equal((await env.ds.getSegmentStates({ segmentId: id })).numRows, 10);

        // A retried identical request is a no-op, even once later saves went in.
        await env.ds.saveBinlogPaths(d1);
        assert.deepEqual(await info(env, id), after1, "retry changed the segment");
        assert.equal(await cp(), 35);
        const d2 = deltaRequest(flushed, 1, { tag: "d2", entries: 1, persistedSeq: 50, checkpointSeq: 33 });
        await env.ds.saveBinlogPaths(d2);
        const after2 = await info(env, id);
        assert.deepEqual(
          after2.deltalogs.map((d) => d.path),
          [d1.deltalogs[0]!.path, d2.deltalogs[0]!.path],
        );
        assert.equal(after2.persistedSeq, 50);
        assert.equal(await cp(), 35, "the checkpoint never moves back");
        await env.ds.saveBinlogPaths(d1);
        await env.ds.saveBinlogPaths(d2);
        assert.deepEqual(await info(env, id), after2, "late retries changed the segment");

        // Everything else on a FLUSHED segment is refused and changes nothing.
        const base = { entries: 2, persistedSeq: 60, checkpointSeq: 60 };
        const full = syncRequest(flushed, 1, { tag: "r0", rows: 10, persistedSeq: 60, checkpointSeq: 60 });
        const bad: [string, unknown][] = [
          [
            "field binlogs",
            { ...deltaRequest(flushed, 1, { tag: "r1", ...base }), fieldBinlogs: full.fieldBinlogs },
          ],
          ["stats logs", { ...deltaRequest(flushed, 1, { tag: "r2", ...base }), statslogs: full.statslogs }],
          ["flushed=true", { ...deltaRequest(flushed, 1, { tag: "r3", ...base }), flushed: true }],
          ["persistedSeq backwards", deltaRequest(flushed, 1, { tag: "r4", ...base, persistedSeq: 45 })],
          ["persistedSeq not forward", deltaRequest(flushed, 1, { tag: "r5", ...base, persistedSeq: 50 })],
          [
            "persistedRows changed",
            { ...deltaRequest(flushed, 1, { tag: "r6", ...base }), persistedRows: 11 },
          ],
          ["no delta log", { ...deltaRequest(flushed, 1, { tag: "r7", ...base }), deltalogs: [] }],
          ["not the owner", deltaRequest(flushed, 2, { tag: "r8", ...base })],
          ["a full sync", full],
        ];
        for (const [what, r] of bad) {
          // biome-ignore lint/suspicious/noExplicitAny: deliberately invalid requests
          await rejectsWith(env.ds.saveBinlogPaths(r as any), "ParameterInvalid", what);
          assert.deepEqual(await info(env, id), after2, `${what}: nothing changed`);
          assert.equal(await cp(), 35, `${what}: checkpoint unchanged`);
        }

        // Durable, and handed to a data node that (re)starts the channel.
        await env.restart();
        assert.deepEqual(await info(env, id), after2);
        const v = await env.ds.getVChannelInfo(ch);
        assert.equal(v.checkpoint.seq, 35);
        assert.deepEqual(
          v.segments.find((s) => s.segmentId === id),
          after2,
        );

        // A dropped segment takes nothing.
        await env.ds.dropCollection(c.collectionId);
        await rejectsWith(
          env.ds.saveBinlogPaths(deltaRequest(after2, 1, { tag: "r9", ...base })),
          "ParameterInvalid",
          "dropped",
        );
      }),
    );

    it(
      "seals by size on reports, by idle time and by lifetime on its timer",
      withEnv(
        async (env) => {
          await env.addNode(1);
          const c = await env.collection("c_seal", 2);
          const [ch0, ch1] = c.channels as [string, string];
          // Size: the reported rows reach maxRows.
          const [a] = await assign1(env, req(c, ch0, 100));
          const t0 = await env.rc.allocTimestamp();
          await env.report(1, c, ch0, t0, [[a!.segId, 99]]);
          assert.equal(await env.state(a!.segId), GROWING);
          await env.report(1, c, ch0, t0 + 1n, [[a!.segId, 100]]);
          assert.equal(await env.state(a!.segId), SEALED);
          assert.ok((await info(env, a!.segId)).sealedTime > 0n);

          // Idle: rows and no new assignment for segmentMaxIdleMs (300). Lifetime: 1500 ms.
          const startB = Date.now();
          const [b] = await assign1(env, req(c, ch1, 5));
          const [cc] = await assign1(env, req(c, ch0, 5));
          assert.notEqual(cc!.segId, a!.segId);
          await env.report(1, c, ch1, t0 + 2n, [[b!.segId, 5]]);
          if (Date.now() - startB < 250) assert.equal(await env.state(b!.segId), GROWING);
          await waitFor(
            "the idle segment to be sealed",
            async () => (await env.state(b!.segId)) === SEALED,
            3000,
          );
          assert.ok(
            Date.now() - startB >= 290,
            `sealed after ${Date.now() - startB} ms, before the idle time`,
          );
          if (Date.now() - startB < 1400) {
            assert.equal(await env.state(cc!.segId), GROWING, "a segment without rows is never idle-sealed");
          }
          await waitFor(
            "the old segment to be sealed",
            async () => (await env.state(cc!.segId)) === SEALED,
            4000,
          );
          assert.ok(
            Date.now() - startB >= 1450,
            `sealed after ${Date.now() - startB} ms, before its lifetime`,
          );
        },
        { ...TEST_OPTIONS, segmentMaxIdleMs: 300, segmentMaxLifetimeMs: 1500 },
      ),
    );

    it(
      "assigns channels to live nodes, least loaded first, and moves them when a node leaves",
      withEnv(async (env) => {
        const c1 = await env.collection("c_nodes1", 4);
        assert.deepEqual(await env.ds.describeNodes(), []);
        assert.equal((await env.ds.getVChannelInfo(c1.channels[0]!)).collectionId, c1.collectionId);
        const n1 = await env.addNode(1);
        await env.watching(n1, c1.channels);
        for (const ch of c1.channels) assert.equal(await env.owner(ch), 1);
        const n2 = await env.addNode(2);
        // A node that joins takes over channels until counts differ by at most one; the old
        // owner is told to release them (its later saves are refused: it no longer owns them).
        const handed: string[] = [];
        for (const ch of c1.channels) if ((await env.owner(ch)) === 2) handed.push(ch);
        assert.equal(handed.length, 2, "node 2 took over half of node 1's channels");
        await env.watching(n2, handed);
        await waitFor("node 1 to release the handed-over channels", () =>
          handed.every((ch) => n1.released().includes(ch)),
        );
        const c2 = await env.collection("c_nodes2", 2);
        const owners2: (number | undefined)[] = [];
        for (const ch of c2.channels) owners2.push(await env.owner(ch));
        assert.deepEqual([...owners2].sort(), [1, 2], "new channels go to the least loaded nodes");
        await env.watching(
          n1,
          c2.channels.filter((_, i) => owners2[i] === 1),
        );
        await env.watching(
          n2,
          c2.channels.filter((_, i) => owners2[i] === 2),
        );

        // Unregistered: its channels move to the others, it is told to release them, its session ends.
        await env.ds.unregisterNode(1);
        for (const ch of c1.channels) assert.equal(await env.owner(ch), 2);
        await env.watching(n2, c1.channels);
        await waitFor("node 1 to release its channels", () =>
          c1.channels.every((ch) => n1.released().includes(ch)),
        );
        assert.equal(await env.backend.kv.get("session/datanode/1"), undefined);
        assert.ok((await env.backend.kv.get("session/datanode/2")) !== undefined);
        await env.ds.unregisterNode(1);

        // A node whose calls fail with Closed is gone. (Node 3 first takes over half of node 2's.)
        const n3 = await env.addNode(3);
        const counts = new Map((await env.ds.describeNodes()).map((n) => [n.nodeId, n.channels.length]));
        assert.deepEqual([counts.get(2), counts.get(3)], [3, 3]);
        const all = [...c1.channels, ...c2.channels];
        let pick: { coll: typeof c1; ch: string } | undefined;
        for (const ch of all) {
          if (pick === undefined && (await env.owner(ch)) === 2)
            pick = { coll: c1.channels.includes(ch) ? c1 : c2, ch };
        }
        assert.ok(pick !== undefined);
        const { coll, ch } = pick;
        const [a] = await assign1(env, req(coll, ch, 1));
        await env.ds.flush({ dbId: 0n, collectionId: coll.collectionId });
        n2.closed = true;
        await env.report(2, coll, ch, a!.expireTime, []);
        await waitFor("node 2's channels to move to node 3", async () => (await env.owner(ch)) === 3);
        for (const k of all) assert.equal(await env.owner(k), 3);
        await env.watching(n3, all);
        // The new owner is asked to flush the segment its predecessor never finished.
        assert.equal(await env.state(a!.segId), FLUSHING);
        await env.report(3, coll, ch, a!.expireTime, []);
        assert.deepEqual(n3.flushed(), [a!.segId]);

        // A report from a former owner is ignored.
        const [b] = await assign1(env, req(c1, c1.channels[0]!, 1));
        await env.ds.flush({ dbId: 0n, collectionId: c1.collectionId });
        await env.report(1, c1, c1.channels[0]!, b!.expireTime + 1000n, [[b!.segId, 1]]);
        assert.equal(await env.state(b!.segId), SEALED);

        // A node the resolver no longer knows is gone once its session TTL passed.
        const n4 = await env.addNode(4);
        env.nodes.delete(3);
        await waitFor(
          "node 3's channels to move to node 4",
          async () => (await env.owner(all[0]!)) === 4,
          5000,
        );
        for (const k of all) assert.equal(await env.owner(k), 4);
        await env.watching(n4, all);

        // With no live node the channels wait; the next node to register gets them all.
        await env.ds.unregisterNode(4);
        assert.deepEqual(await env.ds.describeNodes(), []);
        const n5 = await env.addNode(5);
        for (const k of all) assert.equal(await env.owner(k), 5);
        await env.watching(n5, all);

        // Registering again (the node restarted) re-sends its channels.
        const watches = () =>
          n5.calls.filter((k) => k.method === "watchDmChannels").flatMap((k) => k.channels);
        const before = watches().length;
        n5.watched.clear();
        const ttSeq = await env.backend.mq.lastSeq("datanode_tt");
        await env.ds.registerNode({ nodeId: 5, address: "" });
        await env.watching(n5, all);
        // Its reports from before the restart are fenced off.
        const rec = await env.backend.kv.get(`dataservice/channel/${all[0]}`);
        assert.equal(decodeJsonBytes<{ watchedAfterTtSeq: number }>(rec!.value).watchedAfterTtSeq, ttSeq);
        assert.equal(watches().length, before + all.length);
        assert.equal((await env.ds.describeNodes()).length, 1);
      }),
    );

    it(
      "recovers segments, allocations, assignments and checkpoints after a restart",
      withEnv(async (env) => {
        const node = await env.addNode(1);
        const c1 = await env.collection("c_rs1", 1);
        const c2 = await env.collection("c_rs2", 2);
        const [q0, q1] = c2.channels as [string, string];
        await env.watching(node, [...c1.channels, ...c2.channels]);
        // c1: a segment whose room is all handed out (allocation live).
        const [full] = await assign1(env, req(c1, c1.channels[0]!, 100));
        // c2: FLUSHED (b), FLUSHING (cc), SEALED (d) segments and a moved checkpoint.
        const [b] = await assign1(env, req(c2, q0, 4));
        await env.ds.flush({ dbId: 0n, collectionId: c2.collectionId });
        await env.report(1, c2, q0, b!.expireTime, [[b!.segId, 4]]);
        await env.ds.saveBinlogPaths(
          syncRequest(await info(env, b!.segId), 1, {
            tag: "b1",
            rows: 4,
            persistedSeq: 12,
            checkpointSeq: 12,
            flushed: true,
          }),
        );
        const [cc] = await assign1(env, req(c2, q0, 6));
        const [d] = await assign1(env, req(c2, q1, 7));
        await env.ds.flush({ dbId: 0n, collectionId: c2.collectionId });
        await env.report(1, c2, q0, cc!.expireTime, [[cc!.segId, 6]]);
        await env.report(1, c2, q1, d!.expireTime - 1n, [[d!.segId, 7]]);
        assert.deepEqual(await Promise.all([full, b, cc, d].map((x) => env.state(x!.segId))), [
          GROWING,
          FLUSHED,
          FLUSHING,
          SEALED,
        ]);
        const ids = [full!.segId, b!.segId, cc!.segId, d!.segId];
        const snapshot = async () => ({
          segments: await Promise.all(ids.map((id) => info(env, id))),
          states: await Promise.all(ids.map((id) => env.ds.getSegmentStates({ segmentId: id }))),
          channels: await Promise.all(
            [...c1.channels, ...c2.channels].map((ch) => env.ds.getVChannelInfo(ch)),
          ),
          nodes: await env.ds.describeNodes(),
          shown: await env.ds.showSegments({ collectionId: c2.collectionId, partitionId: part(c2) }),
          paths: [...(await env.ds.getInsertBinlogPaths({ segmentId: b!.segId })).fieldIdToPaths],
          ttCheckpoint: await env.backend.mq.loadCheckpoint("dataservice", "datanode_tt"),
        });
        const before = await snapshot();
        const flushCallsBefore = node.flushed().length;
        await env.restart();
        assert.deepEqual(await snapshot(), before, "state is identical after the restart");
        assert.ok(
          (await env.backend.kv.get("session/datanode/1"))?.lease !== undefined,
          "the live node keeps a session",
        );

        // The full segment's allocation survived: new rows go to a new segment.
        const [n] = await assign1(env, req(c1, c1.channels[0]!, 1));
        assert.notEqual(n!.segId, full!.segId);
        // The sealed segment's last expiry survived: not flushed below it, flushed at it.
        await env.report(1, c2, q1, d!.expireTime - 1n, [[d!.segId, 7]]);
        assert.equal(await env.state(d!.segId), SEALED);
        assert.ok(!node.flushed().slice(flushCallsBefore).includes(d!.segId));
        await env.report(1, c2, q1, d!.expireTime, [[d!.segId, 7]]);
        assert.equal(await env.state(d!.segId), FLUSHING);
        // The FLUSHING segment is asked again after the restart.
        await env.report(1, c2, q0, cc!.expireTime + 1n, [[cc!.segId, 6]]);
        assert.ok(node.flushed().slice(flushCallsBefore).includes(cc!.segId));
        assert.ok(node.flushed().slice(flushCallsBefore).includes(d!.segId));
      }),
    );

    it(
      "keeps every committed decision across a crash (no close)",
      withEnv(async (env) => {
        const node = await env.addNode(1);
        const c = await env.collection("c_crash", 1);
        const ch = c.channels[0]!;
        await env.watching(node, c.channels);
        const [a] = await assign1(env, req(c, ch, 100));
        await env.ds.flush({ dbId: 0n, collectionId: c.collectionId });
        const [b] = await assign1(env, req(c, ch, 30));
        await env.ds.saveBinlogPaths(
          syncRequest(await info(env, b!.segId), 1, {
            tag: "b1",
            rows: 10,
            persistedSeq: 9,
            checkpointSeq: 9,
          }),
        );
        const durable = async () => {
          const segs = await Promise.all([a, b].map((x) => info(env, x!.segId)));
          // Row counts from reports are persisted lazily; everything else is committed before the reply.
          return { segs: segs.map((s) => ({ ...s, numRows: 0 })), vc: await env.ds.getVChannelInfo(ch) };
        };
        const before = await durable();
        // Crash: the backends go away under the running service; a new one starts on the same state.
        const crashed = env.ds;
        await env.backend.reopen();
        await env.restartAfterCrash();
        await crashed.close();
        assert.deepEqual(await durable(), before);
        // B's live allocation of 30 survived, and its 10 persisted rows count too (conservatively,
        // until a tick passes the allocation's expiry): 60 rows of room are left.
        const next = await assign1(env, req(c, ch, 80));
        assert.deepEqual(
          next.map((x) => [x.segId === b!.segId, x.count]),
          [
            [true, 60],
            [false, 20],
          ],
        );
        await env.report(1, c, ch, a!.expireTime - 1n, []);
        assert.equal(await env.state(a!.segId), SEALED);
        await env.report(1, c, ch, a!.expireTime, []);
        assert.equal(await env.state(a!.segId), FLUSHING);
      }),
    );

    it(
      "dropCollection drops every segment and releases the channels, durably",
      withEnv(async (env) => {
        const node = await env.addNode(1);
        const c = await env.collection("c_drop", 2);
        const keep = await env.collection("c_keep", 1);
        await env.watching(node, [...c.channels, ...keep.channels]);
        const [a] = await assign1(env, req(c, c.channels[0]!, 3));
        const [b] = await assign1(env, req(c, c.channels[1]!, 3));
        const [k] = await assign1(env, req(keep, keep.channels[0]!, 3));
        await env.ds.flush({ dbId: 0n, collectionId: c.collectionId });
        await env.ds.dropCollection(c.collectionId);
        const check = async () => {
          assert.equal(await env.state(a!.segId), DROPPED);
          assert.equal(await env.state(b!.segId), DROPPED);
          assert.equal(await env.state(k!.segId), GROWING);
          assert.deepEqual(
            (await env.ds.showSegments({ collectionId: c.collectionId, partitionId: part(c) })).segmentIds,
            [],
          );
          for (const ch of c.channels) await rejectsWith(env.ds.getVChannelInfo(ch), "ChannelNotFound");
          assert.deepEqual((await env.ds.describeNodes())[0]?.channels, [...keep.channels]);
        };
        await check();
        await waitFor("the channels to be released", () =>
          c.channels.every((ch) => node.released().includes(ch)),
        );
        await env.ds.dropCollection(c.collectionId);
        await env.report(1, c, c.channels[0]!, a!.expireTime + 10n, [[a!.segId, 3]]);
        await env.restart();
        await check();
      }),
    );

    it(
      "ignores malformed reports, reports from non-owners and for other collections",
      withEnv(async (env) => {
        const n1 = await env.addNode(1);
        const n2 = await env.addNode(2);
        const c = await env.collection("c_reports", 1);
        const other = await env.collection("c_other", 1);
        const ch = c.channels[0]!;
        assert.equal(await env.owner(ch), 1);
        const [a] = await assign1(env, req(c, ch, 5));
        await env.ds.flush({ dbId: 0n, collectionId: c.collectionId });
        const [p1] = await env.backend.mq.produce("datanode_tt", [new Uint8Array([1, 2, 3])]);
        await env.processed(p1!.seq);
        const [p2] = await env.backend.mq.produce("datanode_tt", [
          new TextEncoder().encode('{"nodeId":"x"}'),
        ]);
        await env.processed(p2!.seq);
        await env.report(2, c, ch, a!.expireTime + 10n, [[a!.segId, 5]]);
        await env.report(1, other, ch, a!.expireTime + 10n, [[a!.segId, 5]]);
        assert.equal(await env.state(a!.segId), SEALED);
        assert.deepEqual([...n1.flushed(), ...n2.flushed()], []);
        await env.report(1, c, ch, a!.expireTime, [[a!.segId, 5]]);
        assert.equal(await env.state(a!.segId), FLUSHING);
        assert.deepEqual(n1.flushed(), [a!.segId]);
      }),
    );

    it(
      "ignores tick reports a re-registered node sent before its restart",
      withEnv(async (env) => {
        const node = await env.addNode(1);
        const c = await env.collection("c_fence", 1);
        const other = await env.collection("c_fence2", 1);
        const ch = c.channels[0]!;
        await env.watching(node, [ch]);
        const [a] = await assign1(env, req(c, ch, 5));
        await env.ds.flush({ dbId: 0n, collectionId: c.collectionId });
        // Hold the meta lock (an assignment waits for a timestamp) so that the re-registration
        // and a report sent before it queue up behind it, in that order.
        const release = env.rc.hold();
        const pending = assign1(env, req(other, other.channels[0]!, 1));
        await waitFor("the assignment to hold the lock", () => env.rc.held === 1);
        const registered = env.ds.registerNode({ nodeId: 1, address: "" });
        const stale: ChannelTickReport = {
          nodeId: 1,
          channel: ch,
          collectionId: c.collectionId,
          timestamp: a!.expireTime + 1000n,
          seq: 1,
          segments: [{ segmentId: a!.segId, numRows: 5 }],
        };
        const [pos] = await env.backend.mq.produce("datanode_tt", [encodeJsonBytes(stale)]);
        release();
        await pending;
        await registered;
        await env.processed(pos!.seq);
        assert.equal(await env.state(a!.segId), SEALED, "a report from before the restart is ignored");
        assert.deepEqual(node.flushed(), []);
        await env.report(1, c, ch, a!.expireTime + 1001n, [[a!.segId, 5]]);
        assert.equal(await env.state(a!.segId), FLUSHING);
        assert.deepEqual(node.flushed(), [a!.segId]);
      }),
    );

    it(
      "serialises concurrent assignments: no segment is over-assigned and requests add up",
      withEnv(async (env) => {
        await env.addNode(1);
        const c = await env.collection("c_conc", 2);
        const p2 = (await env.rc.addPartition(c.collectionId, "p2")).partitionId;
        const seed = 20240611;
        const r = rng(seed);
        try {
          const requests: SegIDRequest[][] = Array.from({ length: 40 }, () =>
            Array.from({ length: 1 + Math.floor(r() * 3) }, () =>
              req(c, c.channels[Math.floor(r() * 2)]!, 1 + Math.floor(r() * 150), r() < 0.5 ? part(c) : p2),
            ),
          );
          const responses = await Promise.all(
            requests.map((perChannelRequest) => env.ds.assignSegmentID({ perChannelRequest })),
          );
          const perSegment = new Map<bigint, number>();
          const segGroup = new Map<bigint, string>();
          const perGroup = new Map<string, number>();
          for (const [i, rs] of requests.entries()) {
            const got = responses[i]!.perChannelResponse;
            const want = rs.reduce((s, q) => s + q.count, 0);
            assert.equal(
              got.reduce((s, a) => s + a.count, 0),
              want,
              "a response adds up to its request",
            );
            for (const a of got) {
              perSegment.set(a.segId, (perSegment.get(a.segId) ?? 0) + a.count);
              segGroup.set(a.segId, `${a.channelName}/${a.partitionId}`);
              const s = await info(env, a.segId);
              assert.deepEqual([s.channel, s.partitionId], [a.channelName, a.partitionId]);
            }
            for (const q of rs) {
              const key = `${q.channelName}/${q.partitionId}`;
              perGroup.set(key, (perGroup.get(key) ?? 0) + q.count);
              const mine = got.filter((a) => `${a.channelName}/${a.partitionId}` === key);
              assert.ok(mine.reduce((s, a) => s + a.count, 0) >= q.count);
            }
          }
          for (const [id, n] of perSegment) assert.ok(n <= 100, `segment ${id} over-assigned: ${n}`);
          // Segments are filled in order, so each group has exactly ceil(total / maxRows) segments.
          for (const [key, total] of perGroup) {
            const segs = [...segGroup].filter(([, g]) => g === key);
            assert.equal(segs.length, Math.ceil(total / 100), `group ${key}`);
          }
        } catch (e) {
          console.log(`concurrent assignment test failed with seed ${seed}`);
          throw e;
        }
      }),
    );

    it(
      "refuses calls before start and after close",
      withEnv(async (env) => {
        const rc = await FakeRootCoord.open(env.backend.kv);
        const idle = createDataService(
          {
            kv: env.backend.kv,
            mq: env.backend.mq,
            rootcoord: rc,
            dataNodes: () => undefined,
            logger: silentLogger(),
          },
          TEST_OPTIONS,
        );
        await rejectsWith(idle.getSegmentStates({ segmentId: 1n }), "ServiceNotReady");
        await rejectsWith(idle.assignSegmentID({ perChannelRequest: [] }), "ServiceNotReady");
        await idle.close();
        await rc.close();
        await env.ds.close();
        await rejectsWith(env.ds.getSegmentStates({ segmentId: 1n }), "Closed");
        await rejectsWith(env.ds.registerNode({ nodeId: 1, address: "" }), "Closed");
        await env.ds.close();
      }),
    );
  });
}

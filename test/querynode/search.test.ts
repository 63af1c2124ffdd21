/**
 * Search and query results of a query node against a brute-force oracle, over data written by the
 * real write path: sealed segments loaded from binlogs (with deletes from delta logs and from the
 * channel), growing segments replayed from the DML channels, upserts, filters, nq 1 and 16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SparseRow } from "../../src/common/column.ts";
import { compileFilter } from "../../src/expr/index.ts";
import { SearchPool } from "../../src/index/index.ts";
import type { MetricType, QueryNode } from "../../src/querynode/types.ts";
import { rng } from "../helpers/env.ts";
import { loadFlushed, newNode, openWorld, searchReq, strongScope, type World } from "./harness.ts";
import {
  BDIM,
  checkHits,
  checkQuery,
  DIM,
  duplicate,
  Model,
  makeBatch,
  type Row,
  range,
  SCHEMA,
  SPARSE_DIMS,
} from "./model.ts";

const SEED = 20240611;
const F = { id: 100, vec: 101, bvec: 102, sp: 103, num: 104, tag: 105, flag: 106 };

describe("query node search and query against brute force", () => {
  const r = rng(SEED);
  const model = new Model();
  let w: World;
  let node: QueryNode;
  let pool: SearchPool;

  before(async () => {
    w = await openWorld(SCHEMA);
    const db = w.db;
    const ins = async (pks: bigint[], gen = 0) => {
      const b = makeBatch(r, pks, gen);
      model.insert(b, (await db.insert("qn", { columns: b.columns as never })).timestamp);
      return b;
    };
    // Sealed: 2 batches flushed; then deletes of flushed rows (delta logs) and upserts.
    const first = await ins(range(0, 1500));
    await ins(range(1500, 1500));
    await db.flush("qn");
    const del1 = range(0, 3000).filter((pk) => pk % 17n === 0n);
    model.delete(del1, (await db.delete("qn", BigInt64Array.from(del1))).timestamp);
    const up = makeBatch(r, range(100, 50), 1);
    model.upsert(up, (await db.upsert("qn", { columns: up.columns as never })).timestamp);
    // Growing: rows the node replays from the channels, some deleted, some upserted twice.
    await ins(range(3000, 1000));
    const del2 = range(3000, 1000).filter((pk) => pk % 13n === 0n);
    model.delete(del2, (await db.delete("qn", BigInt64Array.from(del2))).timestamp);
    const up2 = makeBatch(r, range(3100, 20), 2);
    model.upsert(up2, (await db.upsert("qn", { columns: up2.columns as never })).timestamp);
    // Plain inserts of keys that exist (no delete): two live rows per key, the newer one wins.
    const dup = duplicate(first, 201, 15, 3);
    model.insert(dup, (await db.insert("qn", { columns: dup.columns as never })).timestamp);

    // Every scan of this suite runs on worker threads, split into several parts.
    pool = await SearchPool.start({ size: 2, inlineBelow: 1000, minPartWork: 20_000 });
    node = newNode(w, 7, { searchPool: pool });
    await node.start();
    await loadFlushed(w, node);
    await node.watchDmChannels(w.info.channels);
  });

  after(async () => {
    await node?.close();
    await pool?.close();
    await w?.cleanup();
  });

  it("holds sealed and growing segments", async () => {
    // A Strong read waits until the channels have been replayed up to now.
    await node.query({ ...(await strongScope(w, node)), outputFieldIds: [], countOnly: true });
    const s = node.segments();
    assert.ok(s.sealed.length >= 2, `sealed: ${s.sealed.length}`);
    assert.ok(s.growing.length >= 2, `growing: ${s.growing.length}`);
    assert.ok(node.resourceCost().memUsage > 4000 * DIM * 4);
  });

  const filters: { text: string | undefined; pred: (x: Row) => boolean }[] = [
    { text: undefined, pred: () => true },
    { text: 'num % 3 == 1 and tag like "t1%"', pred: (x) => x.num % 3n === 1n && x.tag.startsWith("t1") },
    { text: "flag == true or id >= 3500", pred: (x) => x.flag || x.pk >= 3500n },
  ];
  const metrics: { metric: MetricType; field: number }[] = [
    { metric: "L2", field: F.vec },
    { metric: "IP", field: F.vec },
    { metric: "COSINE", field: F.vec },
    { metric: "HAMMING", field: F.bvec },
    { metric: "JACCARD", field: F.bvec },
    { metric: "IP", field: F.sp },
  ];

  for (const { metric, field } of metrics) {
    for (const nq of [1, 16]) {
      it(`${metric} on field ${field}, nq ${nq}, with and without filters`, async () => {
        const qr = rng(SEED + nq + field);
        let queries: Float32Array | Uint8Array | SparseRow[];
        let per: (q: number) => Float32Array | Uint8Array | SparseRow;
        if (field === F.vec) {
          const v = Float32Array.from({ length: nq * DIM }, () => Math.fround(qr() * 2 - 1));
          queries = v;
          per = (q) => v.subarray(q * DIM, (q + 1) * DIM);
        } else if (field === F.bvec) {
          const v = Uint8Array.from({ length: (nq * BDIM) / 8 }, () => Math.floor(qr() * 256));
          queries = v;
          per = (q) => v.subarray((q * BDIM) / 8, ((q + 1) * BDIM) / 8);
        } else {
          const rows = Array.from({ length: nq }, () => {
            const indices = Uint32Array.from([1, 5, 9, 17, 33].filter(() => qr() < 0.8));
            return { indices, values: Float32Array.from(indices, () => Math.fround(qr())) };
          });
          queries = rows;
          per = (q) => rows[q] as SparseRow;
        }
        assert.ok(SPARSE_DIMS > 33);
        for (const f of filters) {
          const scope = await strongScope(
            w,
            node,
            f.text === undefined ? {} : { filter: compileFilter(f.text, w.info.schema) },
          );
          const live = model.live(scope.readTs, f.pred);
          const topk = 10;
          const res = await node.search(searchReq(scope, field, metric, queries, nq, topk, [F.num, F.tag]));
          assert.equal(res.results.length, nq);
          for (let q = 0; q < nq; q++) {
            const hits = res.results[q]!;
            const what = `seed ${SEED} ${metric} nq ${nq} q ${q} filter ${f.text ?? "none"}`;
            checkHits(hits, live, metric, per(q), topk, what);
            const byPk = new Map(live.map((x) => [x.pk, x]));
            const nums = hits.fields.find((c) => c.fieldId === F.num)?.column.data as BigInt64Array;
            const tags = hits.fields.find((c) => c.fieldId === F.tag)?.column.data as string[];
            (hits.pks as BigInt64Array).forEach((pk, i) => {
              assert.equal(nums[i], byPk.get(pk)?.num, `${what}: num output of ${pk}`);
              assert.equal(tags[i], byPk.get(pk)?.tag, `${what}: tag output of ${pk}`);
            });
          }
        }
      });
    }
  }

  it("a topk larger than the live rows returns every live matching row once", async () => {
    const scope = await strongScope(w, node, {
      filter: compileFilter("id < 40 or id > 3990", w.info.schema),
    });
    const live = model.live(scope.readTs, (x) => x.pk < 40n || x.pk > 3990n);
    const q = Float32Array.from({ length: DIM }, () => 0.5);
    const res = await node.search(searchReq(scope, F.vec, "L2", q, 1, 500));
    checkHits(res.results[0]!, live, "L2", q, 500, "large topk");
    assert.equal(res.results[0]!.pks.length, live.length);
  });

  it("query: filter, limit, order by key, output fields, count", async () => {
    const scope = await strongScope(w, node);
    const all = model.live(scope.readTs);
    const text = 'num % 5 == 0 or tag like "%-1"';
    const pred = (x: Row) => x.num % 5n === 0n || x.tag.endsWith("-1");
    const filter = compileFilter(text, w.info.schema);
    const want = model.live(scope.readTs, pred);
    const full = await node.query({
      ...scope,
      filter,
      outputFieldIds: [F.num, F.tag, F.vec],
      countOnly: false,
    });
    checkQuery(full, want, "query all");
    const limited = await node.query({
      ...scope,
      filter,
      outputFieldIds: [F.num, F.tag],
      limit: 25,
      countOnly: false,
    });
    checkQuery(limited, want.slice(0, 25), "query limit 25");
    const count = await node.query({ ...scope, filter, outputFieldIds: [], countOnly: true });
    assert.equal(count.count, want.length);
    assert.equal(count.pks.length, 0);
    const countAll = await node.query({ ...scope, outputFieldIds: [], countOnly: true });
    assert.equal(countAll.count, all.length, "count(*) counts every live key once");
    // The upserted keys come back with their newest values.
    const ups = await node.query({
      ...scope,
      filter: compileFilter("id in [100, 101, 3100, 3101]", w.info.schema),
      outputFieldIds: [F.num, F.tag],
      countOnly: false,
    });
    checkQuery(
      ups,
      all.filter((x) => [100n, 101n, 3100n, 3101n].includes(x.pk)),
      "upserted rows",
    );
    assert.deepEqual(ups.fields.find((f) => f.fieldId === F.tag)?.column.data, [
      "t0-1",
      "t1-1",
      "t0-2",
      "t1-2",
    ]);
  });

  it("a key inserted twice without a delete: search and query return the newer row", async () => {
    const scope = await strongScope(w, node);
    const live = model.live(scope.readTs);
    const dups = live.filter((x) => x.pk >= 201n && x.pk < 216n && x.pk % 17n !== 0n);
    assert.ok(dups.every((x) => x.tag.endsWith("-3")));
    for (const x of dups.slice(0, 4)) {
      // The row's own vector: both versions score the same, so both reach the merge.
      const res = await node.search(searchReq(scope, F.vec, "L2", x.vec, 1, 3, [F.tag]));
      const hits = res.results[0]!;
      assert.equal((hits.pks as BigInt64Array)[0], x.pk);
      assert.equal(new Set(hits.pks as BigInt64Array).size, hits.pks.length);
      assert.equal((hits.fields[0]!.column.data as string[])[0], x.tag, `newer version of ${x.pk}`);
    }
    const q = await node.query({
      ...scope,
      filter: compileFilter("id >= 201 and id < 216", w.info.schema),
      outputFieldIds: [F.tag],
      countOnly: false,
    });
    checkQuery(
      q,
      live.filter((x) => x.pk >= 201n && x.pk < 216n),
      "duplicates",
    );
  });

  it("an older read timestamp sees the snapshot of that time", async () => {
    // Before any delete or upsert: the first two batches exactly.
    const first = await strongScope(w, node);
    const versionsAt = model.live(first.readTs);
    const mid = versionsAt.find((x) => x.pk === 3000n);
    assert.ok(mid !== undefined);
    const at = mid.ts - 1n;
    const res = await node.query({
      ...first,
      readTs: at,
      guaranteeTs: 0n,
      outputFieldIds: [],
      countOnly: true,
    });
    assert.equal(res.count, model.live(at).length);
    assert.ok(res.count < versionsAt.length);
  });

  it("rejects bad requests with ParameterInvalid", async () => {
    const scope = await strongScope(w, node);
    const q = new Float32Array(DIM);
    await assert.rejects(node.search(searchReq(scope, F.vec, "HAMMING", q, 1, 5)), {
      code: "ParameterInvalid",
    });
    await assert.rejects(node.search(searchReq(scope, F.vec, "L2", q, 2, 5)), { code: "ParameterInvalid" });
    await assert.rejects(node.search(searchReq(scope, F.num, "L2", q, 1, 5)), { code: "ParameterInvalid" });
    await assert.rejects(node.search(searchReq(scope, F.vec, "L2", q, 1, 0)), { code: "ParameterInvalid" });
    await assert.rejects(node.search(searchReq(scope, F.vec, "L2", q, 1, 5, [999])), {
      code: "ParameterInvalid",
    });
    await assert.rejects(
      node.search(searchReq({ ...scope, sealedSegmentIds: [123456789n] }, F.vec, "L2", q, 1, 5)),
      {
        code: "SegmentNotFound",
      },
    );
    await assert.rejects(node.search(searchReq({ ...scope, channels: ["nope"] }, F.vec, "L2", q, 1, 5)), {
      code: "ChannelNotFound",
    });
    await assert.rejects(node.search(searchReq({ ...scope, collectionId: 42n }, F.vec, "L2", q, 1, 5)), {
      code: "CollectionNotLoaded",
    });
  });
});

/**
 * Deletes of rows whose segments are already FLUSHED, through the whole embedded stack: they must
 * reach the delta log of the flushed segment holding the row, exactly once, and stay there across
 * a close and reopen of the same data directory (including a close before the data node synced).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Strata } from "../../src/api/embedded.ts";
import type { Timestamp } from "../../src/common/timestamp.ts";
import { SegmentState } from "../../src/dataservice/types.ts";
import type { CollectionInfo } from "../../src/rootcoord/types.ts";
import { PkStats } from "../../src/storage/pkstats.ts";
import { type PersistedSegment, readPersisted } from "../helpers/binlogs.ts";
import { distributedOverrides } from "../helpers/cluster.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { batch, SCHEMA } from "./rows.ts";
import { checkRows } from "./verify.ts";

const ROWS = 5000;

interface Deleted {
  readonly pk: number;
  readonly ts: Timestamp;
}

/** `n` distinct primary keys of [0, ROWS) not in `taken`, from a seeded generator. */
function pickPks(r: () => number, n: number, taken: ReadonlySet<number>): number[] {
  const out = new Set<number>();
  while (out.size < n) {
    const pk = Math.floor(r() * ROWS);
    if (!taken.has(pk)) out.add(pk);
  }
  return [...out];
}

async function persisted(db: Strata, info: CollectionInfo): Promise<PersistedSegment[]> {
  return readPersisted(info, db.internals.dataservice, db.internals.backends.objects);
}

/** How many of `deleted` are in some segment's delta log with their timestamp. */
function found(segs: readonly PersistedSegment[], deleted: readonly Deleted[]): number {
  const have = new Set<string>();
  for (const s of segs) for (const d of s.deletes) have.add(`${d.pk}@${d.ts}`);
  return deleted.filter((d) => have.has(`${BigInt(d.pk)}@${d.ts}`)).length;
}

async function waitPersisted(db: Strata, info: CollectionInfo, deleted: readonly Deleted[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const n = found(await persisted(db, info), deleted);
    if (n === deleted.length) return;
    if (Date.now() > deadline) assert.fail(`only ${n} of ${deleted.length} deletes reached a delta log`);
    await sleep(100);
  }
}

/**
 * The oracle: rows are intact (every PK once, bit-exact, segments FLUSHED); each delete is in the
 * delta log of the segment holding its row exactly once with the delete's timestamp; any other
 * delete record is a bloom false positive of a segment whose stats may contain the PK, at most once.
 */
async function check(db: Strata, info: CollectionInfo, deleted: readonly Deleted[]): Promise<void> {
  const segs = await persisted(db, info);
  assert.ok(segs.length >= 2, "at least one segment per shard");
  for (const s of segs) assert.equal(s.state, SegmentState.FLUSHED, `segment ${s.segmentId} state`);
  const seen = checkRows(segs);
  assert.equal(seen.size, ROWS, "every primary key is present");
  for (const [pk, n] of seen) if (n !== 1) assert.fail(`pk ${pk} appears ${n} times`);
  const holder = new Map<bigint, bigint>();
  for (const s of segs) {
    const ids = s.columns.get(100) ?? [];
    for (const col of ids) for (const pk of col.data as BigInt64Array) holder.set(pk, s.segmentId);
  }
  const wantTs = new Map(deleted.map((d) => [BigInt(d.pk), d.ts]));
  const ds = db.internals.dataservice;
  const objects = db.internals.backends.objects;
  for (const s of segs) {
    const counts = new Map<string, number>();
    for (const d of s.deletes) counts.set(`${d.pk}@${d.ts}`, (counts.get(`${d.pk}@${d.ts}`) ?? 0) + 1);
    for (const d of deleted) {
      if (holder.get(BigInt(d.pk)) !== s.segmentId) continue;
      assert.equal(
        counts.get(`${BigInt(d.pk)}@${d.ts}`) ?? 0,
        1,
        `segment ${s.segmentId}: delete of ${d.pk}`,
      );
    }
    const info = await ds.getSegmentInfo(s.segmentId);
    const stats: PkStats[] = [];
    for (const f of info.statslogs)
      for (const b of f.binlogs) stats.push(PkStats.decode(await objects.get(b.path)));
    for (const d of s.deletes) {
      if (holder.get(d.pk as bigint) === s.segmentId) continue;
      assert.equal(
        wantTs.get(d.pk as bigint),
        d.ts,
        `segment ${s.segmentId}: unexpected delete ${d.pk}@${d.ts}`,
      );
      assert.equal(counts.get(`${d.pk}@${d.ts}`), 1, `segment ${s.segmentId}: stray delete ${d.pk} twice`);
      assert.ok(
        stats.some((x) => x.mayContain(d.pk)),
        `segment ${s.segmentId}: delete of ${d.pk} though its PK filter excludes it`,
      );
    }
  }
}

function deleteAfterFlush(
  name: string,
  skip: string | false,
  overrides: () => Record<string, unknown>,
): void {
  describe(`deletes after a flush on ${name}`, { skip }, () => {
    it(`${ROWS} rows flushed, then 100 deleted: each in its flushed segment's delta log exactly once, across reopens`, async () => {
      const seed = 7;
      const r = rng(seed);
      const t = await tempDir();
      const cfg = overrides();
      let db = await Strata.open({ dataDir: t.dir, overrides: cfg });
      try {
        const info = await db.createCollection({ schema: SCHEMA, shardsNum: 2 });
        for (let from = 0; from < ROWS; from += 1000) {
          assert.equal((await db.insert("roundtrip", { columns: batch(from, 1000) })).count, 1000);
        }
        const { segmentIds } = await db.flush("roundtrip", { timeoutMs: 60_000 });
        assert.ok(segmentIds.length >= 2);
        const before = await persisted(db, info);
        assert.ok(
          before.every((s) => s.deletes.length === 0),
          "no delete before the test deletes",
        );
        const rowsOf = new Map(before.map((s) => [s.segmentId, s.rowCount]));

        // Deletes after the flush: persisted by the data node's tick sync (a flush seals nothing now).
        const first = pickPks(r, 100, new Set());
        const del1 = await db.delete("roundtrip", first);
        assert.equal(del1.count, 100);
        const deleted: Deleted[] = first.map((pk) => ({ pk, ts: del1.timestamp }));
        await db.flush("roundtrip");
        await waitPersisted(db, info, deleted);
        await db.close();
        db = await Strata.open({ dataDir: t.dir, overrides: cfg });
        await check(db, info, deleted);

        // More deletes, and a close right away: the reopened node replays and persists them once.
        const second = pickPks(r, 100, new Set(first));
        const del2 = await db.delete("roundtrip", second);
        deleted.push(...second.map((pk) => ({ pk, ts: del2.timestamp })));
        await db.close();
        db = await Strata.open({ dataDir: t.dir, overrides: cfg });
        await waitPersisted(db, info, deleted);
        await sleep(600); // a few more ticks: nothing may arrive twice
        await db.close();
        db = await Strata.open({ dataDir: t.dir, overrides: cfg });
        await check(db, info, deleted);
        for (const s of await persisted(db, info)) {
          assert.equal(s.rowCount, rowsOf.get(s.segmentId), `segment ${s.segmentId}: rows unchanged`);
        }
      } catch (e) {
        console.log(`delete-after-flush integration test failed with seed ${seed}`);
        throw e;
      } finally {
        await db.close();
        await t.cleanup();
      }
    });
  });
}

deleteAfterFlush("embedded backends", false, () => ({}));
const dist = distributedOverrides();
deleteAfterFlush("NATS JetStream, etcd and S3", dist.skip, () => dist.overrides ?? {});

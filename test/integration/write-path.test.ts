import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Strata } from "../../src/api/embedded.ts";
import { SegmentState } from "../../src/dataservice/types.ts";
import { readPersisted } from "../helpers/binlogs.ts";
import { distributedOverrides } from "../helpers/cluster.ts";
import { tempDir } from "../helpers/env.ts";
import { batch, SCHEMA } from "./rows.ts";
import { checkRows } from "./verify.ts";

function roundTrip(
  name: string,
  rows: number,
  skip: string | false,
  overrides: () => Record<string, unknown>,
): void {
  describe(`write path round trip on ${name}`, { skip }, () => {
    it(`${rows} rows in batches of 1,000 over 2 shards come back from the binlogs exactly once, bit-exact`, async () => {
      const t = await tempDir();
      const db = await Strata.open({ dataDir: t.dir, overrides: overrides() });
      try {
        const info = await db.createCollection({ schema: SCHEMA, shardsNum: 2 });
        assert.equal(info.channels.length, 2);
        for (let from = 0; from < rows; from += 1000) {
          const r = await db.insert("roundtrip", { columns: batch(from, 1000) });
          assert.equal(r.count, 1000);
        }
        const deleted = Array.from({ length: 500 }, (_, i) => i * 7);
        const del = await db.delete("roundtrip", deleted);
        assert.equal(del.count, 500);
        const { segmentIds } = await db.flush("roundtrip", { timeoutMs: 120_000 });
        assert.ok(segmentIds.length >= 2, "rows went to at least one segment per shard");
        const ds = db.internals.dataservice;
        for (const id of segmentIds)
          assert.equal((await ds.getSegmentStates({ segmentId: id })).state, SegmentState.FLUSHED);
        for (const id of segmentIds) {
          const paths = await ds.getInsertBinlogPaths({ segmentId: id });
          for (const f of [0, 1, 100, 101, 102, 103, 104, 105]) {
            assert.ok(
              (paths.fieldIdToPaths.get(f)?.length ?? 0) >= 1,
              `segment ${id} field ${f} has binlogs`,
            );
          }
        }
        const segs = await readPersisted(info, ds, db.internals.backends.objects);
        const seen = checkRows(segs);
        assert.equal(seen.size, rows, "every primary key is present");
        for (const [pk, n] of seen) if (n !== 1) assert.fail(`pk ${pk} appears ${n} times`);
        const delByPk = new Map<bigint | string, bigint>();
        for (const s of segs) for (const d of s.deletes) delByPk.set(d.pk, d.ts);
        const missing = deleted.filter((pk) => delByPk.get(BigInt(pk)) !== del.timestamp);
        assert.deepEqual(
          missing.slice(0, 10),
          [],
          `${missing.length} deletes missing from delta logs (${delByPk.size} found)`,
        );
        const channels = await ds.getInsertChannels({ dbId: 0n, collectionId: info.collectionId });
        assert.deepEqual([...channels].sort(), [...info.channels].sort());
      } finally {
        await db.close();
        await t.cleanup();
      }
    });
  });
}

roundTrip("embedded backends", 200_000, false, () => ({}));
const dist = distributedOverrides();
roundTrip("NATS JetStream, etcd and S3", 30_000, dist.skip, () => dist.overrides ?? {});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Strata } from "../../src/api/embedded.ts";
import { tempDir } from "../helpers/env.ts";

describe("graceful close", () => {
  it("persists buffered rows and deletes before stopping: a restart has them in binlogs, nothing left to replay", async () => {
    const t = await tempDir();
    try {
      let db = await Strata.open(t.dir);
      const info = await db.createCollection({
        schema: {
          name: "g",
          fields: [
            { name: "id", dataType: "Int64", isPrimaryKey: true },
            { name: "v", dataType: "FloatVector", dim: 2 },
          ],
        },
      });
      const n = 3000;
      const ids = Array.from({ length: n }, (_, i) => i);
      await db.insert("g", { columns: { id: ids, v: ids.map((i) => [i, 1]) } });
      await db.delete("g", [1, 2, 3]);
      // Buffered only: the default sync period is far longer than this test.
      const before = await db.internals.dataservice.listSegments(info.collectionId);
      assert.equal(
        before.reduce((s, x) => s + x.persistedRows, 0),
        0,
        "rows are still buffered before close",
      );
      await db.close();

      db = await Strata.open(t.dir);
      const segs = await db.internals.dataservice.listSegments(info.collectionId);
      assert.equal(
        segs.reduce((s, x) => s + x.persistedRows, 0),
        n,
        "every acknowledged row is in binlogs after a graceful stop",
      );
      assert.ok(
        segs.some((s) => s.deltalogs.length > 0),
        "the deletes were persisted as delta logs",
      );
      for (const ch of info.channels) {
        const vc = await db.internals.dataservice.getVChannelInfo(ch);
        for (const s of vc.segments) assert.ok(vc.checkpoint.seq >= s.persistedSeq);
      }
      await db.load("g");
      const [row] = await db.query("g", { outputFields: ["count(*)"], consistencyLevel: "Strong" });
      assert.equal(row?.["count(*)"], n - 3);
      await db.close();
    } finally {
      await t.cleanup();
    }
  });
});

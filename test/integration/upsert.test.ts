import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Strata } from "../../src/api/embedded.ts";
import { DataType } from "../../src/common/types.ts";
import { readPersisted } from "../helpers/binlogs.ts";
import { tempDir } from "../helpers/env.ts";

describe("upsert", () => {
  it("replaces rows by primary key: after flush exactly one live row per key, with the new values", async () => {
    const t = await tempDir();
    const db = await Strata.open(t.dir);
    try {
      const info = await db.createCollection({
        schema: {
          name: "u",
          fields: [
            { name: "id", dataType: "Int64", isPrimaryKey: true },
            { name: "v", dataType: "FloatVector", dim: 2 },
            { name: "version", dataType: "Int32" },
          ],
        },
      });
      const n = 2000;
      const ids = Array.from({ length: n }, (_, i) => i);
      await db.insert("u", { columns: { id: ids, v: ids.map((i) => [i, 0]), version: ids.map(() => 1) } });
      const changed = ids.filter((i) => i % 4 === 0);
      const up = await db.upsert("u", {
        columns: { id: changed, v: changed.map((i) => [i, 2]), version: changed.map(() => 2) },
      });
      assert.equal(up.count, changed.length);
      // Upserting a key that did not exist inserts it.
      await db.upsert("u", { columns: { id: [n + 5], v: [[1, 1]], version: [3] } });
      await db.flush("u");
      const segs = await readPersisted(info, db.internals.dataservice, db.internals.backends.objects);
      const deletes = new Map<bigint, bigint[]>();
      for (const s of segs)
        for (const d of s.deletes)
          deletes.set(d.pk as bigint, [...(deletes.get(d.pk as bigint) ?? []), d.ts]);
      const live = new Map<number, number[]>();
      for (const s of segs) {
        const idCols = s.columns.get(100) ?? [];
        for (let p = 0; p < idCols.length; p++) {
          const id = idCols[p];
          const ts = s.columns.get(1)?.[p];
          const ver = s.columns.get(102)?.[p];
          if (id?.type !== DataType.Int64 || ts?.type !== DataType.Int64 || ver?.type !== DataType.Int32)
            assert.fail("column types");
          for (let i = 0; i < id.data.length; i++) {
            const pk = id.data[i] as bigint;
            const rowTs = ts.data[i] as bigint;
            // A delete hides rows with a smaller timestamp (the upsert's own row has the delete's timestamp).
            if ((deletes.get(pk) ?? []).some((d) => d > rowTs)) continue;
            live.set(Number(pk), [...(live.get(Number(pk)) ?? []), ver.data[i] as number]);
          }
        }
      }
      assert.equal(live.size, n + 1);
      for (const [pk, versions] of live) {
        const want = pk === n + 5 ? 3 : pk % 4 === 0 ? 2 : 1;
        assert.deepEqual(versions, [want], `pk ${pk}`);
      }
    } finally {
      await db.close();
      await t.cleanup();
    }
  });
});

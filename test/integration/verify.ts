import assert from "node:assert/strict";
import type { Column } from "../../src/common/column.ts";
import { DataType } from "../../src/common/types.ts";
import type { PersistedSegment } from "../helpers/binlogs.ts";
import { DIM, flagOf, metaOf, numOf, titleOf, vectorOf } from "./rows.ts";

function flat(parts: Column[] | undefined, what: string): Column[] {
  assert.ok(parts !== undefined && parts.length > 0, `missing binlogs for ${what}`);
  return parts;
}

/**
 * Checks every persisted row against the dataset's generator (vectors bit-exact, scalars equal)
 * and returns how many times each primary key occurs.
 */
export function checkRows(segs: readonly PersistedSegment[]): Map<number, number> {
  const seen = new Map<number, number>();
  const want = new Float32Array(DIM);
  for (const s of segs) {
    const ids = flat(s.columns.get(100), "id");
    const vecs = flat(s.columns.get(101), "vec");
    const titles = flat(s.columns.get(102), "title");
    const nums = flat(s.columns.get(103), "num");
    const flags = flat(s.columns.get(104), "flag");
    const metas = flat(s.columns.get(105), "meta");
    const rowIds = flat(s.columns.get(0), "RowID");
    const tss = flat(s.columns.get(1), "Timestamp");
    for (let part = 0; part < ids.length; part++) {
      const id = ids[part] as Column;
      const vec = vecs[part] as Column;
      const title = titles[part] as Column;
      const num = nums[part] as Column;
      const flag = flags[part] as Column;
      const meta = metas[part] as Column;
      assert.equal(id.type, DataType.Int64);
      assert.equal(vec.type, DataType.FloatVector);
      assert.equal(title.type, DataType.VarChar);
      assert.equal(num.type, DataType.Int64);
      assert.equal(flag.type, DataType.Bool);
      assert.equal(meta.type, DataType.JSON);
      assert.equal((rowIds[part] as Column).data.length, id.data.length, "RowID column length");
      assert.equal((tss[part] as Column).data.length, id.data.length, "Timestamp column length");
      if (
        id.type !== DataType.Int64 ||
        vec.type !== DataType.FloatVector ||
        title.type !== DataType.VarChar ||
        num.type !== DataType.Int64 ||
        flag.type !== DataType.Bool ||
        meta.type !== DataType.JSON
      ) {
        return seen;
      }
      const wantBits = new Uint32Array(want.buffer);
      const gotBits = new Uint32Array(vec.data.buffer, vec.data.byteOffset, vec.data.length);
      for (let i = 0; i < id.data.length; i++) {
        const pk: number = Number(id.data[i] as bigint);
        seen.set(pk, (seen.get(pk) ?? 0) + 1);
        vectorOf(pk, want, 0);
        for (let k = 0; k < DIM; k++) {
          if (gotBits[i * DIM + k] !== wantBits[k]) assert.fail(`pk ${pk}: vector element ${k} differs`);
        }
        assert.equal(title.data[i], titleOf(pk), `pk ${pk} title`);
        assert.equal(num.data[i], numOf(pk), `pk ${pk} num`);
        assert.equal(flag.data[i], flagOf(pk) ? 1 : 0, `pk ${pk} flag`);
        assert.deepEqual(
          JSON.parse(Buffer.from(meta.data[i] as Uint8Array).toString("utf8")),
          metaOf(pk),
          `pk ${pk} meta`,
        );
      }
    }
  }
  return seen;
}

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Strata } from "../../src/api/embedded.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { decodeMsg, MsgType } from "../../src/common/msg/index.ts";
import type { InsertData } from "../../src/proxy/validate.ts";
import { tempDir } from "../helpers/env.ts";
import { readToEnd } from "../helpers/mq.ts";

const GOOD = {
  id: [1, 2, 3],
  vec: [new Array(8).fill(0.5), new Array(8).fill(1), new Array(8).fill(-1)],
  title: ["a", "b", "c"],
  n32: [1, 2, 3],
  flag: [true, false, true],
  meta: [{ a: 1 }, [1, 2], "x"],
  tags: [[1], [], [1, 2, 3]],
  f: [0.5, 1.5, -2],
};

function cols(over: Record<string, unknown>): InsertData {
  return { columns: { ...GOOD, ...over } } as InsertData;
}

describe("bad input is rejected with a clear error and nothing reaches the log", () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  let db: Strata;
  before(async () => {
    t = await tempDir();
    db = await Strata.open({ dataDir: t.dir });
    await db.createCollection({
      schema: {
        name: "strict",
        fields: [
          { name: "id", dataType: "Int64", isPrimaryKey: true },
          { name: "vec", dataType: "FloatVector", dim: 8 },
          { name: "title", dataType: "VarChar", maxLength: 10 },
          { name: "n32", dataType: "Int32" },
          { name: "flag", dataType: "Bool" },
          { name: "meta", dataType: "JSON" },
          { name: "tags", dataType: "Array", elementType: "Int32", maxCapacity: 3 },
          { name: "f", dataType: "Float" },
        ],
      },
    });
    await db.createCollection({
      schema: {
        name: "auto",
        autoId: true,
        fields: [
          { name: "id", dataType: "Int64", isPrimaryKey: true },
          { name: "vec", dataType: "FloatVector", dim: 2 },
        ],
      },
    });
  });
  after(async () => {
    await db.close();
    await t.cleanup();
  });

  const cases: [string, () => Promise<unknown>, string, RegExp][] = [
    [
      "wrong vector dim",
      () => db.insert("strict", cols({ vec: [[1], [2], [3]] })),
      "ParameterInvalid",
      /vec: row 0 has dim 1, expected 8/,
    ],
    [
      "NaN in a vector",
      () =>
        db.insert(
          "strict",
          cols({ vec: [new Array(8).fill(0), [0, 0, Number.NaN, 0, 0, 0, 0, 0], new Array(8).fill(0)] }),
        ),
      "ParameterInvalid",
      /vec: row 1 contains NaN \(NaN and Inf are not allowed/,
    ],
    [
      "Inf in a flat vector column",
      () => db.insert("strict", cols({ vec: new Float32Array(24).fill(Number.POSITIVE_INFINITY, 20, 21) })),
      "ParameterInvalid",
      /vec: row 2 contains Infinity/,
    ],
    [
      "flat vector column of the wrong length",
      () => db.insert("strict", cols({ vec: new Float32Array(23) })),
      "ParameterInvalid",
      /23 values are not a whole number of rows of dim 8/,
    ],
    [
      "string in an Int64 field",
      () => db.insert("strict", cols({ id: [1, "abc", 3] })),
      "ParameterInvalid",
      /id: row 1 must be an Int64/,
    ],
    [
      "unsafe integer as number",
      () => db.insert("strict", cols({ id: [1, 2 ** 60, 3] })),
      "ParameterInvalid",
      /id: row 1 must be an Int64/,
    ],
    [
      "Int32 overflow",
      () => db.insert("strict", cols({ n32: [1, 2 ** 31, 3] })),
      "ParameterInvalid",
      /n32: row 1 must be an integer in \[-2147483648, 2147483647\]/,
    ],
    [
      "VarChar over max_length",
      () => db.insert("strict", cols({ title: ["a", "12345678901", "c"] })),
      "ParameterInvalid",
      /title: row 1 is 11 bytes, longer than max_length 10/,
    ],
    [
      "VarChar over max_length in UTF-8 bytes",
      () => db.insert("strict", cols({ title: ["a", "éééééé", "c"] })),
      "ParameterInvalid",
      /12 bytes, longer than max_length 10/,
    ],
    [
      "lone surrogate",
      () => db.insert("strict", cols({ title: ["a", "\ud800", "c"] })),
      "ParameterInvalid",
      /not valid UTF-8/,
    ],
    [
      "number in a Bool field",
      () => db.insert("strict", cols({ flag: [true, 1, false] })),
      "ParameterInvalid",
      /flag: row 1 must be a boolean/,
    ],
    [
      "NaN in a Float field",
      () => db.insert("strict", cols({ f: [1, Number.NaN, 2] })),
      "ParameterInvalid",
      /f: row 1 must be a finite number/,
    ],
    [
      "Array over max_capacity",
      () => db.insert("strict", cols({ tags: [[1], [1, 2, 3, 4], []] })),
      "ParameterInvalid",
      /tags: row 1 has 4 elements, more than max_capacity 3/,
    ],
    [
      "Array element of the wrong type",
      () => db.insert("strict", cols({ tags: [[1], ["x"], []] })),
      "ParameterInvalid",
      /tags\[\]: row 0 must be an integer/,
    ],
    [
      "JSON that cannot be stored",
      () => db.insert("strict", cols({ meta: [{}, undefined, {}] })),
      "ParameterInvalid",
      /meta: row 1 has no value/,
    ],
    [
      "missing field",
      () => db.insert("strict", cols({ title: undefined })),
      "ParameterInvalid",
      /field title is missing/,
    ],
    [
      "unknown field",
      () => db.insert("strict", cols({ extra: [1, 2, 3] })),
      "ParameterInvalid",
      /field extra is not in the schema/,
    ],
    [
      "columns of different lengths",
      () => db.insert("strict", cols({ n32: [1, 2] })),
      "ParameterInvalid",
      /n32 has 2 rows, other fields have 3/,
    ],
    [
      "duplicate primary keys in one batch",
      () => db.insert("strict", cols({ id: [5, 6, 5] })),
      "ParameterInvalid",
      /duplicate primary key 5 in the batch \(row 2\)/,
    ],
    [
      "null value",
      () => db.insert("strict", cols({ n32: [1, null, 3] })),
      "ParameterInvalid",
      /n32: row 1 has no value/,
    ],
    [
      "row input with a field missing",
      () =>
        db.insert("strict", {
          rows: [{ id: 1, vec: new Array(8).fill(0), n32: 1, flag: true, meta: {}, tags: [], f: 1 }],
        }),
      "ParameterInvalid",
      /title: row 0 has no value/,
    ],
    [
      "both rows and columns",
      () => db.insert("strict", { rows: [], columns: {} }),
      "ParameterInvalid",
      /either rows or columns/,
    ],
    ["empty batch", () => db.insert("strict", { rows: [] }), "ParameterInvalid", /no rows/],
    [
      "primary key given with auto-ID",
      () => db.insert("auto", { columns: { id: [1], vec: [[1, 2]] } }),
      "ParameterInvalid",
      /auto-ID primary key/,
    ],
    [
      "unknown partition",
      () => db.insert("strict", cols({}), { partition: "nope" }),
      "PartitionNotFound",
      /partition nope not found/,
    ],
    [
      "unknown collection",
      () => db.insert("missing", cols({})),
      "CollectionNotFound",
      /collection missing not found/,
    ],
    [
      "bad primary keys in a delete",
      () => db.delete("strict", ["x"]),
      "ParameterInvalid",
      /must be an Int64/,
    ],
    ["no keys in a delete", () => db.delete("strict", []), "ParameterInvalid", /no primary keys/],
    [
      "upsert without the key",
      () => db.upsert("auto", { columns: { vec: [[1, 2]] } }),
      "ParameterInvalid",
      /field id is missing/,
    ],
    [
      "a batch over 64 MiB",
      () => db.insert("auto", { columns: { vec: new Float32Array(2 * 8_400_000) } }),
      "ParameterTooLarge",
      /larger than 67108864 bytes/,
    ],
  ];

  for (const [name, call, code, msg] of cases) {
    it(`rejects ${name}`, async () => {
      await assert.rejects(call(), (e: unknown) => {
        assert.ok(isStrataError(e), `expected a StrataError, got ${String(e)}`);
        assert.equal(e.code, code, e.message);
        assert.match(e.message, msg);
        return true;
      });
    });
  }

  it("wrote no insert or delete message for any of them (and does for a good batch)", async () => {
    const mq = db.internals.backends.mq;
    const count = async () => {
      let n = 0;
      for (const name of ["strict", "auto"]) {
        for (const ch of (await db.describeCollection(name)).channels) {
          for (const m of await readToEnd(mq, ch)) if (decodeMsg(m.payload).type !== MsgType.TimeTick) n++;
        }
      }
      return n;
    };
    assert.equal(await count(), 0);
    await db.insert("strict", cols({}));
    assert.ok((await count()) >= 1, "a good insert reaches the log (the check can fail)");
  });
});

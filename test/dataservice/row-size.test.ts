import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StrataError } from "../../src/common/errors.ts";
import { type FieldSchemaInput, validateSchema } from "../../src/common/schema.ts";
import { DEFAULT_OPTIONS, estimateRowBytes, maxRowsFor } from "../../src/dataservice/index.ts";
import { resolveOptions } from "../../src/dataservice/options.ts";

const pk: FieldSchemaInput = { name: "pk", dataType: "Int64", isPrimaryKey: true };
const schema = (...fields: FieldSchemaInput[]) => validateSchema({ name: "c", fields: [pk, ...fields] });
const SYSTEM = 16; // RowID + Timestamp
const PK = 8;

describe("segment row-size estimate", () => {
  it("counts each field type as documented", () => {
    const cases: [FieldSchemaInput, number][] = [
      [{ name: "v", dataType: "FloatVector", dim: 128 }, 512],
      [{ name: "v", dataType: "Float16Vector", dim: 8 }, 16],
      [{ name: "v", dataType: "BFloat16Vector", dim: 8 }, 16],
      [{ name: "v", dataType: "BinaryVector", dim: 16 }, 2],
      [{ name: "v", dataType: "SparseFloatVector" }, 512],
    ];
    for (const [f, bytes] of cases) {
      assert.equal(estimateRowBytes(schema(f)), SYSTEM + PK + bytes, String(f.dataType));
    }
    const vec: FieldSchemaInput = { name: "v", dataType: "FloatVector", dim: 2 };
    const scalars: [FieldSchemaInput, number][] = [
      [{ name: "s", dataType: "Bool" }, 1],
      [{ name: "s", dataType: "Int8" }, 1],
      [{ name: "s", dataType: "Int16" }, 2],
      [{ name: "s", dataType: "Int32" }, 4],
      [{ name: "s", dataType: "Float" }, 4],
      [{ name: "s", dataType: "Double" }, 8],
      [{ name: "s", dataType: "VarChar", maxLength: 100 }, 54],
      [{ name: "s", dataType: "VarChar", maxLength: 65535 }, 4 + 32768],
      [{ name: "s", dataType: "JSON" }, 512],
      [{ name: "s", dataType: "Array", elementType: "Int64", maxCapacity: 4096 }, 512],
    ];
    for (const [f, bytes] of scalars) {
      assert.equal(estimateRowBytes(schema(vec, f)), SYSTEM + PK + 8 + bytes, String(f.dataType));
    }
    const dynamic = validateSchema({ name: "d", enableDynamicField: true, fields: [pk, vec] });
    assert.equal(estimateRowBytes(dynamic), SYSTEM + PK + 8 + 512, "the $meta JSON field counts");
  });

  it("derives maxRows from segmentMaxBytes, at least 1", () => {
    const s = schema({ name: "v", dataType: "FloatVector", dim: 128 });
    assert.equal(maxRowsFor(s, DEFAULT_OPTIONS.segmentMaxBytes), Math.floor((512 * 1024 * 1024) / 536));
    assert.equal(maxRowsFor(s, 536 * 3 + 535), 3);
    assert.equal(maxRowsFor(s, 10), 1);
  });
});

describe("dataservice options", () => {
  it("has the documented defaults", () => {
    assert.deepEqual(resolveOptions({}), {
      segmentMaxBytes: 512 * 1024 * 1024,
      assignmentExpirationMs: 2000,
      segmentMaxLifetimeMs: 24 * 3600 * 1000,
      segmentMaxIdleMs: 600_000,
      sealCheckIntervalMs: 1000,
      nodeSessionTtlSeconds: 10,
      flushRetryIntervalMs: 1000,
      timeTickChannel: "datanode_tt",
      statsChannel: "datanode_stats",
      consumerName: "dataservice",
      indexMinRows: 1024,
      indexPollMs: 500,
    });
  });

  it("rejects bad values with ConfigInvalid", () => {
    const bad = [
      { segmentMaxBytes: 0 },
      { assignmentExpirationMs: -5 },
      { sealCheckIntervalMs: 1.5 },
      { nodeSessionTtlSeconds: Number.NaN },
      { timeTickChannel: "a b" },
      { statsChannel: "datanode_tt" },
      { consumerName: "" },
    ];
    for (const o of bad) {
      assert.throws(
        () => resolveOptions(o),
        (e: unknown) => e instanceof StrataError && e.code === "ConfigInvalid",
        JSON.stringify(o),
      );
    }
  });
});

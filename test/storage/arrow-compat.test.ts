/**
 * The "readable by standard tools" proof: files are read back with plain `apache-arrow`
 * (`tableFromIPC`, no Strata code), and schema, metadata and every value are checked against the
 * original column.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, it } from "node:test";
import { tableFromIPC, Vector } from "apache-arrow";
import type { Column } from "../../src/common/column.ts";
import { DataType } from "../../src/common/types.ts";
import { encodeBinlog, encodeDeltalog } from "../../src/storage/index.ts";
import { rng } from "../helpers/env.ts";
import { headerFor, randomColumn } from "./gen.ts";

/** Row i of a column as plain arrow returns it, computed from the Column alone. */
function expectedRow(c: Column, i: number): unknown {
  switch (c.type) {
    case DataType.Bool:
      return c.data[i] === 1;
    case DataType.VarChar:
    case DataType.String:
    case DataType.JSON:
      return c.data[i];
    case DataType.Array: {
      const row = c.data[i] as Column;
      return row.type === DataType.Bool
        ? [...row.data].map((b) => b === 1)
        : Array.from(row.data as ArrayLike<unknown>);
    }
    case DataType.BinaryVector:
      return c.data.subarray((i * c.dim) / 8, ((i + 1) * c.dim) / 8);
    case DataType.Float16Vector:
      // Arrow reads half floats as numbers; the uint16 bit patterns are the stored values.
      return [...c.data.subarray(i * c.dim, (i + 1) * c.dim)].map(halfToNumber);
    case DataType.FloatVector:
    case DataType.BFloat16Vector:
      return [...c.data.subarray(i * c.dim, (i + 1) * c.dim)];
    case DataType.SparseFloatVector: {
      const r = c.data[i];
      return [...(r?.indices ?? [])].map((index, j) => ({ index, value: r?.values[j] }));
    }
    default:
      return c.data[i];
  }
}

/** IEEE 754 binary16 → number. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** What plain arrow returned, in the same shape. */
function actualRow(x: unknown): unknown {
  if (x instanceof Vector) {
    return [...x].map((v: unknown) =>
      typeof v === "object" && v !== null && "toJSON" in v && typeof v.toJSON === "function" ? v.toJSON() : v,
    );
  }
  return x;
}

function sameValue(a: unknown, b: unknown, where: string): void {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    assert.ok(Buffer.from(a).equals(Buffer.from(b)), where);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    assert.equal(a.length, b.length, where);
    a.forEach((v, j) => {
      sameValue(v, b[j], `${where}[${j}]`);
    });
  } else if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
    assert.deepEqual(Object.keys(a), Object.keys(b), where);
    for (const k of Object.keys(a))
      sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}.${k}`);
  } else {
    // Object.is: NaN equals NaN, -0 differs from 0.
    assert.ok(Object.is(a, b), `${where}: ${String(a)} vs ${String(b)}`);
  }
}

const KINDS: [string, DataType, { dim?: number; elementType?: DataType }, string][] = [
  ["Bool", DataType.Bool, {}, "Bool"],
  ["Int8", DataType.Int8, {}, "Int8"],
  ["Int16", DataType.Int16, {}, "Int16"],
  ["Int32", DataType.Int32, {}, "Int32"],
  ["Int64", DataType.Int64, {}, "Int64"],
  ["Float", DataType.Float, {}, "Float32"],
  ["Double", DataType.Double, {}, "Float64"],
  ["VarChar", DataType.VarChar, {}, "Utf8"],
  ["String", DataType.String, {}, "Utf8"],
  ["JSON", DataType.JSON, {}, "Binary"],
  ["Array<Bool>", DataType.Array, { elementType: DataType.Bool }, "List<Bool>"],
  ["Array<Int64>", DataType.Array, { elementType: DataType.Int64 }, "List<Int64>"],
  ["Array<Double>", DataType.Array, { elementType: DataType.Double }, "List<Float64>"],
  ["Array<VarChar>", DataType.Array, { elementType: DataType.VarChar }, "List<Utf8>"],
  ["BinaryVector", DataType.BinaryVector, { dim: 24 }, "FixedSizeBinary[3]"],
  ["FloatVector", DataType.FloatVector, { dim: 5 }, "FixedSizeList[5]<Float32>"],
  ["Float16Vector", DataType.Float16Vector, { dim: 3 }, "FixedSizeList[3]<Float16>"],
  ["BFloat16Vector", DataType.BFloat16Vector, { dim: 3 }, "FixedSizeList[3]<Uint16>"],
  ["SparseFloatVector", DataType.SparseFloatVector, {}, "List<Struct<{index:Uint32, value:Float32}>>"],
];

describe("binlogs read by plain apache-arrow", () => {
  for (const [name, type, opts, arrowName] of KINDS) {
    it(`${name} is ${arrowName}`, () => {
      const r = rng(type * 31 + (opts.dim ?? 0));
      const rows = 17;
      const c = randomColumn(r, type, rows, opts);
      const header = headerFor(c, rows);
      const table = tableFromIPC(encodeBinlog(header, c));
      assert.equal(table.numRows, rows);
      assert.equal(table.schema.fields.length, 1);
      const f = table.schema.fields[0];
      assert.equal(f?.name, "data");
      assert.equal(f?.nullable, false);
      assert.equal(String(f?.type), arrowName);
      const meta = table.schema.metadata;
      assert.equal(meta.get("strata.format"), "binlog");
      assert.equal(meta.get("strata.version"), "1");
      assert.equal(meta.get("strata.dataType"), String(type));
      assert.equal(meta.get("strata.segmentId"), String(header.segmentId));
      assert.equal(meta.get("strata.rowCount"), String(rows));
      assert.equal(meta.get("strata.dim"), opts.dim === undefined ? undefined : String(opts.dim));
      assert.match(meta.get("strata.crc32") ?? "", /^[0-9a-f]{8}$/);
      const col = table.getChild("data");
      assert.ok(col);
      for (let i = 0; i < rows; i++) sameValue(actualRow(col.get(i)), expectedRow(c, i), `${name} row ${i}`);
    });
  }
});

describe("delta logs read by plain apache-arrow", () => {
  it("pk Int64 / ts Uint64", () => {
    const pks = BigInt64Array.of(-5n, 0n, (1n << 63n) - 1n);
    const ts = BigUint64Array.of(7n, 8n, (1n << 64n) - 1n);
    const bytes = encodeDeltalog(
      {
        collectionId: 1n,
        partitionId: 2n,
        segmentId: 3n,
        pkType: DataType.Int64,
        rowCount: 3,
        timestampFrom: 7n,
        timestampTo: ts[2] ?? 0n,
      },
      { pks: { type: DataType.Int64, data: pks }, timestamps: ts },
    );
    const t = tableFromIPC(bytes);
    assert.deepEqual(
      t.schema.fields.map((f) => `${f.name}:${String(f.type)}:${f.nullable}`),
      ["pk:Int64:false", "ts:Uint64:false"],
    );
    assert.equal(t.schema.metadata.get("strata.format"), "deltalog");
    assert.deepEqual([...(t.getChild("pk") ?? [])], [...pks]);
    assert.deepEqual([...(t.getChild("ts") ?? [])], [...ts]);
  });

  it("pk Utf8", () => {
    const bytes = encodeDeltalog(
      {
        collectionId: 1n,
        partitionId: 2n,
        segmentId: 3n,
        pkType: DataType.VarChar,
        rowCount: 2,
        timestampFrom: 1n,
        timestampTo: 2n,
      },
      { pks: { type: DataType.VarChar, data: ["ä", "key-2"] }, timestamps: BigUint64Array.of(1n, 2n) },
    );
    const t = tableFromIPC(bytes);
    assert.equal(String(t.schema.fields[0]?.type), "Utf8");
    assert.deepEqual([...(t.getChild("pk") ?? [])], ["ä", "key-2"]);
  });
});

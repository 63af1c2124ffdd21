import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Column } from "../../src/common/column.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { gather } from "../../src/common/gather.ts";
import {
  type DeleteMsg,
  decodeMsg,
  encodeInsertRows,
  encodeMsg,
  type InsertMsg,
  type Msg,
  MsgType,
} from "../../src/common/msg/index.ts";
import { DataType } from "../../src/common/types.ts";
import { rng } from "../helpers/env.ts";

function columns(rows: number, seed: number): { fieldId: number; column: Column }[] {
  const r = rng(seed);
  const f32 = new Float32Array(rows * 8);
  const bits = new Uint32Array(f32.buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = Math.floor(r() * 2 ** 32);
  const ints = new BigInt64Array(rows).map(() => BigInt(Math.floor((r() - 0.5) * 2 ** 52)) * 4099n);
  const strs = Array.from({ length: rows }, (_, i) => (i % 3 === 0 ? "" : `s${i}-ünï-${"x".repeat(i % 5)}`));
  return [
    { fieldId: 100, column: { type: DataType.Int64, data: ints } },
    { fieldId: 101, column: { type: DataType.FloatVector, dim: 8, data: f32 } },
    { fieldId: 102, column: { type: DataType.VarChar, data: strs } },
    { fieldId: 103, column: { type: DataType.Bool, data: new Uint8Array(rows).map((_, i) => i % 2) } },
    { fieldId: 104, column: { type: DataType.Int8, data: new Int8Array(rows).map((_, i) => i - 60) } },
    { fieldId: 105, column: { type: DataType.Int16, data: new Int16Array(rows).map((_, i) => i * 300) } },
    { fieldId: 106, column: { type: DataType.Int32, data: new Int32Array(rows).map((_, i) => i * -70000) } },
    { fieldId: 107, column: { type: DataType.Float, data: new Float32Array(rows).map(() => r()) } },
    { fieldId: 108, column: { type: DataType.Double, data: new Float64Array(rows).map(() => r()) } },
    {
      fieldId: 109,
      column: {
        type: DataType.JSON,
        data: Array.from({ length: rows }, (_, i) => Buffer.from(JSON.stringify({ i, t: "ü" }))),
      },
    },
    {
      fieldId: 110,
      column: {
        type: DataType.Array,
        elementType: DataType.Int32,
        data: Array.from({ length: rows }, (_, i) => ({
          type: DataType.Int32,
          data: new Int32Array(i % 4).fill(i),
        })),
      },
    },
    {
      fieldId: 111,
      column: {
        type: DataType.Array,
        elementType: DataType.VarChar,
        data: Array.from({ length: rows }, (_, i) => ({
          type: DataType.VarChar,
          data: Array(i % 3).fill(`e${i}`),
        })),
      },
    },
    {
      fieldId: 112,
      column: { type: DataType.BinaryVector, dim: 16, data: new Uint8Array(rows * 2).map(() => r() * 256) },
    },
    {
      fieldId: 113,
      column: {
        type: DataType.Float16Vector,
        dim: 4,
        data: new Uint16Array(rows * 4).map(() => r() * 65536),
      },
    },
    {
      fieldId: 114,
      column: {
        type: DataType.SparseFloatVector,
        data: Array.from({ length: rows }, (_, i) => ({
          indices: new Uint32Array(i % 3).map((_, k) => k * 10 + 1),
          values: new Float32Array(i % 3).map(() => r()),
        })),
      },
    },
  ];
}

/** Compares columns by value (typed arrays by bytes, so NaN payloads count). */
function plain(c: Column): unknown {
  if (c.type === DataType.Array) return c.data.map(plain);
  if (c.type === DataType.SparseFloatVector)
    return c.data.map((s) => [[...s.indices], [...new Uint32Array(s.values.slice().buffer)]]);
  if (c.type === DataType.JSON) return c.data.map((b) => Buffer.from(b).toString("hex"));
  if (Array.isArray(c.data)) return c.data;
  const d = c.data as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("hex");
}

describe("log message codec", () => {
  for (const rows of [0, 1, 7, 300]) {
    it(`round-trips an insert of ${rows} rows with every column type, bit-exact`, () => {
      const m: InsertMsg = {
        type: MsgType.Insert,
        timestamp: 123456789012345n,
        collectionId: 9007199254740993n,
        partitionId: 2n,
        segmentId: -3n,
        channel: "dml_1_0",
        rowIds: new BigInt64Array(rows).map((_, i) => BigInt(i) + 1000n),
        fields: columns(rows, rows + 1),
      };
      const out = decodeMsg(encodeMsg(m));
      assert.equal(out.type, MsgType.Insert);
      if (out.type !== MsgType.Insert) return;
      assert.equal(out.timestamp, m.timestamp);
      assert.equal(out.collectionId, m.collectionId);
      assert.equal(out.segmentId, m.segmentId);
      assert.equal(out.channel, m.channel);
      assert.deepEqual([...out.rowIds], [...m.rowIds]);
      assert.deepEqual(
        out.fields.map((f) => [f.fieldId, f.column.type, plain(f.column)]),
        m.fields.map((f) => [f.fieldId, f.column.type, plain(f.column)]),
      );
      const vec = out.fields.find((f) => f.fieldId === 101)?.column;
      if (rows > 0 && vec?.type === DataType.FloatVector) assert.ok(vec.data.byteOffset % 4 === 0);
    });
  }

  it("round-trips deletes with Int64 and VarChar keys, time ticks and DDL", () => {
    const msgs: Msg[] = [
      {
        type: MsgType.Delete,
        timestamp: 5n,
        collectionId: 1n,
        partitionId: -1n,
        channel: "c",
        pks: new BigInt64Array([1n, -2n]),
      },
      {
        type: MsgType.Delete,
        timestamp: 6n,
        collectionId: 1n,
        partitionId: 4n,
        channel: "c",
        pks: ["a", "", "ü"],
      },
      { type: MsgType.TimeTick, timestamp: 2n ** 63n },
      {
        type: MsgType.CreateCollection,
        timestamp: 7n,
        collectionId: 8n,
        partitionId: 0n,
        body: '{"name":"ü"}',
      },
    ];
    for (const m of msgs) {
      const out = decodeMsg(encodeMsg(m));
      if (m.type === MsgType.Delete) {
        const d = out as DeleteMsg;
        assert.deepEqual([...d.pks], [...m.pks]);
        assert.equal(d.partitionId, m.partitionId);
      } else {
        assert.deepEqual(out, m);
      }
    }
  });

  it("rejects mismatched column lengths at encode", () => {
    assert.throws(
      () =>
        encodeMsg({
          type: MsgType.Insert,
          timestamp: 1n,
          collectionId: 1n,
          partitionId: 1n,
          segmentId: 1n,
          channel: "c",
          rowIds: new BigInt64Array(2),
          fields: [{ fieldId: 100, column: { type: DataType.Int64, data: new BigInt64Array(3) } }],
        }),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
  });

  it("reports every truncation and garbage as Corrupted, never another error", () => {
    const bytes = encodeMsg({
      type: MsgType.Insert,
      timestamp: 1n,
      collectionId: 1n,
      partitionId: 1n,
      segmentId: 1n,
      channel: "dml_9_1",
      rowIds: new BigInt64Array(5),
      fields: columns(5, 3),
    });
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(
        () => decodeMsg(bytes.subarray(0, n)),
        (e: unknown) => isStrataError(e, "Corrupted"),
        `truncated at ${n}`,
      );
    }
    const r = rng(99);
    for (let k = 0; k < 300; k++) {
      const g = new Uint8Array(8 + Math.floor(r() * 200)).map(() => r() * 256);
      if (k % 2 === 0) g.set(bytes.subarray(0, 8));
      try {
        decodeMsg(g);
      } catch (e) {
        assert.ok(isStrataError(e, "Corrupted"), String(e));
      }
    }
  });
});

describe("encodeInsertRows", () => {
  it("writes exactly the bytes of encoding the gathered message, for every column type", () => {
    const rows = 50;
    const m: InsertMsg = {
      type: MsgType.Insert,
      timestamp: 99n,
      collectionId: 1n,
      partitionId: 2n,
      segmentId: 3n,
      channel: "dml_1_0",
      rowIds: new BigInt64Array(rows).map((_, i) => BigInt(i) * 3n),
      fields: columns(rows, 17),
    };
    const r = rng(5);
    for (const n of [0, 1, 17, 50]) {
      const idx = new Uint32Array(n).map(() => Math.floor(r() * rows));
      const gathered: InsertMsg = {
        ...m,
        rowIds: gather({ type: DataType.Int64, data: m.rowIds }, idx).data as BigInt64Array,
        fields: m.fields.map((f) => ({ fieldId: f.fieldId, column: gather(f.column, idx) })),
      };
      assert.deepEqual(Buffer.from(encodeInsertRows(m, idx)), Buffer.from(encodeMsg(gathered)));
    }
    assert.throws(
      () => encodeInsertRows(m, new Uint32Array([rows])),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
  });
});

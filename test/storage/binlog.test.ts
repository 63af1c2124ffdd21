import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Column } from "../../src/common/column.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { DataType, MAX_DIM } from "../../src/common/types.ts";
import { type BinlogHeader, decodeBinlog, encodeBinlog } from "../../src/storage/index.ts";
import { rng } from "../helpers/env.ts";
import {
  assertSameColumn,
  DENSE_TYPES,
  ELEMENT_TYPES,
  headerFor,
  int,
  randomColumn,
  SCALAR_TYPES,
} from "./gen.ts";

function roundTrip(c: Column, rows: number, over: Partial<BinlogHeader> = {}): void {
  const header = headerFor(c, rows, over);
  const bytes = encodeBinlog(header, c);
  const out = decodeBinlog(bytes);
  assert.deepEqual(out.header, header);
  assertSameColumn(out.column, c);
}

/** Every (type, params) combination the codec supports. */
function allKinds(r: () => number): { type: DataType; opts: { dim?: number; elementType?: DataType } }[] {
  return [
    ...SCALAR_TYPES.map((type) => ({ type, opts: {} })),
    ...ELEMENT_TYPES.map((elementType) => ({ type: DataType.Array as DataType, opts: { elementType } })),
    ...DENSE_TYPES.map((type) => ({ type: type as DataType, opts: { dim: 8 * int(r, 1, 8) } })),
    { type: DataType.SparseFloatVector, opts: {} },
  ];
}

describe("binlog round trip", () => {
  it("every data type, random data, bit-exact (several seeds and sizes)", () => {
    for (const seed of [1, 2, 3, 20240601]) {
      const r = rng(seed);
      for (const { type, opts } of allKinds(r)) {
        for (const rows of [0, 1, int(r, 2, 50), 257]) {
          const c = randomColumn(r, type, rows, opts);
          try {
            roundTrip(c, rows);
          } catch (e) {
            assert.fail(`seed ${seed} type ${type} ${JSON.stringify(opts)} rows ${rows}: ${String(e)}`);
          }
        }
      }
    }
  });

  it("header values round trip, including the extremes of each ID range", () => {
    const r = rng(7);
    const c = randomColumn(r, DataType.Int64, 3);
    const max63 = (1n << 63n) - 1n;
    const max64 = (1n << 64n) - 1n;
    for (const over of [
      { collectionId: 0n, partitionId: 0n, segmentId: 0n, fieldId: 0, timestampFrom: 0n, timestampTo: 0n },
      {
        collectionId: max63,
        partitionId: max63,
        segmentId: max63,
        fieldId: 1,
        timestampFrom: max64,
        timestampTo: max64,
      },
      {
        collectionId: 449_812_345_678_901_234n,
        fieldId: Number.MAX_SAFE_INTEGER,
        timestampFrom: 1n << 62n,
        timestampTo: max64,
      },
    ]) {
      roundTrip(c, 3, over);
    }
  });

  it("edge cases: empty and non-ASCII strings, empty arrays, empty sparse rows", () => {
    roundTrip({ type: DataType.VarChar, data: ["", "", ""] }, 3);
    roundTrip({ type: DataType.VarChar, data: ["héllo", "", "中文", "😀🚀", "\u0000", "a\u{10FFFF}b"] }, 6);
    roundTrip({ type: DataType.String, data: ["only ascii", "x", ""] }, 3);
    roundTrip(
      { type: DataType.JSON, data: [new Uint8Array(0), new TextEncoder().encode('{"a":[1,2,{"b":"ü"}]}')] },
      2,
    );
    roundTrip({ type: DataType.JSON, data: [Uint8Array.of(0xff, 0xfe, 0x00, 0x80)] }, 1); // not even UTF-8: bytes kept
    roundTrip(
      {
        type: DataType.Array,
        elementType: DataType.VarChar,
        data: [
          { type: DataType.VarChar, data: [] },
          { type: DataType.VarChar, data: ["", "ü"] },
          { type: DataType.VarChar, data: [] },
        ],
      },
      3,
    );
    roundTrip(
      {
        type: DataType.Array,
        elementType: DataType.Int64,
        data: [{ type: DataType.Int64, data: new BigInt64Array(0) }],
      },
      1,
    );
    roundTrip(
      {
        type: DataType.SparseFloatVector,
        data: [
          { indices: new Uint32Array(0), values: new Float32Array(0) },
          { indices: Uint32Array.of(0, 7, 0xffffffff), values: Float32Array.of(1, -0, 3.5) },
          { indices: new Uint32Array(0), values: new Float32Array(0) },
        ],
      },
      3,
    );
  });

  it("max-dim vectors, one row", () => {
    const r = rng(11);
    for (const type of DENSE_TYPES) roundTrip(randomColumn(r, type, 1, { dim: MAX_DIM }), 1);
  });

  it("NaN payloads, -0, infinities and subnormals keep their exact bits", () => {
    const patterns = Uint32Array.of(
      0x7fc00000,
      0x7fc00001,
      0xffc12345,
      0x7f800001,
      0xff800000,
      0x80000000,
      0x00000001,
      0x7f800000,
    );
    const fv = new Float32Array(patterns.buffer.slice(0));
    const out = decodeBinlog(
      encodeBinlog(headerFor({ type: DataType.FloatVector, dim: 4, data: fv }, 2), {
        type: DataType.FloatVector,
        dim: 4,
        data: fv,
      }),
    );
    assert.equal(out.column.type, DataType.FloatVector);
    const got = out.column.data as Float32Array;
    assert.deepEqual([...new Uint32Array(got.buffer, got.byteOffset, got.length)], [...patterns]);

    const dbits = BigUint64Array.of(0x7ff8000000000001n, 0xfff0000000000001n, 0x8000000000000000n, 1n);
    const dv = new Float64Array(dbits.buffer.slice(0));
    const d = decodeBinlog(
      encodeBinlog(headerFor({ type: DataType.Double, data: dv }, 4), { type: DataType.Double, data: dv }),
    );
    const dg = d.column.data as Float64Array;
    assert.deepEqual([...new BigUint64Array(dg.buffer, dg.byteOffset, dg.length)], [...dbits]);

    const h = Uint16Array.of(0x7e01, 0xfc00, 0x8000, 0x0001, 0x7fff, 0xffff);
    for (const type of [DataType.Float16Vector, DataType.BFloat16Vector] as const) {
      const c: Column = { type, dim: 3, data: h };
      const o = decodeBinlog(encodeBinlog(headerFor(c, 2), c));
      assert.deepEqual([...(o.column.data as Uint16Array)], [...h]);
    }
  });

  it("decodes from unaligned and Buffer inputs", () => {
    const r = rng(5);
    const c = randomColumn(r, DataType.FloatVector, 10, { dim: 8 });
    const bytes = encodeBinlog(headerFor(c, 10), c);
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    assertSameColumn(decodeBinlog(big.subarray(3)).column, c);
    assertSameColumn(decodeBinlog(Buffer.from(bytes)).column, c);
  });

  it("fixed-width decode is zero-copy on aligned input", () => {
    const c = randomColumn(rng(6), DataType.FloatVector, 100, { dim: 16 });
    const bytes = encodeBinlog(headerFor(c, 100), c);
    const out = decodeBinlog(bytes);
    assert.equal((out.column.data as Float32Array).buffer, bytes.buffer);
  });
});

describe("binlog encode rejects bad input with ParameterInvalid", () => {
  const r = rng(9);
  const i32 = randomColumn(r, DataType.Int32, 4);
  const fv = randomColumn(r, DataType.FloatVector, 2, { dim: 4 });
  const cases: [string, BinlogHeader, Column][] = [
    ["type mismatch", headerFor(i32, 4, { dataType: DataType.Int64 }), i32],
    ["row count mismatch", headerFor(i32, 5), i32],
    ["negative id", headerFor(i32, 4, { segmentId: -1n }), i32],
    ["id beyond int64", headerFor(i32, 4, { collectionId: 1n << 63n }), i32],
    ["number id", headerFor(i32, 4, { partitionId: 5 as unknown as bigint }), i32],
    ["fractional fieldId", headerFor(i32, 4, { fieldId: 1.5 }), i32],
    ["timestamps reversed", headerFor(i32, 4, { timestampFrom: 9n, timestampTo: 8n }), i32],
    ["timestamp beyond uint64", headerFor(i32, 4, { timestampTo: 1n << 64n }), i32],
    ["dim on a scalar", headerFor(i32, 4, { dim: 4 }), i32],
    ["dim mismatch", headerFor(fv, 2, { dim: 8 }), fv],
    [
      "unknown data type",
      headerFor(i32, 4, { dataType: 77 as DataType }),
      { ...i32, type: 77 } as unknown as Column,
    ],
    [
      "wrong array class",
      headerFor(i32, 4),
      { type: DataType.Int32, data: new Uint32Array(4) } as unknown as Column,
    ],
    [
      "bool not 0/1",
      headerFor({ type: DataType.Bool, data: Uint8Array.of(0, 2) }, 2),
      { type: DataType.Bool, data: Uint8Array.of(0, 2) },
    ],
    [
      "lone surrogate",
      headerFor({ type: DataType.VarChar, data: ["ok", "a\ud800"] }, 2),
      { type: DataType.VarChar, data: ["ok", "a\ud800"] },
    ],
    [
      "non-string row",
      headerFor({ type: DataType.VarChar, data: [] }, 1),
      { type: DataType.VarChar, data: [5] } as unknown as Column,
    ],
    [
      "binary dim not multiple of 8",
      headerFor(fv, 1, { dataType: DataType.BinaryVector, dim: 12 }),
      { type: DataType.BinaryVector, dim: 12, data: new Uint8Array(3) } as Column,
    ],
    [
      "vector data not a multiple of dim",
      headerFor(fv, 1),
      { type: DataType.FloatVector, dim: 4, data: new Float32Array(6) },
    ],
    [
      "array without element type",
      headerFor(i32, 0, { dataType: DataType.Array }),
      { type: DataType.Array, elementType: DataType.Int32, data: [] },
    ],
    [
      "array of JSON",
      headerFor(i32, 0, { dataType: DataType.Array, elementType: DataType.JSON }),
      { type: DataType.Array, elementType: DataType.JSON, data: [] },
    ],
    [
      "array row of another type",
      headerFor(i32, 1, { dataType: DataType.Array, elementType: DataType.Int32 }),
      {
        type: DataType.Array,
        elementType: DataType.Int32,
        data: [{ type: DataType.Int64, data: new BigInt64Array(1) }],
      },
    ],
    [
      "sparse indices not increasing",
      headerFor(i32, 1, { dataType: DataType.SparseFloatVector }),
      {
        type: DataType.SparseFloatVector,
        data: [{ indices: Uint32Array.of(3, 3), values: new Float32Array(2) }],
      },
    ],
    [
      "sparse length mismatch",
      headerFor(i32, 1, { dataType: DataType.SparseFloatVector }),
      {
        type: DataType.SparseFloatVector,
        data: [{ indices: Uint32Array.of(1, 3), values: new Float32Array(1) }],
      },
    ],
  ];
  for (const [name, header, column] of cases) {
    it(name, () => {
      assert.throws(
        () => encodeBinlog(header, column),
        (e: unknown) => isStrataError(e, "ParameterInvalid"),
      );
    });
  }
});

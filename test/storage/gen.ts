/**
 * Seeded random columns for the storage tests, and a bit-exact column comparison (the oracle).
 * Floats are generated from random bit patterns, so NaN payloads, -0, infinities and subnormals all
 * occur, and equality is byte equality, never numeric equality.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Column, SparseRow } from "../../src/common/column.ts";
import { DataType } from "../../src/common/types.ts";
import type { BinlogHeader } from "../../src/storage/index.ts";

export type Rng = () => number;

export function int(r: Rng, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export function randomBytes(r: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

function bits<T>(r: Rng, ctor: new (b: ArrayBuffer) => T, n: number, width: number): T {
  return new ctor(randomBytes(r, n * width).buffer as ArrayBuffer);
}

const ALPHABET = ["a", "Z", "0", " ", "-", "é", "ß", "ж", "中", "文", "😀", "🚀", "\u0000", "\n", '"', "\\"];

export function randomString(r: Rng, maxLen: number, asciiOnly = false): string {
  const n = int(r, 0, maxLen);
  let s = "";
  for (let i = 0; i < n; i++) {
    s += asciiOnly ? String.fromCharCode(int(r, 32, 126)) : (ALPHABET[int(r, 0, ALPHABET.length - 1)] ?? "a");
  }
  return s;
}

export const SCALAR_TYPES = [
  DataType.Bool,
  DataType.Int8,
  DataType.Int16,
  DataType.Int32,
  DataType.Int64,
  DataType.Float,
  DataType.Double,
  DataType.VarChar,
  DataType.String,
  DataType.JSON,
] as const;

export const ELEMENT_TYPES = [
  DataType.Bool,
  DataType.Int8,
  DataType.Int16,
  DataType.Int32,
  DataType.Int64,
  DataType.Float,
  DataType.Double,
  DataType.VarChar,
] as const;

export const DENSE_TYPES = [
  DataType.BinaryVector,
  DataType.FloatVector,
  DataType.Float16Vector,
  DataType.BFloat16Vector,
] as const;

/** A flat column (scalar or Array element) of `n` rows. */
export function randomFlat(r: Rng, type: DataType, n: number): Column {
  switch (type) {
    case DataType.Bool:
      return { type, data: Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)) };
    case DataType.Int8:
      return { type, data: bits(r, Int8Array, n, 1) };
    case DataType.Int16:
      return { type, data: bits(r, Int16Array, n, 2) };
    case DataType.Int32:
      return { type, data: bits(r, Int32Array, n, 4) };
    case DataType.Int64:
      return { type, data: bits(r, BigInt64Array, n, 8) };
    case DataType.Float:
      return { type, data: bits(r, Float32Array, n, 4) };
    case DataType.Double:
      return { type, data: bits(r, Float64Array, n, 8) };
    case DataType.VarChar:
    case DataType.String: {
      const ascii = r() < 0.3;
      return { type, data: Array.from({ length: n }, () => randomString(r, 12, ascii)) };
    }
    case DataType.JSON:
      return { type, data: Array.from({ length: n }, () => randomBytes(r, int(r, 0, 20))) };
    default:
      throw new Error(`not a flat type: ${type}`);
  }
}

export function randomSparseRow(r: Rng, maxNnz: number): SparseRow {
  const set = new Set<number>();
  const nnz = int(r, 0, maxNnz);
  while (set.size < nnz) {
    const edge = r();
    set.add(edge < 0.05 ? 0 : edge < 0.1 ? 0xffffffff : Math.floor(r() * 0x100000000));
  }
  const indices = Uint32Array.from([...set].sort((a, b) => a - b));
  return { indices, values: bits(r, Float32Array, nnz, 4) };
}

/** A random column of any type; `dim` for dense vectors. */
export function randomColumn(
  r: Rng,
  type: DataType,
  n: number,
  opts: { dim?: number; elementType?: DataType } = {},
): Column {
  switch (type) {
    case DataType.Array: {
      const elementType = opts.elementType ?? DataType.Int32;
      return {
        type,
        elementType,
        data: Array.from({ length: n }, () => randomFlat(r, elementType, int(r, 0, 5))),
      };
    }
    case DataType.BinaryVector: {
      const dim = opts.dim ?? 16;
      return { type, dim, data: randomBytes(r, (n * dim) / 8) };
    }
    case DataType.FloatVector: {
      const dim = opts.dim ?? 4;
      return { type, dim, data: bits(r, Float32Array, n * dim, 4) };
    }
    case DataType.Float16Vector:
    case DataType.BFloat16Vector: {
      const dim = opts.dim ?? 4;
      return { type, dim, data: bits(r, Uint16Array, n * dim, 2) };
    }
    case DataType.SparseFloatVector:
      return { type, data: Array.from({ length: n }, () => randomSparseRow(r, 6)) };
    default:
      return randomFlat(r, type, n);
  }
}

export function headerFor(c: Column, rowCount: number, over: Partial<BinlogHeader> = {}): BinlogHeader {
  return {
    collectionId: 444n,
    partitionId: 445n,
    segmentId: 446n,
    fieldId: 101,
    dataType: c.type,
    ...("dim" in c ? { dim: c.dim } : {}),
    ...(c.type === DataType.Array ? { elementType: c.elementType } : {}),
    rowCount,
    timestampFrom: 100n,
    timestampTo: 200n,
    ...over,
  };
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView, where: string): void {
  assert.equal(a.constructor.name, b.constructor.name, `${where}: array class`);
  assert.equal(a.byteLength, b.byteLength, `${where}: byte length`);
  const x = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const y = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (!x.equals(y)) {
    const at = x.findIndex((v, i) => v !== y[i]);
    assert.fail(`${where}: bytes differ at ${at}: ${x[at]} vs ${y[at]}`);
  }
}

/** Bit-exact equality of two columns. */
export function assertSameColumn(actual: Column, expected: Column, where = "column"): void {
  assert.equal(actual.type, expected.type, `${where}: type`);
  if ("dim" in expected) assert.equal((actual as { dim?: number }).dim, expected.dim, `${where}: dim`);
  switch (expected.type) {
    case DataType.VarChar:
    case DataType.String:
      assert.deepEqual([...(actual.data as readonly string[])], [...expected.data], `${where}: strings`);
      return;
    case DataType.JSON: {
      const rows = actual.data as readonly Uint8Array[];
      assert.equal(rows.length, expected.data.length, `${where}: rows`);
      expected.data.forEach((e, i) => {
        sameBytes(rows[i] as Uint8Array, e, `${where} row ${i}`);
      });
      return;
    }
    case DataType.Array: {
      assert.equal(
        (actual as { elementType?: DataType }).elementType,
        expected.elementType,
        `${where}: element type`,
      );
      const rows = actual.data as readonly Column[];
      assert.equal(rows.length, expected.data.length, `${where}: rows`);
      expected.data.forEach((e, i) => {
        assertSameColumn(rows[i] as Column, e, `${where} row ${i}`);
      });
      return;
    }
    case DataType.SparseFloatVector: {
      const rows = actual.data as readonly SparseRow[];
      assert.equal(rows.length, expected.data.length, `${where}: rows`);
      expected.data.forEach((e, i) => {
        sameBytes((rows[i] as SparseRow).indices, e.indices, `${where} row ${i} indices`);
        sameBytes((rows[i] as SparseRow).values, e.values, `${where} row ${i} values`);
      });
      return;
    }
    default:
      sameBytes(actual.data as ArrayBufferView, expected.data, where);
  }
}

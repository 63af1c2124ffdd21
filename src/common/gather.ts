import type { Column } from "./column.ts";
import { DataType } from "./types.ts";

/** The rows `idx` of a column, in that order, as a new column (typed-array copies, no per-row objects for fixed width). */
export function gather(c: Column, idx: Uint32Array): Column {
  const n = idx.length;
  switch (c.type) {
    case DataType.FloatVector: {
      const out = new Float32Array(n * c.dim);
      for (let i = 0; i < n; i++) {
        const s = (idx[i] as number) * c.dim;
        out.set(c.data.subarray(s, s + c.dim), i * c.dim);
      }
      return { type: c.type, dim: c.dim, data: out };
    }
    case DataType.BinaryVector: {
      const w = c.dim / 8;
      const out = new Uint8Array(n * w);
      for (let i = 0; i < n; i++)
        out.set(c.data.subarray((idx[i] as number) * w, (idx[i] as number) * w + w), i * w);
      return { type: c.type, dim: c.dim, data: out };
    }
    case DataType.Float16Vector:
    case DataType.BFloat16Vector: {
      const out = new Uint16Array(n * c.dim);
      for (let i = 0; i < n; i++) {
        const s = (idx[i] as number) * c.dim;
        out.set(c.data.subarray(s, s + c.dim), i * c.dim);
      }
      return { type: c.type, dim: c.dim, data: out };
    }
    case DataType.VarChar:
    case DataType.String:
      return { type: c.type, data: Array.from(idx, (i) => c.data[i] as string) };
    case DataType.JSON:
      return { type: c.type, data: Array.from(idx, (i) => c.data[i] as Uint8Array) };
    case DataType.Array:
      return { type: c.type, elementType: c.elementType, data: Array.from(idx, (i) => c.data[i] as Column) };
    case DataType.SparseFloatVector:
      return { type: c.type, data: Array.from(idx, (i) => c.data[i] as (typeof c.data)[number]) };
    default: {
      const src = c.data as unknown as {
        [i: number]: number | bigint;
        constructor: new (n: number) => unknown;
      };
      const out = new (src.constructor as new (n: number) => { [i: number]: number | bigint })(n);
      for (let i = 0; i < n; i++) out[i] = src[idx[i] as number] as number | bigint;
      return { type: c.type, data: out } as unknown as Column;
    }
  }
}

/** Groups row numbers by shard: result[s] = rows of shard s, ascending. */
export function groupByShard(shardOfRow: Uint16Array, shards: number): Uint32Array[] {
  const counts = new Uint32Array(shards);
  for (let i = 0; i < shardOfRow.length; i++)
    counts[shardOfRow[i] as number] = (counts[shardOfRow[i] as number] as number) + 1;
  const out = Array.from(counts, (c) => new Uint32Array(c));
  const fill = new Uint32Array(shards);
  for (let i = 0; i < shardOfRow.length; i++) {
    const s = shardOfRow[i] as number;
    (out[s] as Uint32Array)[fill[s] as number] = i;
    fill[s] = (fill[s] as number) + 1;
  }
  return out;
}

import { Buffer } from "node:buffer";
import type { Column } from "../common/column.ts";
import { DataType } from "../common/types.ts";

/** One value of a column as a plain JS value for API output (Int64 as bigint, JSON parsed, vectors as number[]). */
export function valueAt(c: Column, i: number): unknown {
  switch (c.type) {
    case DataType.Bool:
      return c.data[i] === 1;
    case DataType.VarChar:
    case DataType.String:
      return c.data[i];
    case DataType.JSON: {
      const b = c.data[i] as Uint8Array;
      return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8"));
    }
    case DataType.Array: {
      const el = c.data[i] as Column;
      const n = el.data.length;
      return Array.from({ length: n }, (_, k) => valueAt(el, k));
    }
    case DataType.FloatVector:
      return Array.from(c.data.subarray(i * c.dim, (i + 1) * c.dim));
    case DataType.BinaryVector:
      return Array.from(c.data.subarray((i * c.dim) / 8, ((i + 1) * c.dim) / 8));
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      return Array.from(c.data.subarray(i * c.dim, (i + 1) * c.dim));
    case DataType.SparseFloatVector: {
      const r = c.data[i];
      const out: Record<number, number> = {};
      if (r !== undefined)
        for (let k = 0; k < r.indices.length; k++) out[r.indices[k] as number] = r.values[k] as number;
      return out;
    }
    default:
      return c.data[i];
  }
}

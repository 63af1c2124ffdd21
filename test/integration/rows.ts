/** The deterministic dataset of the write-path tests: every field value is a function of the primary key. */
import type { CollectionSchemaInput } from "../../src/common/schema.ts";

export const DIM = 128;

export const SCHEMA: CollectionSchemaInput = {
  name: "roundtrip",
  fields: [
    { name: "id", dataType: "Int64", isPrimaryKey: true },
    { name: "vec", dataType: "FloatVector", dim: DIM },
    { name: "title", dataType: "VarChar", maxLength: 64 },
    { name: "num", dataType: "Int64" },
    { name: "flag", dataType: "Bool" },
    { name: "meta", dataType: "JSON" },
  ],
};

export function vectorOf(pk: number, out: Float32Array, at: number): void {
  for (let k = 0; k < DIM; k++) out[at + k] = (((pk * 2654435761 + k * 40503) >>> 0) % 100000) / 1000 - 50;
}
export const titleOf = (pk: number) => `doc-${pk}-${"é".repeat(pk % 13)}`;
export const numOf = (pk: number) => BigInt(pk) * 3n - 7n;
export const flagOf = (pk: number) => pk % 3 === 0;
export const metaOf = (pk: number) => ({ pk, tag: `t${pk % 10}` });

/** Columns for primary keys [from, from + n). */
export function batch(from: number, n: number) {
  const id = new BigInt64Array(n);
  const vec = new Float32Array(n * DIM);
  const title: string[] = [];
  const num = new BigInt64Array(n);
  const flag: boolean[] = [];
  const meta: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const pk = from + i;
    id[i] = BigInt(pk);
    vectorOf(pk, vec, i * DIM);
    title.push(titleOf(pk));
    num[i] = numOf(pk);
    flag.push(flagOf(pk));
    meta.push(metaOf(pk));
  }
  return { id, vec, title, num, flag, meta };
}

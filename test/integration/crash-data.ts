import type { CollectionSchemaInput } from "../../src/common/schema.ts";

export const CRASH_DIM = 16;

export const CRASH_SCHEMA: CollectionSchemaInput = {
  name: "crash",
  fields: [
    { name: "id", dataType: "Int64", isPrimaryKey: true },
    { name: "vec", dataType: "FloatVector", dim: CRASH_DIM },
    { name: "tag", dataType: "VarChar", maxLength: 32 },
  ],
};

/** Small buffers and segments so syncs, seals and flushes happen while the process is killed. */
export const CRASH_OVERRIDES = {
  datanode: { insertBufBytes: 64 * 1024, syncPeriodMs: 500 },
  dataservice: { segmentMaxBytes: 2 * 1024 * 1024, assignmentExpirationMs: 500 },
  rootcoord: { timeTickIntervalMs: 50 },
};

export const vecValue = (pk: number, k: number) => ((pk * 31 + k * 7) % 1000) / 10;
export const tagOf = (pk: number) => `t-${pk}`;

export function crashBatch(from: number, n: number) {
  const id = new BigInt64Array(n);
  const vec = new Float32Array(n * CRASH_DIM);
  const tag: string[] = [];
  for (let i = 0; i < n; i++) {
    const pk = from + i;
    id[i] = BigInt(pk);
    for (let k = 0; k < CRASH_DIM; k++) vec[i * CRASH_DIM + k] = vecValue(pk, k);
    tag.push(tagOf(pk));
  }
  return { id, vec, tag };
}

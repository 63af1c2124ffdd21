// Shared by the index-build crash test and its child.

import { rng } from "../helpers/env.ts";
import { gaussians } from "../index/data.ts";

const DIM = 32;
const ROWS = 20_000;

export const INDEX_CRASH = {
  name: "idxcrash",
  dim: DIM,
  count: ROWS,
  schema: {
    name: "idxcrash",
    fields: [
      { name: "id", dataType: "Int64", isPrimaryKey: true },
      { name: "vec", dataType: "FloatVector", dim: DIM },
    ],
  },
  // Slow on purpose (seconds per segment on one thread), so kills land mid-build.
  index: { fieldName: "vec", indexType: "HNSW", metricType: "L2", params: { M: 32, efConstruction: 400 } },
  rows(): { ids: number[]; vec: Float32Array } {
    const vec = gaussians(rng(2024), ROWS * DIM);
    return { ids: Array.from({ length: ROWS }, (_, i) => i), vec };
  },
} as const;

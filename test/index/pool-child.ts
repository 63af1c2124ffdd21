// Run by pool.test.ts under the tsx CLI: starts a pool, runs one split search, prints the rows.
import { DataType } from "../../src/common/types.ts";
import { SearchPool } from "../../src/index/index.ts";

const dim = 8;
const data = Float32Array.from({ length: 1000 * dim }, (_, i) => (i % 97) / 97);
const pool = await SearchPool.start({ size: 2, inlineBelow: 0, minPartWork: 1 });
try {
  const res = await pool.search({
    segment: { type: DataType.FloatVector, dim, data },
    queries: data.subarray(5 * dim, 6 * dim),
    metric: "L2",
    topk: 3,
  });
  console.log(`pool-child ok [${[...res.offsets].join(",")}]`);
} finally {
  await pool.close();
}

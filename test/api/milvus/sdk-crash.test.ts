import assert from "node:assert/strict";
import { describe, it } from "node:test";
import sdk from "@zilliz/milvus2-sdk-node";
import { rng, tempDir } from "../../helpers/env.ts";
import { spawnStrata } from "./spawn.ts";

const { MilvusClient, DataType, ErrorCode } = sdk;
type Client = InstanceType<typeof MilvusClient>;
type InsertRows = import("@zilliz/milvus2-sdk-node").RowData[];

const SEED = Number(process.env.STRATA_CRASH_SEED ?? 7331);
const ROUNDS = 3;
const BATCH = 500;
const DIM = 8;

/** Every id present, by range queries (each returns a key once). */
async function presentIds(client: Client, upTo: number): Promise<Set<number>> {
  const found = new Set<number>();
  const step = 10_000;
  for (let lo = 0; lo < upTo; lo += step) {
    const r = await client.query({
      collection_name: "crash",
      filter: `id >= ${lo} and id < ${lo + step}`,
      output_fields: ["id"],
      limit: 16_384,
    });
    assert.equal(r.status.error_code, ErrorCode.SUCCESS, r.status.reason);
    for (const row of r.data) found.add(Number(row.id));
  }
  return found;
}

describe(`strata serve survives SIGKILL during SDK inserts (seed ${SEED})`, () => {
  it("after each restart every acknowledged row is there exactly once", async () => {
    const t = await tempDir();
    const next = rng(SEED);
    const acked = new Set<number>();
    let nextId = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const server = await spawnStrata(t.dir);
        const client = new MilvusClient({ address: server.address, logLevel: "error" });
        await client.connectPromise;
        if (round === 0) {
          const c = await client.createCollection({
            collection_name: "crash",
            consistency_level: "Strong",
            fields: [
              { name: "id", data_type: DataType.Int64, is_primary_key: true },
              { name: "v", data_type: DataType.FloatVector, dim: DIM },
            ],
          });
          assert.equal(c.error_code, ErrorCode.SUCCESS, c.reason);
          await client.createIndex({
            collection_name: "crash",
            field_name: "v",
            index_type: "FLAT",
            metric_type: "L2",
          });
        }
        // Two writers insert until the kill; an insert counts only once its success status arrived.
        const killAt = Date.now() + 400 + Math.floor(next() * 1600);
        let stop = false;
        const writer = async () => {
          while (!stop) {
            const from = nextId;
            nextId += BATCH;
            const rows = Array.from({ length: BATCH }, (_, k) => ({
              id: from + k,
              v: Array(DIM).fill((from + k) % 97),
            }));
            try {
              const r = await client.insert({
                collection_name: "crash",
                data: rows as unknown as InsertRows,
              });
              if (r.status.error_code === ErrorCode.SUCCESS) for (const row of rows) acked.add(row.id);
            } catch {
              return; // the server died under us
            }
          }
        };
        const writers = [writer(), writer()];
        if (round === 1) {
          // A flush in flight at the kill too.
          void client.flush({ collection_names: ["crash"] }).catch(() => undefined);
        }
        while (Date.now() < killAt) await new Promise((r) => setTimeout(r, 20));
        await server.kill();
        stop = true;
        await Promise.all(writers);
        client.closeConnection().catch(() => undefined);
        assert.ok(acked.size > 0, "some inserts were acknowledged before the kill");

        const again = await spawnStrata(t.dir);
        const c2 = new MilvusClient({ address: again.address, logLevel: "error" });
        await c2.connectPromise;
        const load = await c2.loadCollectionSync({ collection_name: "crash" });
        assert.equal(load.error_code, ErrorCode.SUCCESS, load.reason);
        const found = await presentIds(c2, nextId);
        const lost = [...acked].filter((id) => !found.has(id));
        assert.deepEqual(lost.slice(0, 10), [], `round ${round}: ${lost.length} acknowledged rows lost`);
        for (const id of found) assert.ok(id < nextId, `unexpected id ${id}`);
        const count = await c2.count({ collection_name: "crash" });
        assert.equal(
          Number(count.data),
          found.size,
          `round ${round}: count(*) ${count.data} vs ${found.size} distinct ids (duplicates)`,
        );
        await c2.releaseCollection({ collection_name: "crash" });
        await c2.closeConnection();
        assert.equal(await again.stop(), 0, again.output());
      }
    } finally {
      await t.cleanup();
    }
  });
});

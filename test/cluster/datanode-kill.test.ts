/**
 * Issue 7, proof 3: SIGKILL of one of two data nodes in the middle of an SDK ingest. Inserts keep
 * going; after the survivor takes the dead node's channels (resuming from their checkpoints), a
 * flush and a load show every acknowledged row exactly once — none lost, none duplicated — and
 * searches match a brute-force oracle over the rows stored.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { rng } from "../helpers/env.ts";
import { type Cluster, type RoleProcess, sharedEngines, startCluster, waitUntil } from "./harness.ts";
import {
  type Client,
  connect,
  count,
  createCollection,
  distinct,
  flush,
  indexAndLoad,
  insertRows,
  oracle,
  rowOf,
  rowsOf,
  sameHits,
  scanStored,
  search,
  testSeed,
} from "./sdk.ts";

const { skip } = sharedEngines();
const BATCHES = 40;
const BATCH = 100;
const FLUSH_AT = 8;

/** Rejects when `p` takes longer than `ms` (a hung flush must fail the test, not stall it). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
    }),
  ]);
}

describe("cluster: SIGKILL of a data node during ingest", { skip }, () => {
  let cluster: Cluster;
  let client: Client;

  before(async () => {
    cluster = await startCluster({
      label: "dnkill",
      groups: [
        ["rootcoord", "dataservice", "queryservice"],
        ["proxy", "querynode", "indexnode"],
        ["datanode"],
        ["datanode"],
      ],
      // Small insert buffers: the data nodes write binlogs and advance checkpoints mid-stream, so
      // the survivor must resume after persisted data and skip it.
      config: { datanode: { insertBufBytes: 8 * 1024 } },
    });
    client = await connect(cluster.proxyAddress());
  });
  after(async () => {
    await client?.closeConnection();
    await cluster?.closeAll();
  });

  it("keeps every acknowledged row exactly once and searchable", () =>
    cluster.guard(async () => {
      const seed = testSeed("datanode-kill");
      const next = rng(seed);
      const name = "dnkill";
      await createCollection(client, name, 2);
      const coord = cluster.withRole("dataservice")[0] as RoleProcess;
      const dataNodes = cluster.withRole("datanode");
      assert.equal(dataNodes.length, 2);

      const killAt = FLUSH_AT + 4 + Math.floor(next() * (BATCHES - FLUSH_AT - 12));
      const acked = new Set<number>();
      const failures: string[] = [];
      let victim: RoleProcess | undefined;
      let killed: Promise<void> | undefined;
      for (let b = 0; b < BATCHES; b++) {
        const rows = rowsOf(seed, b * BATCH, BATCH);
        if (b === killAt) {
          // The victim is a data node that holds channels of the collection right now.
          const st = await cluster.status(coord);
          const holding = dataNodes.filter((p) =>
            st.dataservice?.nodes.some((n) => n.nodeId === p.nodeId && n.channels.length > 0),
          );
          console.log(
            `# batch ${b}/${BATCHES}: data node channels ${JSON.stringify(st.dataservice?.nodes.map((n) => [n.nodeId, n.channels]))}`,
          );
          assert.ok(holding.length > 0, "no data node holds a channel of the collection");
          victim = holding[Math.floor(next() * holding.length)] as RoleProcess;
          console.log(
            `# SIGKILL data node ${victim.nodeId} (pid ${victim.pid}) while batch ${b} is in flight`,
          );
        }
        const insert = insertRows(client, name, rows).then(
          () => {
            for (const r of rows) acked.add(r.id);
          },
          (e: unknown) => {
            failures.push(`batch ${b}: ${e instanceof Error ? e.message : String(e)}`);
          },
        );
        if (b === killAt && victim !== undefined) killed = cluster.kill(victim, "SIGKILL");
        await insert;
        if (b === FLUSH_AT) await flush(client, name);
      }
      await killed;
      assert.ok(victim !== undefined);
      assert.equal(victim.exit()?.signal, "SIGKILL");
      console.log(
        `# acknowledged ${acked.size} of ${BATCHES * BATCH} rows; failed batches: ${failures.length}`,
      );
      if (failures.length > 0) console.log(`#   ${failures.join("\n#   ")}`);
      // Inserts go through the log, not the data nodes: losing one must not fail them.
      assert.deepEqual(failures, []);

      const survivor = dataNodes.find((p) => p !== victim) as RoleProcess;
      const t0 = Date.now();
      await waitUntil("the dead data node's channels to move to the survivor", 30_000, async () => {
        const st = await cluster.status(coord);
        const nodes = st.dataservice?.nodes ?? [];
        return nodes.length === 1 &&
          nodes[0]?.nodeId === survivor.nodeId &&
          (nodes[0]?.channels.length ?? 0) >= 2
          ? true
          : undefined;
      });
      console.log(`# channels moved to data node ${survivor.nodeId} after ${Date.now() - t0} ms`);

      await within(flush(client, name), 60_000, "flush after the data node's death");
      await within(indexAndLoad(client, name), 60_000, "index and load");

      const all = BATCHES * BATCH;
      const stored = await scanStored(client, name, seed, all);
      const { set, duplicated } = distinct(stored);
      const lost = [...acked].filter((id) => !set.has(id));
      console.log(
        `# stored ${stored.length} rows, ${set.size} distinct; lost ${lost.length}, duplicated ${duplicated.length}`,
      );
      assert.deepEqual(lost.slice(0, 20), [], `${lost.length} acknowledged rows lost`);
      assert.deepEqual(duplicated.slice(0, 20), [], `${duplicated.length} rows stored twice`);
      assert.equal(await count(client, name), set.size, "count(*) vs distinct stored keys");

      const present = [...set].map((id) => rowOf(seed, id));
      for (let q = 0; q < 5; q++) {
        const query = rowOf(seed + 7, 1_000_000 + q).vec;
        const got = await search(client, name, [query], 10);
        assert.ok(got.ok, got.reason);
        const diff = sameHits(got.hits[0] ?? [], oracle(present, query, 10));
        assert.equal(diff, undefined, `search ${q}: ${diff}`);
      }
    }));
});

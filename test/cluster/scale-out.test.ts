/**
 * Issue 7, proof 5: a third query node joining a loaded two-node cluster gets sealed segments
 * moved onto it (seen in its own /status within a bounded wait), and a fixed set of searches gives
 * identical results before, during and after the move.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Cluster, sharedEngines, sleep, startCluster, waitUntil } from "./harness.ts";
import {
  type Client,
  connect,
  count,
  createCollection,
  flush,
  type Hit,
  indexAndLoad,
  insertRows,
  oracle,
  type Row,
  rowOf,
  rowsOf,
  sameHits,
  search,
  testSeed,
  tryCount,
} from "./sdk.ts";

const { skip } = sharedEngines();
const FLUSHES = 6;
const PER_FLUSH = 300;
const QUERIES = 8;
const K = 10;

describe("cluster: scale-out of the query nodes", { skip }, () => {
  let cluster: Cluster;
  let client: Client;

  before(async () => {
    cluster = await startCluster({
      label: "scaleout",
      groups: [
        ["rootcoord", "dataservice", "queryservice"],
        ["proxy", "datanode", "indexnode"],
        ["querynode"],
        ["querynode"],
      ],
    });
    client = await connect(cluster.proxyAddress());
  });
  after(async () => {
    await client?.closeConnection();
    await cluster?.closeAll();
  });

  it("moves segments onto a new query node and keeps search results identical", () =>
    cluster.guard(async () => {
      const seed = testSeed("scale-out");
      const name = "scaleout";
      await createCollection(client, name, 2);
      const rows: Row[] = [];
      for (let f = 0; f < FLUSHES; f++) {
        const batch = rowsOf(seed, f * PER_FLUSH, PER_FLUSH);
        await insertRows(client, name, batch);
        rows.push(...batch);
        await flush(client, name);
      }
      await indexAndLoad(client, name);
      const total = rows.length;
      const queries = Array.from({ length: QUERIES }, (_, q) => rowOf(seed + 3, 1_000_000 + q).vec);
      const want: Hit[][] = queries.map((q) => oracle(rows, q, K));

      const baseline: Hit[][] = [];
      for (const [q, query] of queries.entries()) {
        const got = await search(client, name, [query], K);
        assert.ok(got.ok, got.reason);
        const hits = got.hits[0] ?? [];
        assert.equal(sameHits(hits, want[q] as Hit[]), undefined, `baseline search ${q}`);
        baseline.push(hits);
      }
      assert.equal(await count(client, name), total);
      const old = cluster.withRole("querynode");
      const before = (await Promise.all(old.map((p) => cluster.status(p)))).map(
        (st) => st.querynode?.segments.sealed ?? [],
      );
      const segmentIds = new Set(before.flat());
      console.log(`# sealed segments per query node before: ${before.map((l) => l.length).join(", ")}`);
      assert.equal(before.flat().length, segmentIds.size, "a segment is loaded twice before the scale-out");
      assert.ok(segmentIds.size >= 6, `want several sealed segments to spread, have ${segmentIds.size}`);

      // Reads keep running while the new node joins: a successful one must match the baseline.
      const during = { good: 0, failures: new Map<string, number>(), wrong: [] as string[] };
      let running = true;
      const reader = (async () => {
        for (let i = 0; running; i++) {
          const q = i % QUERIES;
          if (i % 5 === 4) {
            const c = await tryCount(client, name);
            if (!c.ok) during.failures.set(c.reason, (during.failures.get(c.reason) ?? 0) + 1);
            else if (c.rows !== total) during.wrong.push(`count(*) ${c.rows}, want ${total}`);
            else during.good++;
            continue;
          }
          const got = await search(client, name, [queries[q] as number[]], K);
          if (!got.ok) {
            during.failures.set(got.reason, (during.failures.get(got.reason) ?? 0) + 1);
            continue;
          }
          const diff = sameHits(got.hits[0] ?? [], baseline[q] as Hit[]);
          if (diff !== undefined) during.wrong.push(`search ${q}: ${diff}`);
          else during.good++;
        }
      })();
      let moved: number;
      const t0 = Date.now();
      try {
        const added = await cluster.add(["querynode"]);
        console.log(`# added query node ${added.nodeId} after ${Date.now() - t0} ms`);
        const t1 = Date.now();
        moved = await waitUntil(
          `sealed segments on the new query node ${added.nodeId} (/status)`,
          40_000,
          async () => {
            const n = (await cluster.status(added)).querynode?.segments.sealed.length ?? 0;
            return n > 0 ? n : undefined;
          },
        );
        console.log(`# new query node holds ${moved} sealed segments ${Date.now() - t1} ms after it joined`);
        // A move ends with the source releasing its copy (after a grace period for in-flight
        // reads): then every segment is held by exactly one node again.
        const held = await waitUntil("each segment held by exactly one query node", 30_000, async () => {
          const lists = (await Promise.all(cluster.withRole("querynode").map((p) => cluster.status(p)))).map(
            (st) => st.querynode?.segments.sealed ?? [],
          );
          const all = lists.flat();
          return all.length === segmentIds.size && all.every((id) => segmentIds.has(id)) ? lists : undefined;
        });
        console.log(
          `# placement settled ${Date.now() - t1} ms after the join: ${held.map((l) => l.length).join(", ")} sealed segments per node`,
        );
        await sleep(1000);
      } finally {
        running = false;
        await reader;
      }
      console.log(
        `# reads during the move: ${during.good} good, failures ${JSON.stringify([...during.failures])}`,
      );
      assert.deepEqual(
        during.wrong.slice(0, 20),
        [],
        `${during.wrong.length} reads during the move were wrong`,
      );
      assert.ok(moved > 0);

      for (const [q, query] of queries.entries()) {
        const got = await search(client, name, [query], K);
        assert.ok(got.ok, got.reason);
        assert.deepEqual(got.hits[0], baseline[q], `search ${q} changed after the scale-out`);
      }
      assert.equal(await count(client, name), total);
    }));
});

/**
 * Issue 7, proof 6: whole-cluster restart. Rows are inserted, part of them flushed and part left
 * only in the log; then every role process AND the engines (private nats-server, etcd, s3rver) are
 * SIGKILLed, and everything is started again. With no manual step (no load call), every
 * acknowledged row comes back: count(*), the exact PK set, the stored vectors, and searches equal to
 * a brute-force oracle — and again after a flush and a reload from binlogs only.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../helpers/env.ts";
import { type OwnEngines, ownEnginesSkip, startOwnEngines } from "./engines.ts";
import { type Cluster, type ClusterRole, startCluster, waitUntil } from "./harness.ts";
import {
  type Client,
  connect,
  count,
  createCollection,
  distinct,
  flush,
  indexAndLoad,
  insertRows,
  ok,
  oracle,
  type Row,
  rowOf,
  rowsOf,
  sameHits,
  scanStored,
  search,
  testSeed,
  tryCount,
} from "./sdk.ts";

const GROUPS: readonly (readonly ClusterRole[])[] = [
  ["rootcoord", "dataservice", "queryservice"],
  ["proxy", "indexnode"],
  ["datanode"],
  ["querynode"],
];
const FLUSHED = 1200;
const UNFLUSHED = 600;

describe("cluster: restart of every process and the engines", { skip: ownEnginesSkip() }, () => {
  let dir: string;
  let engines: OwnEngines;
  let cluster: Cluster;
  let client: Client | undefined;
  let failed = false;

  before(async () => {
    dir = (await tempDir("strata-cluster-engines-")).dir;
    engines = await startOwnEngines(dir);
    cluster = await startCluster({
      label: "restart",
      engines: engines.engines,
      groups: GROUPS,
      dropState: false,
    });
  });
  after(async () => {
    await client?.closeConnection();
    await cluster?.closeAll();
    await engines?.close();
    if (failed) console.error(`engine data and logs kept in ${dir}`);
    else if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** Every key stored exactly once, the set equal to `rows`, vectors bit-exact, searches right. */
  async function checkAll(c: Client, name: string, seed: number, rows: readonly Row[], when: string) {
    const stored = await scanStored(c, name, seed, FLUSHED + UNFLUSHED);
    const { set, duplicated } = distinct(stored);
    const lost = rows.filter((r) => !set.has(r.id)).map((r) => r.id);
    console.log(
      `# ${when}: ${stored.length} rows stored, lost ${lost.length}, duplicated ${duplicated.length}`,
    );
    assert.deepEqual(lost.slice(0, 20), [], `${when}: ${lost.length} acknowledged rows lost`);
    assert.deepEqual(duplicated.slice(0, 20), [], `${when}: ${duplicated.length} rows stored twice`);
    assert.equal(set.size, rows.length, `${when}: rows nobody inserted`);
    assert.equal(await count(c, name), rows.length, `${when}: count(*)`);
    for (let q = 0; q < 4; q++) {
      const query = rowOf(seed + 5, 1_000_000 + q).vec;
      const got = await search(c, name, [query], 10);
      assert.ok(got.ok, `${when}: ${got.reason}`);
      const diff = sameHits(got.hits[0] ?? [], oracle(rows, query, 10));
      assert.equal(diff, undefined, `${when}: search ${q}: ${diff}`);
    }
  }

  it("brings back every acknowledged row, flushed or not, without manual steps", async () => {
    try {
      await cluster.guard(async () => {
        const seed = testSeed("restart");
        const name = "restart";
        let c = await connect(cluster.proxyAddress());
        client = c;
        await createCollection(c, name, 2);
        const rows: Row[] = [];
        for (let b = 0; b < 3; b++) {
          const batch = rowsOf(seed, b * (FLUSHED / 3), FLUSHED / 3);
          await insertRows(c, name, batch);
          rows.push(...batch);
        }
        await flush(c, name);
        await indexAndLoad(c, name);
        // Acknowledged but never flushed: only the log has these.
        for (let b = 0; b < 2; b++) {
          const batch = rowsOf(seed, FLUSHED + b * (UNFLUSHED / 2), UNFLUSHED / 2);
          await insertRows(c, name, batch);
          rows.push(...batch);
        }
        assert.equal(await count(c, name), rows.length, "before the crash");

        await c.closeConnection();
        client = undefined;
        await cluster.killAll();
        await engines.kill();
        console.log("# every role process and engine SIGKILLed; restarting");

        const t0 = Date.now();
        await engines.start();
        await cluster.addGroups(GROUPS);
        console.log(`# engines and ${GROUPS.length} role processes up again in ${Date.now() - t0} ms`);
        c = await connect(cluster.proxyAddress());
        client = c;
        // The collection was loaded before the crash: it must serve again on its own.
        const t1 = Date.now();
        let lastFailure = "";
        await waitUntil(
          "the collection to serve all rows again after the restart (no load call)",
          60_000,
          async () => {
            const r = await tryCount(c, name);
            if (!r.ok) lastFailure = r.reason;
            else lastFailure = `count ${r.rows}`;
            return r.ok && r.rows === rows.length ? true : undefined;
          },
          500,
        ).catch((e: unknown) => {
          throw new Error(`${String(e)}; last answer: ${lastFailure}`);
        });
        console.log(`# serving all ${rows.length} rows ${Date.now() - t1} ms after the restart`);
        await checkAll(c, name, seed, rows, "after the restart");

        // The restarted data node persists what only the log held; a reload reads binlogs only.
        await flush(c, name);
        ok(await c.releaseCollection({ collection_name: name }), "release");
        ok(await c.loadCollectionSync({ collection_name: name }), "reload");
        await checkAll(c, name, seed, rows, "after flush and reload");
      });
    } catch (e) {
      failed = true;
      console.error(`===== engine logs =====\n${engines.logTails()}`);
      throw e;
    }
  });
});

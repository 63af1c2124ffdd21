/**
 * Issue 7, proof 2: a cluster of separate OS processes — coordinators, 1 proxy, 2 data nodes,
 * 2 query nodes, 1 index node — passes the SDK end-to-end suite unchanged, registers every node,
 * and spreads a loaded collection over both query nodes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type Cluster,
  childEnv,
  type ProcessStatus,
  sharedEngines,
  startCluster,
  waitUntil,
} from "./harness.ts";
import {
  type Client,
  connect,
  count,
  createCollection,
  flush,
  indexAndLoad,
  insertRows,
  oracle,
  type Row,
  rowsOf,
  sameHits,
  search,
  testSeed,
} from "./sdk.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const GUARD = fileURLToPath(new URL("./orphan-guard.mjs", import.meta.url));
const { skip } = sharedEngines();

/** Runs the SDK e2e suite in a child against `address`: exit code and output. */
function runSdkSuite(address: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", GUARD, "--import", "tsx", "--test", "test/api/milvus/sdk-e2e.test.ts"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: childEnv({ STRATA_E2E_ADDRESS: address }) },
    );
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => {
      output += `\n(killed after ${timeoutMs} ms)`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("cluster of OS processes: SDK end-to-end", { skip }, () => {
  let cluster: Cluster;
  let client: Client;

  before(async () => {
    cluster = await startCluster({
      label: "e2e",
      groups: [
        ["rootcoord", "dataservice", "queryservice"],
        ["proxy"],
        ["datanode"],
        ["datanode"],
        ["querynode"],
        ["querynode"],
        ["indexnode"],
      ],
    });
    client = await connect(cluster.proxyAddress());
  });
  after(async () => {
    await client?.closeConnection();
    await cluster?.closeAll();
  });

  it("registers both data nodes and both query nodes with the coordinators", () =>
    cluster.guard(async () => {
      const coord = cluster.withRole("queryservice")[0];
      assert.ok(coord !== undefined);
      const dataIds = cluster.withRole("datanode").map((p) => p.nodeId);
      const queryIds = cluster.withRole("querynode").map((p) => p.nodeId);
      assert.equal(dataIds.length, 2);
      assert.equal(queryIds.length, 2);
      // Registration follows the session by a moment: allow it to settle.
      const st = await waitUntil("both node pairs registered", 15_000, async () => {
        const s = await cluster.status(coord);
        const ds = (s.dataservice?.nodes ?? []).map((n) => n.nodeId).sort();
        const qs = (s.queryservice?.nodes ?? []).map((n) => n.nodeId).sort();
        return ds.join() === [...dataIds].sort().join() && qs.join() === [...queryIds].sort().join()
          ? s
          : undefined;
      });
      assert.deepEqual([...(st.sessions.datanode ?? [])].sort(), [...dataIds].sort());
      assert.deepEqual([...(st.sessions.querynode ?? [])].sort(), [...queryIds].sort());
      assert.equal(st.sessions.indexnode?.length, 1);
      assert.equal(st.sessions.proxy?.length, 1);
    }));

  it("passes the SDK end-to-end suite (test/api/milvus/sdk-e2e.test.ts) against the proxy", () =>
    cluster.guard(async () => {
      const t0 = Date.now();
      const { code, output } = await runSdkSuite(cluster.proxyAddress(), 120_000);
      console.log(`# SDK e2e suite against the cluster: exit ${code} in ${Date.now() - t0} ms`);
      assert.equal(code, 0, `SDK e2e suite failed against the cluster:\n${output}`);
      // A run that executed nothing must not pass.
      const passed = Number(/^# pass (\d+)/m.exec(output)?.[1] ?? "0");
      assert.ok(passed >= 4, `the SDK suite reported ${passed} passing tests:\n${output}`);
      assert.match(output, /^# fail 0$/m);
    }));

  it("spreads a loaded collection's segments over both query nodes and searches across them", () =>
    cluster.guard(async () => {
      const seed = testSeed("e2e spread");
      const name = "spread";
      await createCollection(client, name, 2);
      const rows: Row[] = [];
      // Four flushes over two shards: several sealed segments to place.
      for (let b = 0; b < 4; b++) {
        const batch = rowsOf(seed, b * 400, 400);
        await insertRows(client, name, batch);
        rows.push(...batch);
        await flush(client, name);
      }
      await indexAndLoad(client, name);
      const queryNodes = cluster.withRole("querynode");
      const statuses: ProcessStatus[] = await Promise.all(queryNodes.map((p) => cluster.status(p)));
      const sealed = statuses.map((s) => s.querynode?.segments.sealed.length ?? 0);
      const coord = cluster.withRole("queryservice")[0];
      assert.ok(coord !== undefined);
      const cs = await cluster.status(coord);
      const dataChannels = (cs.dataservice?.nodes ?? []).map((n) => `${n.nodeId}:${n.channels.length}`);
      const queryPlacement = (cs.queryservice?.nodes ?? []).map(
        (n) => `${n.nodeId}: ${n.segmentIds.length} sealed, ${n.channels.length} channels`,
      );
      console.log(
        `# sealed segments per query node: ${sealed.join(", ")}; queryservice: ${queryPlacement.join("; ")}; data node channels: ${dataChannels.join(", ")}`,
      );
      assert.equal(
        sealed.reduce((a, b) => a + b, 0) > 1,
        true,
        "the collection should have several sealed segments",
      );
      for (const [i, s] of sealed.entries())
        assert.ok(
          s > 0,
          `query node ${queryNodes[i]?.nodeId} holds no sealed segment after the load (per node: ${sealed.join(", ")})`,
        );

      assert.equal(await count(client, name), rows.length);
      for (let q = 0; q < 5; q++) {
        const query = rowsOf(seed + 1, 100_000 + q, 1)[0]?.vec as number[];
        const got = await search(client, name, [query], 10);
        assert.ok(got.ok, got.reason);
        const diff = sameHits(got.hits[0] ?? [], oracle(rows, query, 10));
        assert.equal(diff, undefined, `query ${q}: ${diff}`);
      }
    }));
});

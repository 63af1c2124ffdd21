// bench:cluster — the same SDK workload against `strata serve` (standalone) and against a local
// multi-process cluster (coordinators | 2 data nodes | 2 query nodes | 1 index node | 1 proxy) on
// real NATS JetStream, etcd and s3rver: insert rows/s (batches of 1,000), search QPS at concurrency
// 1 and 16, as cluster/standalone ratios; then a query node is SIGKILLed and the time until every
// row is served again is measured. Prints one JSON line. Needs nats-server and etcd on PATH.
// BENCH_N (default 100,000 x 128), BENCH_NQ, BENCH_ROUNDS, BENCH_INDEX (FLAT), BENCH_TTL (session
// TTL seconds, default 5: the failover time is mostly this).
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import sdk from "@zilliz/milvus2-sdk-node";
import { spawnStrata } from "../test/api/milvus/spawn.ts";
import { startOwnEngines } from "../test/cluster/engines.ts";
import { startCluster } from "../test/cluster/harness.ts";
import { clustered } from "./datasets.ts";
import { type DriveResult, drive, median, sdkInsertAll } from "./drive.ts";

const { MilvusClient, DataType } = sdk;
type Client = InstanceType<typeof MilvusClient>;
const N = Number(process.env.BENCH_N ?? 100_000);
const NQ = Number(process.env.BENCH_NQ ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const INDEX = process.env.BENCH_INDEX ?? "FLAT";
const TTL = Number(process.env.BENCH_TTL ?? 5);
const DIM = 128;
const K = 10;
const BATCH = 1000;

const data = clustered(N, DIM, NQ, 42);
const query = (i: number) => Array.from(data.queries.subarray((i % NQ) * DIM, ((i % NQ) + 1) * DIM));

function ok(status: { error_code: unknown; reason?: string }): void {
  if (status.error_code !== "Success") throw new Error(status.reason);
}

interface Figures {
  insertRowsPerSec: number;
  c1: DriveResult;
  c16: DriveResult;
}

async function workload(client: Client): Promise<Figures> {
  ok(
    await client.createCollection({
      collection_name: "c",
      fields: [
        { name: "id", data_type: DataType.Int64, is_primary_key: true },
        { name: "v", data_type: DataType.FloatVector, dim: DIM },
      ],
    }),
  );
  const insertRowsPerSec = await sdkInsertAll(client, "c", data.base, N, DIM, BATCH);
  await client.flushSync({ collection_names: ["c"] });
  ok(
    await client.createIndex({ collection_name: "c", field_name: "v", index_type: INDEX, metric_type: "L2" }),
  );
  for (;;) {
    const x = (await client.describeIndex({ collection_name: "c" })).index_descriptions[0];
    if (x?.state === "Failed") throw new Error(`index build failed: ${x.index_state_fail_reason}`);
    if (x?.state === "Finished" && Number(x.pending_index_rows ?? 0) === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await client.loadCollectionSync({ collection_name: "c" });
  const search = (i: number) =>
    client
      .search({ collection_name: "c", data: query(i), limit: K, output_fields: ["id"] })
      .then((r) => ok(r.status));
  await drive(50, 4, search);
  const c1: DriveResult[] = [];
  const c16: DriveResult[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    c1.push(await drive(NQ / 2, 1, search));
    c16.push(await drive(NQ, 16, search));
  }
  const med = (xs: DriveResult[]): DriveResult => ({
    qps: Math.round(median(xs.map((x) => x.qps)) * 10) / 10,
    p50: Math.round(median(xs.map((x) => x.p50)) * 100) / 100,
    p99: Math.round(median(xs.map((x) => x.p99)) * 100) / 100,
  });
  return { insertRowsPerSec, c1: med(c1), c16: med(c16) };
}

/** After a query node is killed: seconds until count(*) and a search both succeed with every row. */
async function failover(
  client: Client,
  kill: () => void,
): Promise<{ secs: number; errors: number; wrong: number }> {
  kill();
  const t0 = performance.now();
  let errors = 0;
  let wrong = 0;
  for (;;) {
    const r = await client.query({
      collection_name: "c",
      output_fields: ["count(*)"],
      consistency_level: sdk.ConsistencyLevelEnum.Strong,
    });
    if (r.status.error_code !== "Success") errors++;
    else if (Number(r.data[0]?.["count(*)"]) !== N) wrong++;
    else {
      const s = await client.search({
        collection_name: "c",
        data: query(0),
        limit: K,
        output_fields: ["id"],
      });
      if (s.status.error_code === "Success" && s.results.length === K)
        return { secs: Math.round((performance.now() - t0) / 100) / 10, errors, wrong };
      errors++;
    }
    if (performance.now() - t0 > 120_000)
      throw new Error("the killed query node's segments were not served again in 120 s");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const dir = mkdtempSync(join(tmpdir(), "strata-bench-cluster-"));
const result: Record<string, unknown> = {
  bench: "cluster",
  dataset: `clustered ${N}x${DIM} seed 42`,
  cores: availableParallelism(),
  rounds: ROUNDS,
  index: INDEX,
  topology: "coordinators | 2 datanode | 2 querynode | 1 indexnode | 1 proxy",
  sessionTtlSeconds: TTL,
};
const stops: (() => Promise<unknown>)[] = [];
try {
  const standalone = await spawnStrata(join(dir, "standalone"));
  stops.push(() => standalone.stop());
  let client = new MilvusClient({ address: standalone.address, logLevel: "error" });
  await client.connectPromise;
  const alone = await workload(client);
  await client.closeConnection();
  await (stops.pop() as () => Promise<unknown>)();

  const own = await startOwnEngines(join(dir, "engines"));
  stops.push(() => own.close());
  const cl = await startCluster({
    label: "bench",
    engines: own.engines,
    ttlSeconds: TTL,
    logLevel: "warn",
    groups: [["rootcoord", "dataservice", "queryservice"]],
  });
  stops.push(() => cl.closeAll());
  await cl.addGroups([["datanode"], ["datanode"], ["querynode"], ["querynode"], ["indexnode"], ["proxy"]]);
  client = new MilvusClient({ address: cl.proxyAddress(), logLevel: "error" });
  await client.connectPromise;
  const cluster = await workload(client);
  const victim = cl.withRole("querynode")[0];
  if (victim === undefined) throw new Error("no query node to kill");
  const fo = await failover(client, () => void cl.kill(victim));
  await client.closeConnection();
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  Object.assign(result, {
    standalone: alone,
    cluster,
    ratioInsert: ratio(cluster.insertRowsPerSec, alone.insertRowsPerSec),
    ratioSearchC1: ratio(cluster.c1.qps, alone.c1.qps),
    ratioSearchC16: ratio(cluster.c16.qps, alone.c16.qps),
    killedQueryNodeServedAgainSecs: fo.secs,
    failoverErrorsSeen: fo.errors,
    failoverWrongCounts: fo.wrong,
  });
} finally {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result)}\n`);

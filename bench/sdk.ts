// The Milvus SDK path: `strata serve` in its own process driven by the official Node SDK (insert
// rows/s in batches of 1,000; search QPS and latency at concurrency 1 and 16), then the embedded
// API on the same data dir in this process, for the SDK/embedded QPS ratio. Prints one JSON line.
// BENCH_INDEX picks the index: FLAT (default: exact search, the front door's overhead against real
// work) or a built type (AUTOINDEX = HNSW, HNSW, IVF_FLAT), waited for until every segment is built.
// Where /proc is readable, the CPU the server process and this process spend per search is
// reported too (less sensitive to other load on the machine than QPS). BENCH_SERVER_PROF=<dir>
// writes a V8 CPU profile of the server process there (node --cpu-prof); BENCH_SERVER_NODE_ARGS
// passes node options to the server process (space-separated, e.g. V8 heap sizes to compare).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import sdk from "@zilliz/milvus2-sdk-node";
import { Strata } from "../src/api/embedded.ts";
import { spawnStrata } from "../test/api/milvus/spawn.ts";
import { clustered } from "./datasets.ts";
import { drive, median, sdkInsertAll } from "./drive.ts";

const { MilvusClient, DataType } = sdk;
const N = Number(process.env.BENCH_N ?? 200_000);
const NQ = Number(process.env.BENCH_NQ ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DIM = 128;
const K = 10;
const BATCH = 1000;
const INDEX = process.env.BENCH_INDEX ?? "FLAT";
const SERVER_PROF = process.env.BENCH_SERVER_PROF ?? "";
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");

/** CPU ms used so far by process `pid` (user + system, from /proc; undefined where unreadable). */
function procCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    // Linux reports clock ticks: 100 per second on every common configuration.
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/** `drive`, plus the CPU ms per call spent by the server process (`pid`) and by this one. */
async function driveCpu(
  pid: number | undefined,
  total: number,
  concurrency: number,
  call: (i: number) => Promise<void>,
) {
  const s0 = procCpuMs(pid);
  const c0 = process.cpuUsage();
  const r = await drive(total, concurrency, call);
  const s1 = procCpuMs(pid);
  const c = process.cpuUsage(c0);
  return {
    ...r,
    serverCpuMs: s0 === undefined || s1 === undefined ? Number.NaN : (s1 - s0) / total,
    clientCpuMs: (c.user + c.system) / 1000 / total,
  };
}

const data = clustered(N, DIM, NQ, 42);
const query = (i: number) => Array.from(data.queries.subarray((i % NQ) * DIM, ((i % NQ) + 1) * DIM));
const dir = mkdtempSync(join(tmpdir(), "strata-bench-sdk-"));
const result: Record<string, unknown> = {
  bench: "sdk",
  dataset: `clustered ${N}x${DIM} seed 42`,
  cores: availableParallelism(),
  rounds: ROUNDS,
  index: INDEX,
  ...(SERVER_NODE_ARGS.length === 0 ? {} : { serverNodeArgs: SERVER_NODE_ARGS.join(" ") }),
};
try {
  const server = await spawnStrata(dir, {}, 30_000, [
    ...SERVER_NODE_ARGS,
    ...(SERVER_PROF === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${SERVER_PROF}`]),
  ]);
  const pid = server.proc.pid;
  const client = new MilvusClient({ address: server.address, logLevel: "error" });
  await client.connectPromise;
  await client.createCollection({
    collection_name: "c",
    fields: [
      { name: "id", data_type: DataType.Int64, is_primary_key: true },
      { name: "v", data_type: DataType.FloatVector, dim: DIM },
    ],
  });
  const t0 = performance.now();
  await sdkInsertAll(client, "c", data.base, N, DIM, BATCH);
  const insertSecs = (performance.now() - t0) / 1000;
  await client.flushSync({ collection_names: ["c"] });
  const flushedSecs = (performance.now() - t0) / 1000;
  await client.createIndex({
    collection_name: "c",
    field_name: "v",
    index_type: INDEX,
    metric_type: "L2",
  });
  const tb = performance.now();
  for (;;) {
    const d = await client.describeIndex({ collection_name: "c" });
    const x = d.index_descriptions[0];
    if (x?.state === "Failed") throw new Error(`index build failed: ${x.index_state_fail_reason}`);
    if (x?.state === "Finished" && Number(x.pending_index_rows ?? 0) === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  result.indexBuildSecs = Math.round((performance.now() - tb) / 100) / 10;
  await client.loadCollectionSync({ collection_name: "c" });
  result.sdkInsertRowsPerSec = Math.round(N / insertSecs);
  result.sdkInsertFlushedRowsPerSec = Math.round(N / flushedSecs);

  // Like for like with the embedded call below: the hits' ids only. The SDK's default output
  // (`*`, vectors included) is measured separately.
  const sdkSearch = (i: number) =>
    client.search({ collection_name: "c", data: query(i), limit: K, output_fields: ["id"] }).then((r) => {
      if (r.status.error_code !== "Success") throw new Error(r.status.reason);
    });
  const sdkSearchStar = (i: number) =>
    client.search({ collection_name: "c", data: query(i), limit: K }).then((r) => {
      if (r.status.error_code !== "Success") throw new Error(r.status.reason);
    });
  const s1: ReturnType<typeof driveCpu> extends Promise<infer T> ? T[] : never = [];
  const s16: typeof s1 = [];
  await drive(50, 4, sdkSearch); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    s1.push(await driveCpu(pid, NQ / 2, 1, sdkSearch));
    s16.push(await driveCpu(pid, NQ, 16, sdkSearch));
  }
  const star = await drive(NQ / 2, 16, sdkSearchStar);
  await client.closeConnection();
  await server.stop();

  const db = await Strata.open({ dataDir: dir, logLevel: "error" });
  await db.load("c");
  const embSearch = async (i: number) => {
    await db.search("c", { data: [query(i)], limit: K });
  };
  const e1: typeof s1 = [];
  const e16: typeof s1 = [];
  await drive(50, 4, embSearch);
  for (let r = 0; r < ROUNDS; r++) {
    e1.push(await driveCpu(undefined, NQ / 2, 1, embSearch));
    e16.push(await driveCpu(undefined, NQ, 16, embSearch));
  }
  await db.close();
  const m = (xs: typeof s1, k: "qps" | "p50" | "p99" | "serverCpuMs" | "clientCpuMs") =>
    Math.round(median(xs.map((x) => x[k])) * 100) / 100;
  const cpu = (xs: typeof s1) => ({
    serverCpuMsPerSearch: m(xs, "serverCpuMs"),
    clientCpuMsPerSearch: m(xs, "clientCpuMs"),
  });
  Object.assign(result, {
    sdkSearchC1: { qps: m(s1, "qps"), p50Ms: m(s1, "p50"), p99Ms: m(s1, "p99"), ...cpu(s1) },
    sdkSearchC16: { qps: m(s16, "qps"), p50Ms: m(s16, "p50"), p99Ms: m(s16, "p99"), ...cpu(s16) },
    sdkSearchC16DefaultOutputStar: {
      qps: Math.round(star.qps * 100) / 100,
      p50Ms: Math.round(star.p50 * 100) / 100,
    },
    embeddedSearchC1: {
      qps: m(e1, "qps"),
      p50Ms: m(e1, "p50"),
      p99Ms: m(e1, "p99"),
      cpuMsPerSearch: m(e1, "clientCpuMs"),
    },
    embeddedSearchC16: {
      qps: m(e16, "qps"),
      p50Ms: m(e16, "p50"),
      p99Ms: m(e16, "p99"),
      cpuMsPerSearch: m(e16, "clientCpuMs"),
    },
    ratioSdkToEmbeddedC16: Math.round((m(s16, "qps") / m(e16, "qps")) * 100) / 100,
    ratioSdkToEmbeddedC1: Math.round((m(s1, "qps") / m(e1, "qps")) * 100) / 100,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result)}\n`);

// Exact search through the embedded API (proxy → query service routing → query node → exact
// kernels → reduce) vs usearch's exact search on the same data, in one run, interleaved.
// Prints one JSON line.
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import usearch from "usearch";
import { Strata } from "../src/api/embedded.ts";
import { clustered } from "./datasets.ts";

const N = Number(process.env.BENCH_N ?? 200_000);
const NQ = Number(process.env.BENCH_NQ ?? 1000);
const DIM = 128;
const K = 10;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? 0;
}
const median = (xs: number[]) => pct(xs, 50);

const data = clustered(N, DIM, NQ, 42);
const dir = mkdtempSync(join(tmpdir(), "strata-bench-search-"));
const db = await Strata.open({ dataDir: dir, logLevel: "error" });
try {
  await db.createCollection({
    schema: {
      name: "c",
      fields: [
        { name: "id", dataType: "Int64", isPrimaryKey: true },
        { name: "v", dataType: "FloatVector", dim: DIM },
      ],
    },
  });
  for (let from = 0; from < N; from += 10_000) {
    const n = Math.min(10_000, N - from);
    await db.insert("c", {
      columns: {
        id: new BigInt64Array(n).map((_, i) => BigInt(from + i)),
        v: data.base.subarray(from * DIM, (from + n) * DIM),
      },
    });
  }
  await db.flush("c");
  await db.load("c");

  // usearch 2.25 reads a typed-array view from the start of its buffer, ignoring byteOffset, so
  // every call gets a fresh copy (Strata too, for a like-for-like comparison).
  const q = (i: number) => data.queries.slice(i * DIM, (i + 1) * DIM);
  const perRound = Math.max(1, Math.floor(NQ / ROUNDS));
  const ours: number[] = [];
  const raw1: number[] = [];
  const rawAll: number[] = [];
  const oursQps: number[] = [];
  const raw1Qps: number[] = [];
  const rawAllQps: number[] = [];
  let agree = 0;
  let checked = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const from = r * perRound;
    let t0 = performance.now();
    for (let i = from; i < from + perRound; i++) {
      const t = performance.now();
      const res = await db.search("c", { data: q(i), limit: K, consistencyLevel: "Eventually" });
      ours.push(performance.now() - t);
      if (i % 10 === 0) {
        const want = usearch.exactSearch(data.base, q(i), DIM, K, usearch.MetricKind.L2sq, 1) as {
          keys: BigUint64Array;
        };
        const got = new Set((res[0] ?? []).map((h) => BigInt(h.id)));
        for (const k of want.keys) if (got.has(k)) agree++;
        checked += want.keys.length;
      }
    }
    oursQps.push(perRound / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    for (let i = from; i < from + perRound; i++) {
      const t = performance.now();
      usearch.exactSearch(data.base, q(i), DIM, K, usearch.MetricKind.L2sq, 1);
      raw1.push(performance.now() - t);
    }
    raw1Qps.push(perRound / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    for (let i = from; i < from + perRound; i++) {
      const t = performance.now();
      usearch.exactSearch(data.base, q(i), DIM, K, usearch.MetricKind.L2sq, 0);
      rawAll.push(performance.now() - t);
    }
    rawAllQps.push(perRound / ((performance.now() - t0) / 1000));
  }
  const stat = (lat: number[], qps: number[]) => ({
    qps: Number(median(qps).toFixed(1)),
    p50Ms: Number(median(lat).toFixed(2)),
    p99Ms: Number(pct(lat, 99).toFixed(2)),
  });
  const oursS = stat(ours, oursQps);
  const raw1S = stat(raw1, raw1Qps);
  const rawAllS = stat(rawAll, rawAllQps);
  console.log(
    JSON.stringify({
      bench: "search",
      dataset: `clustered ${N} x ${DIM} (1,000 centres, seed 42), ${NQ} queries, top-${K}, L2, exact, nq=1 per call`,
      cores: availableParallelism(),
      rounds: ROUNDS,
      stat: "median over rounds (qps), over all queries (latency)",
      strata: oursS,
      usearchExact1Thread: raw1S,
      usearchExactAllThreads: rawAllS,
      qpsRatioVs1Thread: Number((oursS.qps / raw1S.qps).toFixed(2)),
      qpsRatioVsAllThreads: Number((oursS.qps / rawAllS.qps).toFixed(2)),
      recallVsUsearchExact: Number((agree / Math.max(1, checked)).toFixed(4)),
    }),
  );
} finally {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Raw usearch HNSW on the bench data: the floor Strata's search path is held against. Built
 * with `add` on the main thread with as many threads as Strata's index node uses (all cores),
 * saved, then memory-mapped with `view()` as Strata's query node does; ef swept per view (usearch
 * fixes expansion_search at construction).
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import usearch, { type BatchMatches, type Matches } from "usearch";
import {
  type BenchData,
  EFS,
  HNSW_EFC,
  HNSW_M,
  interleaved,
  K,
  log,
  type Metric,
  r1,
  r3,
  rss,
  type SearchFn,
  TARGET_RECALL,
} from "./index-common.ts";

type UIndex = InstanceType<typeof usearch.Index>;

export const usearchMetric = (m: Metric) => (m === "L2" ? usearch.MetricKind.L2sq : usearch.MetricKind.Cos);

export function newIndex(dim: number, metric: Metric, ef: number): UIndex {
  return new usearch.Index({
    dimensions: dim,
    metric: usearchMetric(metric),
    quantization: usearch.ScalarKind.F32,
    connectivity: HNSW_M,
    expansion_add: HNSW_EFC,
    expansion_search: ef,
    multi: false,
  });
}

export function rawSearch(idx: UIndex, queries: readonly Float32Array[]): SearchFn {
  return (qi, out) => {
    const r = idx.search(queries[qi]!, K, 1) as Matches | BatchMatches;
    for (let i = 0; i < r.keys.length && i < K; i++) out[qi * K + i] = Number(r.keys[i]);
  };
}

export interface SweepRow {
  readonly ef: number;
  readonly recall: number;
  readonly qps: number;
}

/** Smallest ef reaching the target recall (the largest swept when none does). */
export function pickEf(rows: readonly SweepRow[]): number {
  return (rows.find((r) => r.recall >= TARGET_RECALL) ?? rows[rows.length - 1]!).ef;
}

export const USEARCH_FILE = "usearch.hnsw";

/** Build with `add`, save, and sweep ef over views of the saved file. */
export async function buildUsearch(data: BenchData, dir: string): Promise<Record<string, unknown>> {
  const threads = availableParallelism();
  const rss0 = rss();
  const built = newIndex(data.dim, data.metric, 64);
  let t = performance.now();
  built.add(
    BigUint64Array.from({ length: data.n }, (_, i) => BigInt(i)),
    data.base,
    threads,
  );
  const buildS = (performance.now() - t) / 1000;
  log(`  usearch: build ${r1(buildS)} s (${threads} threads, M ${HNSW_M}, efConstruction ${HNSW_EFC})`);
  const file = join(dir, USEARCH_FILE);
  t = performance.now();
  built.save(file);
  const saveMs = performance.now() - t;
  const rssBuilt = rss();

  const sweep: SweepRow[] = [];
  for (const ef of EFS) {
    const v = newIndex(data.dim, data.metric, ef);
    v.view(file);
    const s = await interleaved(data.nq, 1, [
      { name: "raw", search: rawSearch(v, data.queries), truth: data.truth },
    ]);
    sweep.push({ ef, recall: s.raw!.recall, qps: s.raw!.qps });
    log(`  usearch: ef ${ef} recall ${s.raw!.recall} QPS ${s.raw!.qps}`);
  }
  return {
    threads,
    M: HNSW_M,
    efConstruction: HNSW_EFC,
    buildS: r1(buildS),
    saveMs: Math.round(saveMs),
    ef: pickEf(sweep),
    sweep,
    rssDeltaBuildMiB: r1(rssBuilt.rssMiB - rss0.rssMiB),
    peakRssBuildMiB: rss().peakRssMiB,
  };
}

/** In a fresh process: map the saved file, time it to its first answer, then the search loop. */
export async function serveUsearch(
  data: BenchData,
  dir: string,
  ef: number,
  rounds: number,
): Promise<Record<string, unknown>> {
  const rss0 = rss();
  const t = performance.now();
  const idx = newIndex(data.dim, data.metric, ef);
  idx.view(join(dir, USEARCH_FILE));
  idx.search(data.queries[0]!, K, 1);
  const loadMs = performance.now() - t;
  const s = await interleaved(data.nq, rounds, [
    { name: "raw", search: rawSearch(idx, data.queries), truth: data.truth },
  ]);
  const after = rss();
  log(`  usearch: ef ${ef}: ${JSON.stringify(s.raw)}`);
  return {
    loadMs: r3(loadMs),
    ...s.raw,
    rssServingMiB: r1(after.rssMiB - rss0.rssMiB),
  };
}

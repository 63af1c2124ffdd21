/**
 * Approximate index kernels on the clustered 200k × 128 set (perf-notes §3.2):
 * - HNSW (M 16, efConstruction 128): build time through our worker build vs raw usearch `add`
 *   on the main thread, same threads; then single-client search (one query per call), our wrapper
 *   vs raw usearch on the SAME graph (usearch views our index file; its expansion_search fixed
 *   per ef), interleaved rounds, median QPS, recall@10 against exact L2;
 * - filtered HNSW at 10% and 1% passing (auto: exact scan when cheaper; graph-only over-fetch);
 * - IVF_FLAT and IVF_SQ8 (nlist 256): build time, QPS and recall at several nprobe.
 * Ends with one JSON line. Run: npx tsx bench/index-kernels.ts [--n 200000] [--rounds 7]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import usearch, { type BatchMatches, type Matches } from "usearch";
import { DataType } from "../src/common/types.ts";
import { buildIndex, buildIndexFile } from "../src/index/build.ts";
import { searchExact } from "../src/index/exact.ts";
import { loadIndexBytes, openIndexFile } from "../src/index/index-file.ts";
import type { SearchResult } from "../src/index/topk.ts";
import type { VectorIndex } from "../src/index/vector-index.ts";
import { clustered, mulberry32 } from "./datasets.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = arg("n", 200_000);
const DIM = 128;
const NQ = arg("nq", 1000);
const ROUNDS = arg("rounds", 7);
const K = 10;
const THREADS = cpus().length;
const M = 16;
const EFC = 128;
const EFS = [16, 32, 64, 128];
const NLIST = 256;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

function recall(got: Int32Array, gotK: number, truth: Int32Array): number {
  let hits = 0;
  let total = 0;
  for (let q = 0; q < NQ; q++) {
    const want = new Set<number>();
    for (let i = 0; i < K; i++) {
      const t = truth[q * K + i]!;
      if (t >= 0) want.add(t);
    }
    total += want.size;
    for (let i = 0; i < K; i++) if (want.has(got[q * gotK + i]!)) hits++;
  }
  return hits / total;
}

/** Runs one query per call over all queries; returns QPS and the offsets. */
function timeSingle(search: (q: Float32Array, qi: number, out: Int32Array) => void): {
  qps: number;
  offsets: Int32Array;
} {
  const offsets = new Int32Array(NQ * K).fill(-1);
  const t0 = performance.now();
  for (let qi = 0; qi < NQ; qi++) search(data.queries.subarray(qi * DIM, (qi + 1) * DIM), qi, offsets);
  return { qps: (NQ * 1000) / (performance.now() - t0), offsets };
}

function wrapperSearch(idx: VectorIndex, params: Record<string, number>, filter?: Uint8Array) {
  return (q: Float32Array, qi: number, out: Int32Array) => {
    const r: SearchResult = idx.search(q, 1, K, params, filter);
    out.set(r.offsets, qi * K);
  };
}

function rawSearch(idx: InstanceType<typeof usearch.Index>) {
  return (q: Float32Array, qi: number, out: Int32Array) => {
    const r = idx.search(q, K, 1) as Matches | BatchMatches;
    for (let i = 0; i < r.keys.length && i < K; i++) out[qi * K + i] = Number(r.keys[i]);
  };
}

function filterOf(p: number, seed: number): Uint8Array {
  const r = mulberry32(seed);
  const f = new Uint8Array(N);
  for (let i = 0; i < N; i++) f[i] = r() < p ? 1 : 0;
  return f;
}

function exactOffsets(filter?: Uint8Array): Int32Array {
  if (filter === undefined) {
    const res = usearch.exactSearch(
      data.base,
      data.queries,
      DIM,
      K,
      usearch.MetricKind.L2sq,
      THREADS,
    ) as BatchMatches;
    return Int32Array.from(res.keys, (k) => Number(k));
  }
  const vectors = { type: DataType.FloatVector, dim: DIM, data: data.base } as const;
  return searchExact({ vectors, queries: data.queries, nq: NQ, metric: "L2", topk: K, bitset: filter })
    .offsets;
}

/** Longest event-loop stall (ms) while `p` runs, sampled by a 10 ms interval. */
async function stallDuring<T>(p: () => Promise<T>): Promise<{ value: T; maxGapMs: number; ms: number }> {
  let last = performance.now();
  let maxGapMs = 0;
  const t0 = last;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
  }, 10);
  const value = await p();
  clearInterval(timer);
  return { value, maxGapMs, ms: performance.now() - t0 };
}

const data = clustered(N, DIM, NQ, 42);
const dir = mkdtempSync(join(tmpdir(), "strata-bench-idx-"));
const out: Record<string, unknown> = {
  bench: "index-kernels",
  n: N,
  dim: DIM,
  nq: NQ,
  k: K,
  rounds: ROUNDS,
  cpus: THREADS,
};
try {
  console.log(`# ${N} × ${DIM} clustered, ${NQ} queries, ${THREADS} CPUs, ${ROUNDS} rounds`);
  let t = performance.now();
  const truth = exactOffsets();
  console.log(`ground truth (usearch exact, ${THREADS} threads): ${r1((performance.now() - t) / 1000)} s`);

  // --- HNSW builds -----------------------------------------------------------------------------
  const spec = { type: "HNSW", metric: "L2", dim: DIM, params: { M, efConstruction: EFC } } as const;
  const file = join(dir, "hnsw.idx");
  const built = await stallDuring(() => buildIndexFile({ spec, vectors: data.base, threads: THREADS }, file));
  const wrapperBuildS = built.ms / 1000;
  console.log(
    `HNSW build, worker (ours), ${THREADS} threads: ${r1(wrapperBuildS)} s, main-thread max stall ${r1(built.maxGapMs)} ms, file ${r1(built.value.fileLength / 2 ** 20)} MiB`,
  );
  t = performance.now();
  const rawBuilt = new usearch.Index({
    dimensions: DIM,
    metric: usearch.MetricKind.L2sq,
    quantization: usearch.ScalarKind.F32,
    connectivity: M,
    expansion_add: EFC,
    expansion_search: 64,
    multi: false,
  });
  rawBuilt.add(
    BigUint64Array.from({ length: N }, (_, i) => BigInt(i)),
    data.base,
    THREADS,
  );
  const rawBuildS = (performance.now() - t) / 1000;
  console.log(`HNSW build, raw usearch add on the main thread, ${THREADS} threads: ${r1(rawBuildS)} s`);

  // --- HNSW search: wrapper vs raw on the same graph --------------------------------------------
  t = performance.now();
  const ours = await openIndexFile(file, { hnsw: { vectors: data.base } });
  console.log(`open (verify CRC + usearch view): ${r1(performance.now() - t)} ms`);
  const raws = new Map<number, InstanceType<typeof usearch.Index>>();
  for (const ef of EFS) {
    const raw = new usearch.Index({
      dimensions: DIM,
      metric: usearch.MetricKind.L2sq,
      quantization: usearch.ScalarKind.F32,
      connectivity: M,
      expansion_add: EFC,
      expansion_search: ef,
      multi: false,
    });
    raw.view(file);
    raws.set(ef, raw);
  }
  const hnswRows: Record<string, unknown>[] = [];
  for (const ef of EFS) {
    const qOurs: number[] = [];
    const qRaw: number[] = [];
    let recOurs = 0;
    let recRaw = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const a = timeSingle(wrapperSearch(ours, { ef }));
      const b = timeSingle(rawSearch(raws.get(ef)!));
      qOurs.push(a.qps);
      qRaw.push(b.qps);
      recOurs = recall(a.offsets, K, truth);
      recRaw = recall(b.offsets, K, truth);
    }
    const row = {
      ef,
      recall_ours: r3(recOurs),
      recall_raw: r3(recRaw),
      qps_ours: Math.round(median(qOurs)),
      qps_raw: Math.round(median(qRaw)),
      qps_ours_min: Math.round(Math.min(...qOurs)),
      qps_ours_max: Math.round(Math.max(...qOurs)),
    };
    hnswRows.push(row);
    console.log(
      `HNSW ef ${ef}: recall ours ${row.recall_ours} raw ${row.recall_raw}; QPS ours ${row.qps_ours} (${row.qps_ours_min}–${row.qps_ours_max}) raw ${row.qps_raw}`,
    );
  }
  out.hnsw = {
    M,
    efConstruction: EFC,
    build_s_ours_worker: r1(wrapperBuildS),
    build_s_raw: r1(rawBuildS),
    build_main_thread_max_stall_ms: r1(built.maxGapMs),
    file_mib: r1(built.value.fileLength / 2 ** 20),
    search: hnswRows,
  };

  // --- filtered HNSW ------------------------------------------------------------------------------
  const graphOnly = await openIndexFile(file, { hnsw: { filterExactFactor: 0 } });
  const filteredRows: Record<string, unknown>[] = [];
  for (const pass of [0.5, 0.1, 0.01]) {
    const filter = filterOf(pass, 7);
    const truthF = exactOffsets(filter);
    for (const [mode, idx] of [
      ["auto", ours],
      ["graph-only", graphOnly],
    ] as const) {
      const qps: number[] = [];
      let rec = 0;
      for (let round = 0; round < Math.min(3, ROUNDS); round++) {
        const r = timeSingle(wrapperSearch(idx, { ef: 64 }, filter));
        qps.push(r.qps);
        rec = recall(r.offsets, K, truthF);
        // The graph-only walk at 1% is slow by design (ef/s candidates); one round tells enough.
        if (NQ / r.qps > 5) break;
      }
      const row = { pass, mode, ef: 64, recall: r3(rec), qps: Math.round(median(qps)) };
      filteredRows.push(row);
      console.log(`HNSW filtered ${pass * 100}% (${mode}), ef 64: recall ${row.recall}, QPS ${row.qps}`);
    }
  }
  out.hnsw_filtered = filteredRows;

  // --- IVF ------------------------------------------------------------------------------------------
  for (const type of ["IVF_FLAT", "IVF_SQ8"] as const) {
    const ivfSpec = { type, metric: "L2", dim: DIM, params: { nlist: NLIST } } as const;
    const b = await stallDuring(() => buildIndex({ spec: ivfSpec, vectors: data.base, threads: THREADS }));
    const idx = loadIndexBytes(b.value);
    console.log(
      `${type} build (worker, nlist ${NLIST}): ${r1(b.ms / 1000)} s, ${r1(idx.memoryBytes / 2 ** 20)} MiB`,
    );
    const rows: Record<string, unknown>[] = [];
    for (const nprobe of [1, 4, 16]) {
      const qps: number[] = [];
      let rec = 0;
      for (let round = 0; round < Math.min(3, ROUNDS); round++) {
        const r = timeSingle(wrapperSearch(idx, { nprobe }));
        qps.push(r.qps);
        rec = recall(r.offsets, K, truth);
      }
      const row = { nprobe, recall: r3(rec), qps: Math.round(median(qps)) };
      rows.push(row);
      console.log(`${type} nprobe ${nprobe}: recall ${row.recall}, QPS ${row.qps}`);
    }
    out[type.toLowerCase()] = {
      nlist: NLIST,
      build_s: r1(b.ms / 1000),
      memory_mib: r1(idx.memoryBytes / 2 ** 20),
      search: rows,
    };
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(out));

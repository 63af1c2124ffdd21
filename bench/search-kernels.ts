// Exact L2 top-10 search kernels on the seeded clustered dataset of perf-notes §3.2: one query inline,
// one query split across the SearchPool's workers, a 1,000-query batch inline and through the pool,
// each beside a plain JS loop (one row at a time, four accumulators, insertion top-k) in the same
// run. A probe also times a 4-lane WebAssembly SIMD L2 kernel (float32 accumulation) on the same
// queries: the engine does not use it; it shows what moving the kernels to WASM would buy. Methods are interleaved within each round; figures are medians over rounds (latency
// percentiles over all samples). Prints one JSON line.
//
// Env: BENCH_N (200000), BENCH_DIM (128), BENCH_NQ (1000 = batch size), BENCH_SINGLE (50 single
// queries per round), BENCH_ROUNDS (5), BENCH_TOPK (10).
import { availableParallelism } from "node:os";
import { DataType } from "../src/common/types.ts";
import { SearchPool, type SearchResult, searchExact } from "../src/index/index.ts";
import { clustered } from "./datasets.ts";

const N = Number(process.env.BENCH_N ?? 200_000);
const DIM = Number(process.env.BENCH_DIM ?? 128);
const NQ = Number(process.env.BENCH_NQ ?? 1000);
const SINGLE = Number(process.env.BENCH_SINGLE ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TOPK = Number(process.env.BENCH_TOPK ?? 10);
const CENTRES = 1000;
const SEED = 42;

function naiveL2(base: Float32Array, d: number, q: Float32Array, k: number): Int32Array {
  const n = base.length / d;
  const ids = new Int32Array(k).fill(-1);
  const dist = new Float64Array(k).fill(Number.POSITIVE_INFINITY);
  const d4 = d & ~3;
  for (let r = 0; r < n; r++) {
    const o = r * d;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let j = 0; j < d4; j += 4) {
      const t0 = q[j]! - base[o + j]!;
      const t1 = q[j + 1]! - base[o + j + 1]!;
      const t2 = q[j + 2]! - base[o + j + 2]!;
      const t3 = q[j + 3]! - base[o + j + 3]!;
      a0 += t0 * t0;
      a1 += t1 * t1;
      a2 += t2 * t2;
      a3 += t3 * t3;
    }
    let s = a0 + a1 + a2 + a3;
    for (let j = d4; j < d; j++) s += (q[j]! - base[o + j]!) ** 2;
    if (s < dist[k - 1]!) {
      let i = k - 1;
      while (i > 0 && dist[i - 1]! > s) {
        dist[i] = dist[i - 1]!;
        ids[i] = ids[i - 1]!;
        i--;
      }
      dist[i] = s;
      ids[i] = r;
    }
  }
  return ids;
}

interface WasmApi {
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}

/**
 * A hand-assembled WASM SIMD module: l2(q, x, rowBytes, n, out) writes the squared L2 distance of the
 * query at byte offset q to each of n rows starting at byte offset x, as float32, to out.
 */
function wasmL2Probe(data: Float32Array, d: number): ((q: Float32Array) => Float32Array) | undefined {
  if (d % 4 !== 0) return undefined;
  const uleb = (v: number) => {
    const o: number[] = [];
    let n = v;
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      o.push(b);
    } while (n !== 0);
    return o;
  };
  const i32 = (v: number) => [0x41, ...uleb(v)]; // small non-negative constants only
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const load = [...simd(0), 2, 0];
  const [ADD, SUB, MUL, LANE, ZERO] = [228, 229, 230, 31, 12];
  // params 0 q, 1 x, 2 rowBytes, 3 n, 4 out; locals 5 r, 6 j (i32), 7 acc, 8 t (v128)
  const body = [
    ...i32(0),
    ...set(5),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(5),
    ...get(3),
    0x4f,
    0x0d,
    1,
    ...simd(ZERO),
    ...new Array<number>(16).fill(0),
    ...set(7),
    ...i32(0),
    ...set(6),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(6),
    ...get(2),
    0x4f,
    0x0d,
    1,
    ...get(0),
    ...get(6),
    0x6a,
    ...load,
    ...get(1),
    ...get(6),
    0x6a,
    ...load,
    ...simd(SUB),
    ...set(8),
    ...get(7),
    ...get(8),
    ...get(8),
    ...simd(MUL),
    ...simd(ADD),
    ...set(7),
    ...get(6),
    ...i32(16),
    0x6a,
    ...set(6),
    0x0c,
    0,
    0x0b,
    0x0b,
    ...get(4),
    ...get(5),
    ...i32(2),
    0x74,
    0x6a,
    ...get(7),
    ...simd(LANE),
    0,
    ...get(7),
    ...simd(LANE),
    1,
    0x92,
    ...get(7),
    ...simd(LANE),
    2,
    0x92,
    ...get(7),
    ...simd(LANE),
    3,
    0x92,
    0x38,
    2,
    0,
    ...get(1),
    ...get(2),
    0x6a,
    ...set(1),
    ...get(5),
    ...i32(1),
    0x6a,
    ...set(5),
    0x0c,
    0,
    0x0b,
    0x0b,
    0x0b,
  ];
  const func = [2, 2, 0x7f, 2, 0x7b, ...body];
  const section = (id: number, c: number[]) => [id, ...uleb(c.length), ...c];
  const name = (t: string) => [t.length, ...Buffer.from(t)];
  const bytes = new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, [1, 0x60, 5, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    ...section(2, [1, ...name("env"), ...name("mem"), 2, 0, ...uleb(1)]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name("l2"), 0, 0]),
    ...section(10, [1, ...uleb(func.length), ...func]),
  ]);
  const n = data.length / d;
  const qOff = data.byteLength;
  const outOff = qOff + d * 4;
  // The project's lib settings carry no WebAssembly types; this is the little the probe needs.
  const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const mem = new WA.Memory({ initial: Math.ceil((outOff + n * 4) / 65536) });
  const inst = new WA.Instance(new WA.Module(bytes), { env: { mem } });
  const l2 = inst.exports.l2 as (q: number, x: number, rowBytes: number, n: number, out: number) => void;
  new Float32Array(mem.buffer, 0, data.length).set(data);
  const qView = new Float32Array(mem.buffer, qOff, d);
  const out = new Float32Array(mem.buffer, outOff, n);
  return (q) => {
    qView.set(q);
    l2(qOff, 0, d * 4, n, outOff);
    return out;
  };
}

function topkOf(dist: Float32Array, k: number): Int32Array {
  const ids = new Int32Array(k).fill(-1);
  const best = new Float64Array(k).fill(Number.POSITIVE_INFINITY);
  for (let r = 0; r < dist.length; r++) {
    const s = dist[r]!;
    if (s < best[k - 1]!) {
      let i = k - 1;
      while (i > 0 && best[i - 1]! > s) {
        best[i] = best[i - 1]!;
        ids[i] = ids[i - 1]!;
        i--;
      }
      best[i] = s;
      ids[i] = r;
    }
  }
  return ids;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

const tGen = performance.now();
const { base, queries } = clustered(N, DIM, Math.max(NQ, SINGLE), SEED, CENTRES);
const genMs = performance.now() - tGen;
const vectors = { type: DataType.FloatVector, dim: DIM, data: base } as const;
const cores = availableParallelism();
const pool = await SearchPool.start({ size: cores });
const pool1 = await SearchPool.start({ size: 1 });
pool.register("seg", vectors);
pool1.register("seg", vectors);
const q = (i: number) => queries.subarray(i * DIM, (i + 1) * DIM);
const batch = queries.subarray(0, NQ * DIM);

const wasm = wasmL2Probe(base, DIM);
const lat = {
  inline: [] as number[],
  pool: [] as number[],
  pool1: [] as number[],
  naive: [] as number[],
  wasm: [] as number[],
};
const qps = {
  inline: [] as number[],
  pool: [] as number[],
  pool1: [] as number[],
  naive: [] as number[],
  wasm: [] as number[],
  batchInline: [] as number[],
  batchPool: [] as number[],
};
let mismatches = 0;
let wasmMismatches = 0;
const same = (a: Int32Array, b: Int32Array) => a.length === b.length && a.every((x, i) => x === b[i]);

for (let round = 0; round < ROUNDS; round++) {
  const roundMs = { inline: 0, pool: 0, pool1: 0, naive: 0, wasm: 0 };
  for (let i = 0; i < SINGLE; i++) {
    const qi = q(i);
    let t = performance.now();
    const a = searchExact({ vectors, queries: qi, metric: "L2", topk: TOPK });
    let ms = performance.now() - t;
    lat.inline.push(ms);
    roundMs.inline += ms;

    t = performance.now();
    const b: SearchResult = await pool.search({ segment: "seg", queries: qi, metric: "L2", topk: TOPK });
    ms = performance.now() - t;
    lat.pool.push(ms);
    roundMs.pool += ms;

    t = performance.now();
    await pool1.search({ segment: "seg", queries: qi, metric: "L2", topk: TOPK });
    ms = performance.now() - t;
    lat.pool1.push(ms);
    roundMs.pool1 += ms;

    t = performance.now();
    const c = naiveL2(base, DIM, qi, TOPK);
    ms = performance.now() - t;
    lat.naive.push(ms);
    roundMs.naive += ms;

    if (round === 0 && (!same(a.offsets, b.offsets) || !same(a.offsets, c))) mismatches++;

    if (wasm !== undefined) {
      t = performance.now();
      const w = topkOf(wasm(qi), TOPK);
      ms = performance.now() - t;
      lat.wasm.push(ms);
      roundMs.wasm += ms;
      if (round === 0 && !same(a.offsets, w)) wasmMismatches++;
    }
  }
  for (const k of ["inline", "pool", "pool1", "naive", "wasm"] as const)
    qps[k].push((SINGLE * 1000) / roundMs[k]);

  let t = performance.now();
  const bi = searchExact({ vectors, queries: batch, metric: "L2", topk: TOPK });
  qps.batchInline.push((NQ * 1000) / (performance.now() - t));
  t = performance.now();
  const bp = await pool.search({ segment: "seg", queries: batch, metric: "L2", topk: TOPK });
  qps.batchPool.push((NQ * 1000) / (performance.now() - t));
  if (round === 0) {
    if (!same(bi.offsets, bp.offsets)) mismatches++;
    for (let i = 0; i < Math.min(SINGLE, NQ); i++) {
      if (!same(bi.offsets.subarray(i * TOPK, (i + 1) * TOPK), naiveL2(base, DIM, q(i), TOPK))) mismatches++;
    }
  }
}
await pool.close();
await pool1.close();

const m = (xs: number[]) => Math.round(median(xs));
const naiveQps = median(qps.naive);
const mvecs = (qpsValue: number) => round3((qpsValue * N) / 1e6);
console.log(
  JSON.stringify({
    bench: "search-kernels",
    dataset: `clustered (perf-notes §3.2) ${N} x ${DIM}, ${CENTRES} centres, seed ${SEED}`,
    generateMs: Math.round(genMs),
    metric: "L2",
    topk: TOPK,
    cores,
    rounds: ROUNDS,
    singleQueriesPerRound: SINGLE,
    batchNq: NQ,
    stat: "median of rounds; latency percentiles over all single-query samples",
    answersAgree: mismatches === 0,
    naive: {
      qps: Math.round(naiveQps),
      msPerQuery: round3(1000 / naiveQps),
      mVectorsPerSec: mvecs(naiveQps),
      p50Ms: round3(percentile(lat.naive, 50)),
      p99Ms: round3(percentile(lat.naive, 99)),
    },
    nq1Inline: {
      qps: m(qps.inline),
      msPerQuery: round3(1000 / median(qps.inline)),
      mVectorsPerSec: mvecs(median(qps.inline)),
      p50Ms: round3(percentile(lat.inline, 50)),
      p99Ms: round3(percentile(lat.inline, 99)),
      vsNaive: round3(median(qps.inline) / naiveQps),
    },
    nq1Pool: {
      workers: cores,
      qps: m(qps.pool),
      p50Ms: round3(percentile(lat.pool, 50)),
      p99Ms: round3(percentile(lat.pool, 99)),
      vsNaive: round3(median(qps.pool) / naiveQps),
      vsInline: round3(median(qps.pool) / median(qps.inline)),
    },
    nq1Pool1Worker: {
      qps: m(qps.pool1),
      p50Ms: round3(percentile(lat.pool1, 50)),
      p99Ms: round3(percentile(lat.pool1, 99)),
      vsInline: round3(median(qps.pool1) / median(qps.inline)),
    },
    batchInline: {
      qps: m(qps.batchInline),
      msPerQuery: round3(1000 / median(qps.batchInline)),
      mVectorsPerSec: mvecs(median(qps.batchInline)),
      vsNaive: round3(median(qps.batchInline) / naiveQps),
    },
    probeWasmSimdNq1:
      wasm === undefined
        ? null
        : {
            note: "4-lane WASM SIMD, float32 accumulation; not used by the engine",
            qps: m(qps.wasm),
            msPerQuery: round3(1000 / median(qps.wasm)),
            p50Ms: round3(percentile(lat.wasm, 50)),
            vsNaive: round3(median(qps.wasm) / naiveQps),
            vsInline: round3(median(qps.wasm) / median(qps.inline)),
            queriesWithOtherTopk: wasmMismatches,
          },
    batchPool: {
      workers: cores,
      qps: m(qps.batchPool),
      vsNaive: round3(median(qps.batchPool) / naiveQps),
      vsBatchInline: round3(median(qps.batchPool) / median(qps.batchInline)),
    },
  }),
);

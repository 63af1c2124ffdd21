/**
 * Shared pieces of bench/index.ts: the dataset files a parent writes once and every system's
 * child process reads (so each system is measured in its own process, with its own RSS), recall,
 * and the single-client timing loop.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const K = 10;
/** Rows with `row % TAG_MOD === TAG_PASS` pass the 10 % filter (`tag == 3`). */
export const TAG_MOD = 10;
export const TAG_PASS = 3;
export const EFS = [16, 32, 64, 128, 256] as const;
export const TARGET_RECALL = 0.95;
export const HNSW_M = 16;
export const HNSW_EFC = 200;

export type Metric = "L2" | "COSINE";

export interface DatasetMeta {
  readonly name: string;
  readonly n: number;
  readonly dim: number;
  readonly nq: number;
  readonly metric: Metric;
  readonly seed: number;
}

export interface BenchData extends DatasetMeta {
  readonly base: Float32Array;
  /** One fresh copy per query: usearch 2.25 ignores a typed array's byteOffset. */
  readonly queries: readonly Float32Array[];
  /** nq × K row numbers of the exact top-K. */
  readonly truth: Int32Array;
  /** nq × K row numbers of the exact top-K among rows passing `tag == 3`. */
  readonly truthFiltered: Int32Array;
}

const f32 = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const i32 = (b: Buffer) => new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const bytes = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

export function writeData(
  dir: string,
  meta: DatasetMeta,
  base: Float32Array,
  queries: Float32Array,
  truth: Int32Array,
  truthFiltered: Int32Array,
): void {
  writeFileSync(join(dir, "meta.json"), JSON.stringify(meta));
  writeFileSync(join(dir, "base.f32"), bytes(base));
  writeFileSync(join(dir, "queries.f32"), bytes(queries));
  writeFileSync(join(dir, "truth.i32"), bytes(truth));
  writeFileSync(join(dir, "truth-filtered.i32"), bytes(truthFiltered));
}

/** `withBase: false` leaves `base` empty: serving children need only queries and truth. */
export function readData(dir: string, withBase = true): BenchData {
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as DatasetMeta;
  const q = f32(readFileSync(join(dir, "queries.f32")));
  return {
    ...meta,
    base: withBase ? f32(readFileSync(join(dir, "base.f32"))) : new Float32Array(0),
    queries: Array.from({ length: meta.nq }, (_, i) => q.slice(i * meta.dim, (i + 1) * meta.dim)),
    truth: i32(readFileSync(join(dir, "truth.i32"))),
    truthFiltered: i32(readFileSync(join(dir, "truth-filtered.i32"))),
  };
}

/** Fraction of the exact top-K found, over all queries; `got` is nq × K row numbers (-1: none). */
export function recallAt(got: Int32Array, truth: Int32Array, nq: number): number {
  let hits = 0;
  let total = 0;
  for (let q = 0; q < nq; q++) {
    const want = new Set<number>();
    for (let i = 0; i < K; i++) {
      const t = truth[q * K + i]!;
      if (t >= 0) want.add(t);
    }
    total += want.size;
    for (let i = 0; i < K; i++) if (want.has(got[q * K + i]!)) hits++;
  }
  return total === 0 ? 1 : hits / total;
}

export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? 0;
}
export const median = (xs: readonly number[]) => pct(xs, 50);
export const r1 = (x: number) => Math.round(x * 10) / 10;
export const r2 = (x: number) => Math.round(x * 100) / 100;
export const r3 = (x: number) => Math.round(x * 1000) / 1000;
export const mib = (b: number) => r1(b / 2 ** 20);

/** Writes query `qi`'s hits (row numbers) into `out[qi*K ..]`; sync or async. */
export type SearchFn = (qi: number, out: Int32Array) => void | Promise<void>;

export interface LoopStats {
  readonly qps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly recall: number;
}

const WARMUP = 50;

export interface Timed {
  readonly name: string;
  readonly search: SearchFn;
  readonly truth: Int32Array;
}

/**
 * One client, one query at a time, every query per round (after a short untimed warm-up); several searchers are interleaved
 * round by round so machine noise (other processes on a 2-core box) hits them alike.
 * QPS: median over rounds; latency percentiles over every query of every round.
 */
export async function interleaved(
  nq: number,
  rounds: number,
  searchers: readonly Timed[],
): Promise<Record<string, LoopStats>> {
  const qps = searchers.map(() => [] as number[]);
  const lat = searchers.map(() => [] as number[]);
  const rec = searchers.map(() => 0);
  // Warm caches, JIT and lazily opened files before anything is timed.
  const scratch = new Int32Array(nq * K);
  for (const { search } of searchers)
    for (let qi = 0; qi < Math.min(nq, WARMUP); qi++) {
      const p = search(qi, scratch);
      if (p !== undefined) await p;
    }
  for (let round = 0; round < rounds; round++) {
    for (let s = 0; s < searchers.length; s++) {
      const { search, truth } = searchers[s]!;
      const out = new Int32Array(nq * K).fill(-1);
      const l = lat[s]!;
      const t0 = performance.now();
      for (let qi = 0; qi < nq; qi++) {
        const t = performance.now();
        const p = search(qi, out);
        if (p !== undefined) await p;
        l.push(performance.now() - t);
      }
      qps[s]!.push((nq * 1000) / (performance.now() - t0));
      rec[s] = recallAt(out, truth, nq);
    }
  }
  const res: Record<string, LoopStats> = {};
  searchers.forEach((s, i) => {
    res[s.name] = {
      qps: Math.round(median(qps[i]!)),
      p50Ms: r3(median(lat[i]!)),
      p99Ms: r3(pct(lat[i]!, 99)),
      recall: r3(rec[i]!),
    };
  });
  return res;
}

/** Resident set now, and the process' peak so far (MiB). */
export function rss(): { rssMiB: number; peakRssMiB: number } {
  return { rssMiB: mib(process.memoryUsage().rss), peakRssMiB: mib(process.resourceUsage().maxRSS * 1024) };
}

export const log = (msg: string) => process.stderr.write(`${msg}\n`);

export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

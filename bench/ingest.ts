// Ingest throughput through the embedded API: validation → durable log → data node → binlogs,
// flush included. Compared, in the same run, with the raw durable log append of the same bytes
// (the embedded mq alone). Prints one JSON line.
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Strata } from "../src/api/embedded.ts";
import { openEmbeddedMq } from "../src/mq/index.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BATCH = 1000;
const CASES = [
  { dim: 128, rows: Number(process.env.BENCH_ROWS_128 ?? 200_000) },
  { dim: 768, rows: Number(process.env.BENCH_ROWS_768 ?? 60_000) },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function makeBatches(dim: number, rows: number) {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 4294967296 - 0.5;
  };
  const batches = [];
  for (let from = 0; from < rows; from += BATCH) {
    const id = new BigInt64Array(BATCH).map((_, i) => BigInt(from + i));
    const vec = new Float32Array(BATCH * dim).map(rand);
    batches.push({ id, vec });
  }
  return batches;
}

async function strataRound(dim: number, batches: ReturnType<typeof makeBatches>, inflight: number) {
  const dir = mkdtempSync(join(tmpdir(), "strata-bench-"));
  const db = await Strata.open({ dataDir: dir, logLevel: "error" });
  try {
    await db.createCollection({
      schema: {
        name: "bench",
        fields: [
          { name: "id", dataType: "Int64", isPrimaryKey: true },
          { name: "vec", dataType: "FloatVector", dim },
        ],
      },
      shardsNum: 2,
    });
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const b = batches[next++];
        if (b !== undefined) await db.insert("bench", { columns: b });
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
    const tAcked = performance.now();
    await db.flush("bench", { timeoutMs: 300_000 });
    const tFlushed = performance.now();
    return { ackedMs: tAcked - t0, totalMs: tFlushed - t0, flushMs: tFlushed - tAcked };
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rawLogRound(batches: ReturnType<typeof makeBatches>) {
  const dir = mkdtempSync(join(tmpdir(), "strata-bench-raw-"));
  const mq = await openEmbeddedMq({ dir });
  try {
    const t0 = performance.now();
    for (const b of batches) {
      const payload = new Uint8Array(b.vec.byteLength + b.id.byteLength);
      payload.set(new Uint8Array(b.vec.buffer), 0);
      payload.set(new Uint8Array(b.id.buffer), b.vec.byteLength);
      await mq.produce("raw", [payload]);
    }
    return performance.now() - t0;
  } finally {
    await mq.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (const c of CASES) {
  const batches = makeBatches(c.dim, c.rows);
  const seq: Awaited<ReturnType<typeof strataRound>>[] = [];
  const par: Awaited<ReturnType<typeof strataRound>>[] = [];
  const raw: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved so machine drift hits all three alike.
    seq.push(await strataRound(c.dim, batches, 1));
    par.push(await strataRound(c.dim, batches, 4));
    raw.push(await rawLogRound(batches));
  }
  const rps = (ms: number) => Math.round(c.rows / (ms / 1000));
  const rawRps = rps(median(raw));
  results.push({
    dim: c.dim,
    rows: c.rows,
    sequential: {
      rowsPerSecAcked: rps(median(seq.map((x) => x.ackedMs))),
      rowsPerSecFlushIncluded: rps(median(seq.map((x) => x.totalMs))),
      flushToFlushedMs: Math.round(median(seq.map((x) => x.flushMs))),
    },
    inflight4: {
      rowsPerSecAcked: rps(median(par.map((x) => x.ackedMs))),
      rowsPerSecFlushIncluded: rps(median(par.map((x) => x.totalMs))),
      flushToFlushedMs: Math.round(median(par.map((x) => x.flushMs))),
    },
    rawDurableLogRowsPerSec: rawRps,
    ackedVsRawLog: Number((rps(median(par.map((x) => x.ackedMs))) / rawRps).toFixed(2)),
  });
}
console.log(
  JSON.stringify({
    bench: "ingest",
    dataset: "seeded uniform float32 vectors, Int64 PK, 2 shards, batches of 1,000, embedded backends",
    cores: availableParallelism(),
    rounds: ROUNDS,
    stat: "median",
    results,
  }),
);

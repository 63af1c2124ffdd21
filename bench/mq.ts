/**
 * Message-queue throughput: durable produce and consume of 128-d float32 vector rows (512 B each),
 * on the embedded log and (when STRATA_TEST_NATS or STRATA_BENCH_NATS is set) on NATS JetStream.
 *
 *   (a) rows as records: one record per row, 1,000 records per produce call
 *   (b) rows as batches: one 1,000-row payload (512,000 B) per produce call (the write path's shape)
 *   consume: reading back everything produced in (a) and (b)
 *   raw: the same bytes as (b) with a CRC32 and one write + fdatasync per 1,000 rows, no queue
 *
 * Several rounds; medians reported. Progress goes to stderr; stdout gets exactly one JSON line.
 * Run: npx tsx bench/mq.ts   (STRATA_BENCH_ROUNDS, STRATA_BENCH_ROWS to change the size)
 */
import { mkdtemp, open, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { openEmbeddedMq, openNatsMq } from "../src/mq/index.ts";
import type { MessageQueue } from "../src/mq/types.ts";

const DIM = 128;
const ROW_BYTES = DIM * 4;
const BATCH_ROWS = 1000;
const ROUNDS = Number(process.env.STRATA_BENCH_ROUNDS ?? 5);
const ROWS = Number(process.env.STRATA_BENCH_ROWS ?? 300_000);
const NATS_ROWS_A = Number(process.env.STRATA_BENCH_NATS_ROWS ?? 50_000);
const natsServers = (process.env.STRATA_BENCH_NATS ?? process.env.STRATA_TEST_NATS ?? "")
  .split(",")
  .filter((s) => s !== "");

/** Deterministic rows: a fixed pool of BATCH_ROWS * 4 vectors from a seeded xorshift. */
function makeRows(n: number): Float32Array {
  const out = new Float32Array(n * DIM);
  let x = 0x2545f491;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 0x1_0000_0000) * 2 - 1;
  }
  return out;
}

const pool = makeRows(BATCH_ROWS * 4);
const poolBytes = new Uint8Array(pool.buffer);
/** Batch b as 1,000 row views (case a) and as one contiguous payload (case b). */
const rowViews = Array.from({ length: 4 }, (_, b) =>
  Array.from({ length: BATCH_ROWS }, (_, i) =>
    poolBytes.subarray((b * BATCH_ROWS + i) * ROW_BYTES, (b * BATCH_ROWS + i + 1) * ROW_BYTES),
  ),
);
const batchPayloads = Array.from({ length: 4 }, (_, b) =>
  poolBytes.subarray(b * BATCH_ROWS * ROW_BYTES, (b + 1) * BATCH_ROWS * ROW_BYTES),
);

interface Rate {
  rowsPerSec: number;
  mbPerSec: number;
}

function rate(rows: number, ms: number): Rate {
  return {
    rowsPerSec: Math.round((rows / ms) * 1000),
    mbPerSec: +((rows * ROW_BYTES) / 1e6 / (ms / 1000)).toFixed(1),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function medianRate(rs: Rate[]): Rate {
  return { rowsPerSec: median(rs.map((r) => r.rowsPerSec)), mbPerSec: median(rs.map((r) => r.mbPerSec)) };
}

async function produceRecords(mq: MessageQueue, channel: string, rows: number): Promise<Rate> {
  const t0 = performance.now();
  for (let done = 0, b = 0; done < rows; done += BATCH_ROWS, b++) {
    await mq.produce(channel, rowViews[b % 4] as Uint8Array[]);
  }
  return rate(rows, performance.now() - t0);
}

async function produceBatches(mq: MessageQueue, channel: string, rows: number): Promise<Rate> {
  const t0 = performance.now();
  for (let done = 0, b = 0; done < rows; done += BATCH_ROWS, b++) {
    await mq.produce(channel, [batchPayloads[b % 4] as Uint8Array]);
  }
  return rate(rows, performance.now() - t0);
}

async function consumeAll(mq: MessageQueue, channel: string, rows: number): Promise<Rate> {
  const t0 = performance.now();
  const c = await mq.consume(channel, { kind: "earliest" }, { maxBatch: 4096 });
  let bytes = 0;
  while (bytes < rows * ROW_BYTES) {
    const batch = await c.next(10_000);
    if (batch.length === 0) throw new Error(`consume of ${channel} stalled at ${bytes} bytes`);
    for (const m of batch) bytes += m.payload.byteLength;
  }
  await c.close();
  return rate(rows, performance.now() - t0);
}

async function rawWal(dir: string, rows: number): Promise<Rate> {
  const fh = await open(join(dir, "raw.wal"), "w");
  const t0 = performance.now();
  let pos = 0;
  const header = Buffer.alloc(8);
  for (let done = 0, b = 0; done < rows; done += BATCH_ROWS, b++) {
    const payload = batchPayloads[b % 4] as Uint8Array;
    header.writeUInt32LE(payload.byteLength, 0);
    header.writeUInt32LE(crc32(payload), 4);
    const { bytesWritten } = await fh.writev([header, payload], pos);
    pos += bytesWritten;
    await fh.datasync();
  }
  const ms = performance.now() - t0;
  await fh.close();
  return rate(rows, ms);
}

interface BackendResult {
  rowsA: number;
  rowsB: number;
  produceRecords: Rate;
  produceBatches: Rate;
  consumeRecords: Rate;
  consumeBatches: Rate;
}

async function benchBackend(
  label: string,
  rowsA: number,
  rowsB: number,
  openMq: (round: number) => Promise<{ mq: MessageQueue; done: () => Promise<void> }>,
): Promise<BackendResult> {
  const pa: Rate[] = [];
  const pb: Rate[] = [];
  const ca: Rate[] = [];
  const cb: Rate[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const { mq, done } = await openMq(round);
    try {
      pa.push(await produceRecords(mq, "rows", rowsA));
      pb.push(await produceBatches(mq, "batches", rowsB));
      ca.push(await consumeAll(mq, "rows", rowsA));
      cb.push(await consumeAll(mq, "batches", rowsB));
    } finally {
      await done();
    }
    console.error(
      `${label} round ${round + 1}/${ROUNDS}: produce records ${pa.at(-1)?.rowsPerSec} rows/s, ` +
        `batches ${pb.at(-1)?.rowsPerSec} rows/s; consume records ${ca.at(-1)?.rowsPerSec}, batches ${cb.at(-1)?.rowsPerSec}`,
    );
  }
  return {
    rowsA,
    rowsB,
    produceRecords: medianRate(pa),
    produceBatches: medianRate(pb),
    consumeRecords: medianRate(ca),
    consumeBatches: medianRate(cb),
  };
}

async function main(): Promise<void> {
  const base = await mkdtemp(join(os.tmpdir(), "strata-bench-mq-"));
  try {
    const raw: Rate[] = [];
    for (let round = 0; round < ROUNDS; round++) raw.push(await rawWal(base, ROWS));
    console.error(`raw WAL (crc32 + write + fdatasync per 1,000 rows): ${medianRate(raw).rowsPerSec} rows/s`);

    const embedded = await benchBackend("embedded", ROWS, ROWS, async (round) => {
      const dir = join(base, `e${round}`);
      const mq = await openEmbeddedMq({ dir });
      return {
        mq,
        done: async () => {
          await mq.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    });

    let nats: BackendResult | undefined;
    if (natsServers.length > 0) {
      nats = await benchBackend("nats", NATS_ROWS_A, ROWS, async (round) => {
        const prefix = `bench_${process.pid}_${round}`;
        const mq = await openNatsMq({ servers: natsServers, prefix });
        return {
          mq,
          done: async () => {
            await mq.dropChannel("rows");
            await mq.dropChannel("batches");
            await mq.close();
            const { connect } = await import("@nats-io/transport-node");
            const { jetstreamManager } = await import("@nats-io/jetstream");
            const nc = await connect({ servers: natsServers });
            await (await jetstreamManager(nc)).streams.delete(`${prefix}_ckpt`).catch(() => undefined);
            await nc.close();
          },
        };
      });
    }

    const result = {
      bench: "mq",
      dataset: {
        description:
          "128-d float32 vector rows (512 B each), seeded xorshift values, 1,000 rows per produce call",
        dim: DIM,
        rowBytes: ROW_BYTES,
        rowsPerCall: BATCH_ROWS,
        rows: ROWS,
      },
      durability: "embedded: write + fdatasync before produce resolves; nats: JetStream ack per record",
      availableParallelism: os.availableParallelism(),
      rounds: ROUNDS,
      statistic: "median",
      raw: { produceBatches: medianRate(raw) },
      embedded,
      ...(nats === undefined ? {} : { nats }),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();

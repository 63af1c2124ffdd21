// Binlog codec throughput: encode/decode of one column through the Arrow IPC codec, compared
// with a raw memcpy + CRC32 of the same bytes (the floor any codec pays). Prints one JSON line.
import { availableParallelism } from "node:os";
import { crc32 } from "node:zlib";
import type { Column } from "../src/common/column.ts";
import { DataType } from "../src/common/types.ts";
import { type BinlogHeader, decodeBinlog, encodeBinlog } from "../src/storage/index.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function header(c: Column, rowCount: number): BinlogHeader {
  return {
    collectionId: 1n,
    partitionId: 2n,
    segmentId: 3n,
    fieldId: 101,
    dataType: c.type,
    ...("dim" in c ? { dim: c.dim } : {}),
    rowCount,
    timestampFrom: 1n,
    timestampTo: 2n,
  };
}

function measure(name: string, c: Column, rows: number, bytes: number) {
  const h = header(c, rows);
  const enc: number[] = [];
  const dec: number[] = [];
  const raw: number[] = [];
  for (let k = 0; k < ROUNDS; k++) {
    let t = performance.now();
    const file = encodeBinlog(h, c);
    enc.push(performance.now() - t);
    t = performance.now();
    decodeBinlog(file);
    dec.push(performance.now() - t);
    t = performance.now();
    const copy = new Uint8Array(file.byteLength);
    copy.set(file);
    crc32(copy);
    raw.push(performance.now() - t);
  }
  const mb = bytes / 1e6;
  return {
    column: name,
    rows,
    mb: Number(mb.toFixed(1)),
    encodeMs: Number(median(enc).toFixed(1)),
    decodeMs: Number(median(dec).toFixed(1)),
    encodeMBps: Math.round(mb / (median(enc) / 1000)),
    decodeMBps: Math.round(mb / (median(dec) / 1000)),
    rawCopyCrcMs: Number(median(raw).toFixed(1)),
    encodeVsRaw: Number((median(enc) / median(raw)).toFixed(2)),
  };
}

let seed = 1;
const rand = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296;
};
const rows = 100_000;
const vec = new Float32Array(rows * 128);
for (let i = 0; i < vec.length; i++) vec[i] = rand() * 2 - 1;
const ints = new BigInt64Array(rows);
for (let i = 0; i < rows; i++) ints[i] = BigInt(i) * 7919n;
const strs = Array.from({ length: rows }, (_, i) => `key-${i}-${"é".repeat(i % 7)}`);

const results = [
  measure("FloatVector dim 128", { type: DataType.FloatVector, dim: 128, data: vec }, rows, vec.byteLength),
  measure("Int64", { type: DataType.Int64, data: ints }, rows, ints.byteLength),
  measure(
    "VarChar ~12 chars",
    { type: DataType.VarChar, data: strs },
    rows,
    Buffer.byteLength(strs.join("")),
  ),
];
console.log(
  JSON.stringify({
    bench: "binlog",
    dataset: "100,000 rows per column, seeded LCG data",
    cores: availableParallelism(),
    rounds: ROUNDS,
    stat: "median",
    results,
  }),
);

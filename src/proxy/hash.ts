import { crc32 } from "node:zlib";

function fmix32(h: number): number {
  let x = h;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Shard of each primary key: a stable hash modulo the shard count. Stable across processes and
 * versions: it decides which DML channel a key's inserts and deletes travel on, so changing it
 * would split a key's history over two channels.
 */
export function shardOf(pks: BigInt64Array | readonly string[], shards: number): Uint16Array {
  const out = new Uint16Array(pks.length);
  if (shards === 1) return out;
  if (pks instanceof BigInt64Array) {
    const words = new Uint32Array(pks.buffer, pks.byteOffset, pks.length * 2);
    for (let i = 0; i < pks.length; i++) {
      const lo = words[2 * i] as number;
      const hi = words[2 * i + 1] as number;
      out[i] = fmix32(lo ^ fmix32(hi ^ 0x9e3779b9)) % shards;
    }
  } else {
    for (let i = 0; i < pks.length; i++) out[i] = crc32(pks[i] as string) % shards;
  }
  return out;
}

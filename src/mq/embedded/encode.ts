/**
 * Encoding of one group commit: every queued produce call's payloads, back to back, as the list of
 * buffers one write (or writev) puts on disk. Small payloads are copied into one staging buffer;
 * large ones are written from the caller's memory, with only their header staged.
 */
import { FLAG_COMMIT, HEADER_BYTES, writeHeader, writeRecord } from "./record.ts";

/** Payloads at least this large are written from the caller's buffer instead of being copied. */
const SCATTER_BYTES = 256 * 1024;

/**
 * Encodes `batches` as consecutive records from `firstSeq` on, the last one flagged as the end of
 * the commit. `bytes` is the encoded size (headers included); `starts[i]` receives the file offset
 * of record i given that the group is written at `filePos`.
 */
export function encodeGroup(
  batches: readonly (readonly Uint8Array[])[],
  firstSeq: number,
  filePos: number,
  bytes: number,
  starts: Float64Array,
): Uint8Array[] {
  let staged = 0;
  let large = false;
  for (const b of batches) {
    for (const p of b) {
      if (p.byteLength >= SCATTER_BYTES) large = true;
      else staged += p.byteLength;
      staged += HEADER_BYTES;
    }
  }
  const staging = Buffer.allocUnsafe(large ? staged : bytes);
  const out: Uint8Array[] = [];
  const lastBatch = batches.length - 1;
  let off = 0;
  let runStart = 0;
  let pos = filePos;
  let seq = firstSeq;
  let k = 0;
  for (let bi = 0; bi <= lastBatch; bi++) {
    const b = batches[bi] as readonly Uint8Array[];
    const m = b.length;
    for (let i = 0; i < m; i++) {
      const payload = b[i] as Uint8Array;
      const flags = bi === lastBatch && i === m - 1 ? FLAG_COMMIT : 0;
      starts[k++] = pos;
      if (payload.byteLength < SCATTER_BYTES) {
        off = writeRecord(staging, off, seq++, payload, flags);
      } else {
        writeHeader(staging, off, seq++, payload, flags);
        off += HEADER_BYTES;
        out.push(staging.subarray(runStart, off), payload);
        runStart = off;
      }
      pos += HEADER_BYTES + payload.byteLength;
    }
  }
  if (off > runStart) out.push(staging.subarray(runStart, off));
  return out;
}

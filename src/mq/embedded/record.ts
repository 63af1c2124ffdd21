/**
 * On-disk record format of the embedded log and the scan that rebuilds a segment's index.
 *
 * A record is a 20-byte little-endian header followed by the payload:
 *
 *   0 magic u32 | 4 crc u32 | 8 len u32 | 12 seq low u32 | 16 seq high u16 | 18 flags u16
 *
 * `crc` is the CRC32 of header bytes 8..20 followed by the payload (one contiguous range, so one
 * CRC call per record). The magic lets a scan find the next record after a damaged one.
 * `FLAG_COMMIT` marks the last record of each write: a group is only written after the previous
 * one was fsynced, so damage followed by a later complete group is corruption of acknowledged
 * data, while damage in the last group is a torn write.
 */
import { crc32 } from "node:zlib";
import { StrataError } from "../../common/errors.ts";

export const HEADER_BYTES = 20;
export const MAGIC = 0x9a4c5153;
export const FLAG_COMMIT = 1;
const MAGIC_BYTES = Buffer.from([0x53, 0x51, 0x4c, 0x9a]);
const TWO32 = 2 ** 32;

function putHeader(buf: Buffer, off: number, seq: number, len: number, flags: number): void {
  buf.writeUInt32LE(MAGIC, off);
  buf.writeUInt32LE(len, off + 8);
  buf.writeUInt32LE(seq >>> 0, off + 12);
  buf.writeUInt16LE(Math.floor(seq / TWO32), off + 16);
  buf.writeUInt16LE(flags, off + 18);
}

/** Writes one record (header + payload) at `off`; returns the offset after it. */
export function writeRecord(
  buf: Buffer,
  off: number,
  seq: number,
  payload: Uint8Array,
  flags: number,
): number {
  const len = payload.byteLength;
  putHeader(buf, off, seq, len, flags);
  buf.set(payload, off + HEADER_BYTES);
  const end = off + HEADER_BYTES + len;
  buf.writeUInt32LE(crc32(buf.subarray(off + 8, end)), off + 4);
  return end;
}

/** Writes only the header of a record whose payload is written separately (scatter write). */
export function writeHeader(buf: Buffer, off: number, seq: number, payload: Uint8Array, flags: number): void {
  putHeader(buf, off, seq, payload.byteLength, flags);
  buf.writeUInt32LE(crc32(payload, crc32(buf.subarray(off + 8, off + HEADER_BYTES))), off + 4);
}

export function headerLen(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 8);
}

export function headerSeq(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 12) + buf.readUInt16LE(off + 16) * TWO32;
}

export function headerFlags(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off + 18);
}

/** True when a whole record with the right magic and CRC starts at `off` inside `buf`. */
export function recordOk(buf: Buffer, off: number): boolean {
  if (off + HEADER_BYTES > buf.length || buf.readUInt32LE(off) !== MAGIC) return false;
  const end = off + HEADER_BYTES + headerLen(buf, off);
  return end <= buf.length && crc32(buf.subarray(off + 8, end)) === buf.readUInt32LE(off + 4);
}

/**
 * Validates the record expected at `off` inside a read buffer (`seq`, exact length `size` known from
 * the index) and returns its payload as a view of `buf`.
 * @throws StrataError Corrupted when anything does not match.
 */
export function readRecord(buf: Buffer, off: number, size: number, seq: number, where: string): Uint8Array {
  if (
    size < HEADER_BYTES ||
    headerLen(buf, off) + HEADER_BYTES !== size ||
    !recordOk(buf, off) ||
    headerSeq(buf, off) !== seq
  ) {
    throw new StrataError("Corrupted", `${where}: record ${seq} fails its checksum`);
  }
  return buf.subarray(off + HEADER_BYTES, off + size);
}

/**
 * Index entries: `offsets[i]` is the file offset of seq `base + i` when the record is intact as far
 * as the header goes, or `-(pos + 1)` for a seq whose record is lost, where `pos` is where its bytes
 * would start. Either way `entryPos` gives the start, so every entry's end is the next entry's start.
 */
export function entryPos(v: number): number {
  return v >= 0 ? v : -v - 1;
}

export interface ScanResult {
  /** Seq `base + i` lives at `offsets[i]` (see `entryPos`), for i < count. */
  readonly offsets: Float64Array;
  readonly count: number;
  /** Bytes of the file that belong to the log; anything after is a torn tail to cut off. */
  readonly end: number;
  /** Seqs kept in the index whose record is damaged (reading them gives Corrupted). */
  readonly damaged: number;
}

interface Defect {
  /** Byte position where the damage starts. */
  readonly pos: number;
  /** Seqs before this one are wholly before the damage. */
  readonly seq: number;
}

/** Finds the next intact record at or after `from` whose seq can follow `expectSeq`. */
function resync(buf: Buffer, from: number, expectSeq: number): number {
  let i = from;
  for (;;) {
    i = buf.indexOf(MAGIC_BYTES, i);
    if (i < 0) return -1;
    if (recordOk(buf, i)) {
      const seq = headerSeq(buf, i);
      // A real later record is at most one seq per header's worth of skipped bytes ahead.
      if (seq >= expectSeq && seq - expectSeq <= (i - from) / HEADER_BYTES + 1) return i;
    }
    i++;
  }
}

/**
 * Scans a whole segment image. In "tail" mode (the segment being appended to) damage that no later
 * complete group follows is a torn write: `end` is set to where it starts and the seqs from there on
 * are dropped. Damage followed by a later group is kept in the index as damaged seqs. In "sealed"
 * mode nothing is cut: the segment must hold exactly `expectCount` seqs and any it lacks are damaged.
 */
export function scanSegment(buf: Buffer, base: number, mode: "tail" | "sealed", expectCount = 0): ScanResult {
  let offsets = new Float64Array(Math.max(16, mode === "sealed" ? expectCount : buf.length / 256));
  let count = 0;
  const push = (v: number): void => {
    if (count === offsets.length) {
      const bigger = new Float64Array(offsets.length * 2);
      bigger.set(offsets);
      offsets = bigger;
    }
    offsets[count++] = v;
  };
  const defects: Defect[] = [];
  // Start of the last commit-flagged record that has at least one record after it.
  let lastCommitOff = -1;
  let prevCommitOff = -1;
  let pos = 0;
  let seq = base;
  while (pos < buf.length) {
    if (recordOk(buf, pos) && headerSeq(buf, pos) === seq) {
      if (prevCommitOff >= 0) lastCommitOff = prevCommitOff;
      if ((headerFlags(buf, pos) & FLAG_COMMIT) !== 0) prevCommitOff = pos;
      push(pos);
      pos += HEADER_BYTES + headerLen(buf, pos);
      seq++;
      continue;
    }
    defects.push({ pos, seq });
    const next = resync(buf, pos + 1, seq);
    if (next < 0) break;
    for (const nextSeq = headerSeq(buf, next); seq < nextSeq; seq++) push(-pos - 1);
    pos = next;
  }

  if (mode === "sealed") {
    while (count < expectCount) push(-pos - 1);
    const n = Math.min(count, expectCount);
    return { offsets, count: n, end: pos, damaged: countDamaged(offsets, n) };
  }
  for (const d of defects) {
    if (d.pos <= lastCommitOff) continue;
    // Torn: drop from the first damage that no later complete group follows.
    const n = d.seq - base;
    return { offsets, count: n, end: d.pos, damaged: countDamaged(offsets, n) };
  }
  return { offsets, count, end: pos, damaged: countDamaged(offsets, count) };
}

function countDamaged(offsets: Float64Array, n: number): number {
  let d = 0;
  for (let i = 0; i < n; i++) if ((offsets[i] as number) < 0) d++;
  return d;
}

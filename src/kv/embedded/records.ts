/**
 * Binary framing shared by the write-ahead log and the snapshot file.
 *
 * A frame is `[u32 bodyLength][u32 crc32(body)][body]`, little-endian. Every body starts with a
 * one-byte type. A frame whose length runs past the end of the data, whose CRC does not match or
 * whose body does not parse is where the valid data ends (a torn tail in the WAL).
 */
import { crc32 } from "node:zlib";

export const FRAME_HEADER = 8;
/** Bodies larger than this cannot have been written by us; treat as garbage. */
export const MAX_BODY = 1 << 30;

export const REC_WRITE = 1;
export const REC_GRANT = 2;
export const SNAP_META = 10;
export const SNAP_LEASE = 11;
export const SNAP_KV = 12;
export const SNAP_END = 13;

const OP_PUT = 1;
const OP_DEL = 2;

export type WalOp =
  | {
      readonly kind: "put";
      readonly key: string;
      readonly value: Uint8Array;
      readonly lease: string | undefined;
    }
  | { readonly kind: "del"; readonly key: string };

export type WalRecord =
  | {
      readonly type: "write";
      readonly lsn: number;
      /** Revision of the writes; equal to the previous revision when `ops` is empty. */
      readonly rev: number;
      readonly ops: readonly WalOp[];
      /** Leases that end with this record (revoked or expired). */
      readonly revokes: readonly string[];
    }
  | { readonly type: "grant"; readonly lsn: number; readonly id: string; readonly ttl: number };

/** Sequential writer over a buffer whose size was computed up front. */
export class Out {
  readonly buf: Buffer;
  pos: number;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }
  f64(v: number): void {
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  /** u32 byte length + UTF-8 bytes; `len` is the precomputed byte length. */
  str(s: string, len: number): void {
    this.u32(len);
    this.pos += this.buf.write(s, this.pos, len, "utf8");
  }
  bytes(b: Uint8Array): void {
    this.u32(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }
  /** Call after writing a body that starts at FRAME_HEADER: fills in length and CRC. */
  seal(): Buffer {
    const bodyLen = this.pos - FRAME_HEADER;
    this.buf.writeUInt32LE(bodyLen, 0);
    this.buf.writeUInt32LE(crc32(this.buf.subarray(FRAME_HEADER, this.pos)), 4);
    return this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos);
  }
}

/** Sequential reader; throws RangeError on overrun, which callers treat as a bad frame. */
export class In {
  private readonly buf: Buffer;
  pos: number;
  private readonly end: number;

  constructor(buf: Buffer, start: number, end: number) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  private need(n: number): void {
    if (this.pos + n > this.end) throw new RangeError("frame overrun");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
  str(): string {
    const n = this.u32();
    this.need(n);
    const s = this.buf.toString("utf8", this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  /** A copy, so the decoded value does not pin the whole file buffer. */
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const b = new Uint8Array(n);
    b.set(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }
  done(): boolean {
    return this.pos === this.end;
  }
}

export function encodeWrite(
  lsn: number,
  rev: number,
  ops: readonly WalOp[],
  revokes: readonly string[],
): Buffer {
  let size = FRAME_HEADER + 1 + 8 + 8 + 4 + 4;
  const keyLens = new Array<number>(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const kl = Buffer.byteLength(op.key);
    keyLens[i] = kl;
    size += 1 + 4 + kl;
    if (op.kind === "put") size += 4 + op.value.byteLength + 4 + (op.lease?.length ?? 0);
  }
  for (const id of revokes) size += 4 + id.length;
  const out = new Out(size);
  out.pos = FRAME_HEADER;
  out.u8(REC_WRITE);
  out.f64(lsn);
  out.f64(rev);
  out.u32(ops.length);
  out.u32(revokes.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    out.u8(op.kind === "put" ? OP_PUT : OP_DEL);
    out.str(op.key, keyLens[i]!);
    if (op.kind === "put") {
      out.bytes(op.value);
      const lease = op.lease ?? "";
      out.str(lease, lease.length);
    }
  }
  for (const id of revokes) out.str(id, id.length);
  return out.seal();
}

export function encodeGrant(lsn: number, id: string, ttl: number): Buffer {
  const out = new Out(FRAME_HEADER + 1 + 8 + 4 + id.length + 8);
  out.pos = FRAME_HEADER;
  out.u8(REC_GRANT);
  out.f64(lsn);
  out.str(id, id.length);
  out.f64(ttl);
  return out.seal();
}

/** Parses one WAL body; throws (RangeError or Error) when it is malformed. */
export function decodeWalBody(r: In): WalRecord {
  const type = r.u8();
  if (type === REC_WRITE) {
    const lsn = r.f64();
    const rev = r.f64();
    const nOps = r.u32();
    const nRevokes = r.u32();
    const ops: WalOp[] = [];
    for (let i = 0; i < nOps; i++) {
      const kind = r.u8();
      const key = r.str();
      if (kind === OP_PUT) {
        const value = r.bytes();
        const lease = r.str();
        ops.push({ kind: "put", key, value, lease: lease === "" ? undefined : lease });
      } else if (kind === OP_DEL) {
        ops.push({ kind: "del", key });
      } else {
        throw new Error(`unknown op kind ${kind}`);
      }
    }
    const revokes: string[] = [];
    for (let i = 0; i < nRevokes; i++) revokes.push(r.str());
    if (!r.done()) throw new Error("trailing bytes in write record");
    return { type: "write", lsn, rev, ops, revokes };
  }
  if (type === REC_GRANT) {
    const lsn = r.f64();
    const id = r.str();
    const ttl = r.f64();
    if (!r.done()) throw new Error("trailing bytes in grant record");
    return { type: "grant", lsn, id, ttl };
  }
  throw new Error(`unknown record type ${type}`);
}

/**
 * Locates the next frame at `pos`. Returns the body bounds, or undefined when the bytes there
 * are not a complete, CRC-valid frame.
 */
export function nextFrame(buf: Buffer, pos: number): { start: number; end: number } | undefined {
  if (pos + FRAME_HEADER > buf.length) return undefined;
  const len = buf.readUInt32LE(pos);
  // A zero length would CRC-match zero-filled space left by a crash mid-extend.
  if (len === 0 || len > MAX_BODY) return undefined;
  const start = pos + FRAME_HEADER;
  const end = start + len;
  if (end > buf.length) return undefined;
  if (crc32(buf.subarray(start, end)) !== buf.readUInt32LE(pos + 4)) return undefined;
  return { start, end };
}

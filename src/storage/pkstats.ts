/**
 * Primary-key statistics of a set of rows (one sync of one segment): min/max primary key and a
 * bloom filter, so a delete can be routed only to segments that may hold its key.
 *
 * Bloom filter: m bits (a multiple of 64) and k hash functions sized from the expected row count n
 * and the target false-positive rate p: m = ceil(-n ln p / ln² 2), k = round(m/n · ln 2), 1 ≤ k ≤ 30.
 * Bit positions use double hashing, g_i = (h1 + i·h2) mod m for i in [0, k), where
 *   h1 = murmur3_x86_32(key, 0x9747b28c), h2 = murmur3_x86_32(key, 0x5bd1e995) | 1,
 * and key is the 8 little-endian bytes of an Int64 key or the UTF-8 bytes of a VarChar key.
 * Deterministic: no Math.random, so every process computes the same bits.
 *
 * VarChar min/max use JavaScript string order (UTF-16 code units).
 *
 * Encoding (little-endian):
 *   0   4  magic "SPKS"
 *   4   1  version (1)
 *   5   1  pk type (Milvus code: 5 Int64, 21 VarChar)
 *   6   1  k
 *   7   1  flags (bit 0: min/max present, i.e. at least one key was added)
 *   8   8  rows added (u64, at most 2^53-1)
 *   16  4  m, the number of bits (u32, a multiple of 64)
 *   20  …  if flag 0: min then max; Int64 as i64, VarChar as u32 byte length + UTF-8 bytes
 *   …   m/8 bytes of bits (bit i = byte i>>3, mask 1<<(i&7))
 *   end 4  CRC32 (zlib polynomial) of every preceding byte
 */
import { crc32 } from "node:zlib";
import { StrataError } from "../common/errors.ts";
import { DataType } from "../common/types.ts";

export type PrimaryKey = bigint | string;
export type PkStatsType = typeof DataType.Int64 | typeof DataType.VarChar;

const MAGIC = [0x53, 0x50, 0x4b, 0x53]; // "SPKS"
const VERSION = 1;
const HEADER_BYTES = 20;
const SEED1 = 0x9747b28c;
const SEED2 = 0x5bd1e995;
const MAX_K = 30;
const MAX_BITS = 0xffffffc0; // largest multiple of 64 that fits a u32
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function invalid(msg: string): StrataError {
  return new StrataError("ParameterInvalid", msg);
}

function corrupted(msg: string): StrataError {
  return new StrataError("Corrupted", `pk stats: ${msg}`);
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function mixK(h: number, k: number): number {
  let v = Math.imul(k, 0xcc9e2d51);
  v = rotl(v, 15);
  v = Math.imul(v, 0x1b873593);
  const x = rotl(h ^ v, 13);
  return (Math.imul(x, 5) + 0xe6546b64) | 0;
}

function fmix(h: number, len: number): number {
  let x = h ^ len;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** murmur3_x86_32 of the 8 bytes whose little-endian u32 halves are lo, hi. */
function murmurWords(lo: number, hi: number, seed: number): number {
  return fmix(mixK(mixK(seed | 0, lo), hi), 8);
}

/** murmur3_x86_32 of bytes[0, len). */
function murmurBytes(b: Uint8Array, len: number, seed: number): number {
  let h = seed | 0;
  const blocks = len & ~3;
  for (let i = 0; i < blocks; i += 4) {
    h = mixK(
      h,
      (b[i] as number) |
        ((b[i + 1] as number) << 8) |
        ((b[i + 2] as number) << 16) |
        ((b[i + 3] as number) << 24),
    );
  }
  const tail = len & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= (b[blocks + 2] as number) << 16;
    if (tail >= 2) k ^= (b[blocks + 1] as number) << 8;
    k ^= b[blocks] as number;
    let v = Math.imul(k, 0xcc9e2d51);
    v = rotl(v, 15);
    v = Math.imul(v, 0x1b873593);
    h ^= v;
  }
  return fmix(h, len);
}

/** murmur3_x86_32 of `bytes` (exported for tests and for other readers of the format). */
export function murmur3x86_32(bytes: Uint8Array, seed: number): number {
  return murmurBytes(bytes, bytes.byteLength, seed);
}

/** The hash of an Int64 key: murmur3_x86_32 of its 8 little-endian bytes. */
export function murmur3Int64(pk: bigint, seed: number): number {
  const lo = Number(BigInt.asUintN(32, pk));
  const hi = Number(BigInt.asUintN(32, pk >> 32n));
  return murmurWords(lo, hi, seed);
}

/** Bloom size for `expectedRows` keys at false-positive rate `fpr`. */
export function bloomParams(expectedRows: number, fpr: number): { numBits: number; numHashes: number } {
  if (!Number.isSafeInteger(expectedRows) || expectedRows < 0) {
    throw invalid(`expectedRows must be a non-negative integer, got ${expectedRows}`);
  }
  if (!(fpr > 0 && fpr < 1)) throw invalid(`fpr must be in (0, 1), got ${fpr}`);
  const n = Math.max(expectedRows, 1);
  const raw = Math.ceil((-n * Math.log(fpr)) / (Math.LN2 * Math.LN2));
  const numBits = Math.min(MAX_BITS, Math.max(64, Math.ceil(raw / 64) * 64));
  const numHashes = Math.min(MAX_K, Math.max(1, Math.round((numBits / n) * Math.LN2)));
  return { numBits, numHashes };
}

export class PkStats {
  readonly pkType: PkStatsType;
  readonly numBits: number;
  readonly numHashes: number;
  private readonly bits: Uint8Array;
  private count = 0;
  private lo: PrimaryKey | undefined;
  private hi: PrimaryKey | undefined;
  // Per-instance scratch space for hashing (no shared module state).
  private readonly word = new DataView(new ArrayBuffer(8));
  private utf8 = new Uint8Array(64);
  private readonly encoder = new TextEncoder();

  private constructor(pkType: PkStatsType, numBits: number, numHashes: number, bits?: Uint8Array) {
    this.pkType = pkType;
    this.numBits = numBits;
    this.numHashes = numHashes;
    this.bits = bits ?? new Uint8Array(numBits / 8);
  }

  /**
   * Empty statistics sized for about `expectedRows` keys at false-positive rate `fpr` (default 1%).
   * Adding more keys than expected keeps it correct (no false negatives) but raises the FPR.
   * @throws StrataError ParameterInvalid for a bad type, count or rate.
   */
  static create(pkType: PkStatsType, expectedRows: number, fpr = 0.01): PkStats {
    if (pkType !== DataType.Int64 && pkType !== DataType.VarChar) {
      throw invalid(`pk stats need an Int64 or VarChar key, got type ${String(pkType)}`);
    }
    const { numBits, numHashes } = bloomParams(expectedRows, fpr);
    return new PkStats(pkType, numBits, numHashes);
  }

  /** Statistics of exactly these keys, sized for them. */
  static fromKeys(pks: BigInt64Array | readonly string[], fpr = 0.01): PkStats {
    const s = PkStats.create(
      pks instanceof BigInt64Array ? DataType.Int64 : DataType.VarChar,
      pks.length,
      fpr,
    );
    s.addAll(pks);
    return s;
  }

  /** Keys added (a key added twice counts twice). */
  get rows(): number {
    return this.count;
  }

  /** Smallest key added; undefined while empty. */
  get min(): PrimaryKey | undefined {
    return this.lo;
  }

  /** Largest key added; undefined while empty. */
  get max(): PrimaryKey | undefined {
    return this.hi;
  }

  /** @throws StrataError ParameterInvalid for a key of the other type (or an Int64 key out of range). */
  add(pk: PrimaryKey): void {
    this.checkKey(pk);
    this.addUnchecked(pk);
  }

  /** Adds every key of a column (Int64 keys for an Int64 stats, strings for VarChar). */
  addAll(pks: BigInt64Array | readonly string[]): void {
    if (this.pkType === DataType.Int64) {
      if (!(pks instanceof BigInt64Array)) throw invalid("Int64 pk stats take a BigInt64Array");
      const view = new DataView(pks.buffer, pks.byteOffset, pks.byteLength);
      for (let i = 0; i < pks.length; i++) {
        this.setBits(view.getUint32(i * 8, true), view.getUint32(i * 8 + 4, true));
        this.track(pks[i] as bigint);
      }
    } else {
      if (pks instanceof BigInt64Array || !Array.isArray(pks)) throw invalid("VarChar pk stats take strings");
      for (const pk of pks) {
        if (typeof pk !== "string") throw invalid("VarChar pk stats take strings");
        this.addUnchecked(pk);
      }
    }
  }

  /** False only if `pk` was certainly never added; true may be a false positive. */
  mayContain(pk: PrimaryKey): boolean {
    if (this.lo === undefined || this.hi === undefined) return false;
    if (typeof pk !== typeof this.lo) return false;
    if (pk < this.lo || pk > this.hi) return false;
    const [h1, h2] = this.hashes(pk);
    const m = this.numBits;
    for (let i = 0; i < this.numHashes; i++) {
      const bit = (h1 + i * h2) % m;
      if (((this.bits[bit >>> 3] as number) & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }

  /**
   * Adds every key of `other` into this one. Both must have the same key type and bloom size.
   * @throws StrataError ParameterInvalid otherwise (nothing changes).
   */
  merge(other: PkStats): void {
    if (
      other.pkType !== this.pkType ||
      other.numBits !== this.numBits ||
      other.numHashes !== this.numHashes
    ) {
      throw invalid(
        `cannot merge pk stats of type ${other.pkType} with ${other.numBits} bits/${other.numHashes} hashes into type ${this.pkType} with ${this.numBits}/${this.numHashes}`,
      );
    }
    for (let i = 0; i < this.bits.length; i++)
      this.bits[i] = (this.bits[i] as number) | (other.bits[i] as number);
    this.count += other.count;
    if (other.lo !== undefined) this.extend(other.lo);
    if (other.hi !== undefined) this.extend(other.hi);
  }

  /** The binary encoding described at the top of this file. */
  encode(): Uint8Array {
    const hasRange = this.lo !== undefined && this.hi !== undefined;
    let rangeBytes = 0;
    let loBytes: Uint8Array | undefined;
    let hiBytes: Uint8Array | undefined;
    if (hasRange) {
      if (this.pkType === DataType.Int64) rangeBytes = 16;
      else {
        loBytes = this.encoder.encode(this.lo as string);
        hiBytes = this.encoder.encode(this.hi as string);
        rangeBytes = 8 + loBytes.byteLength + hiBytes.byteLength;
      }
    }
    const total = HEADER_BYTES + rangeBytes + this.bits.byteLength + 4;
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    out.set(MAGIC, 0);
    dv.setUint8(4, VERSION);
    dv.setUint8(5, this.pkType);
    dv.setUint8(6, this.numHashes);
    dv.setUint8(7, hasRange ? 1 : 0);
    dv.setBigUint64(8, BigInt(this.count), true);
    dv.setUint32(16, this.numBits, true);
    let at = HEADER_BYTES;
    if (hasRange) {
      if (loBytes === undefined || hiBytes === undefined) {
        dv.setBigInt64(at, this.lo as bigint, true);
        dv.setBigInt64(at + 8, this.hi as bigint, true);
        at += 16;
      } else {
        dv.setUint32(at, loBytes.byteLength, true);
        out.set(loBytes, at + 4);
        at += 4 + loBytes.byteLength;
        dv.setUint32(at, hiBytes.byteLength, true);
        out.set(hiBytes, at + 4);
        at += 4 + hiBytes.byteLength;
      }
    }
    out.set(this.bits, at);
    at += this.bits.byteLength;
    dv.setUint32(at, crc32(out.subarray(0, at)) >>> 0, true);
    return out;
  }

  /**
   * Decodes `encode()` output. The result does not share memory with `bytes`.
   * @throws StrataError Corrupted for anything malformed (checksum first).
   */
  static decode(bytes: Uint8Array): PkStats {
    if (!(bytes instanceof Uint8Array)) throw invalid("pk stats must be decoded from a Uint8Array");
    if (bytes.byteLength < HEADER_BYTES + 4) throw corrupted(`too short (${bytes.byteLength} bytes)`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = bytes.byteLength - 4;
    if (crc32(bytes.subarray(0, end)) >>> 0 !== dv.getUint32(end, true)) throw corrupted("checksum mismatch");
    for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw corrupted("bad magic");
    const version = dv.getUint8(4);
    if (version !== VERSION) throw corrupted(`unsupported version ${version}`);
    const pkType = dv.getUint8(5);
    if (pkType !== DataType.Int64 && pkType !== DataType.VarChar) throw corrupted(`bad pk type ${pkType}`);
    const numHashes = dv.getUint8(6);
    if (numHashes < 1 || numHashes > MAX_K) throw corrupted(`bad hash count ${numHashes}`);
    const flags = dv.getUint8(7);
    if (flags > 1) throw corrupted(`bad flags ${flags}`);
    const rows = dv.getBigUint64(8, true);
    if (rows > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupted("row count out of range");
    const numBits = dv.getUint32(16, true);
    if (numBits === 0 || numBits % 64 !== 0) throw corrupted(`bad bit count ${numBits}`);
    if ((flags === 1) !== rows > 0n) throw corrupted("min/max flag disagrees with the row count");
    let at = HEADER_BYTES;
    let lo: PrimaryKey | undefined;
    let hi: PrimaryKey | undefined;
    if (flags === 1) {
      if (pkType === DataType.Int64) {
        if (at + 16 > end) throw corrupted("truncated min/max");
        lo = dv.getBigInt64(at, true);
        hi = dv.getBigInt64(at + 8, true);
        at += 16;
      } else {
        const decoder = new TextDecoder("utf-8", { fatal: true });
        const readStr = (): string => {
          if (at + 4 > end) throw corrupted("truncated min/max");
          const n = dv.getUint32(at, true);
          if (at + 4 + n > end) throw corrupted("truncated min/max");
          let s: string;
          try {
            s = decoder.decode(bytes.subarray(at + 4, at + 4 + n));
          } catch {
            throw corrupted("min/max is not valid UTF-8");
          }
          at += 4 + n;
          return s;
        };
        lo = readStr();
        hi = readStr();
      }
      if (lo > hi) throw corrupted("min > max");
    }
    if (end - at !== numBits / 8) throw corrupted(`expected ${numBits / 8} bloom bytes, found ${end - at}`);
    const stats = new PkStats(pkType, numBits, numHashes, bytes.slice(at, end));
    stats.count = Number(rows);
    stats.lo = lo;
    stats.hi = hi;
    return stats;
  }

  private checkKey(pk: PrimaryKey): void {
    if (this.pkType === DataType.Int64) {
      if (typeof pk !== "bigint" || pk < INT64_MIN || pk > INT64_MAX) {
        throw invalid(
          `Int64 primary key expected, got ${typeof pk === "bigint" ? pk.toString() : typeof pk}`,
        );
      }
    } else if (typeof pk !== "string") {
      throw invalid(`VarChar primary key expected, got ${typeof pk}`);
    }
  }

  private addUnchecked(pk: PrimaryKey): void {
    const [h1, h2] = this.hashes(pk);
    const m = this.numBits;
    for (let i = 0; i < this.numHashes; i++) {
      const bit = (h1 + i * h2) % m;
      this.bits[bit >>> 3] = (this.bits[bit >>> 3] as number) | (1 << (bit & 7));
    }
    this.track(pk);
  }

  /** Sets the bits of an Int64 key given as little-endian halves (fast path for columns). */
  private setBits(lo: number, hi: number): void {
    const h1 = murmurWords(lo, hi, SEED1);
    const h2 = (murmurWords(lo, hi, SEED2) | 1) >>> 0;
    const m = this.numBits;
    for (let i = 0; i < this.numHashes; i++) {
      const bit = (h1 + i * h2) % m;
      this.bits[bit >>> 3] = (this.bits[bit >>> 3] as number) | (1 << (bit & 7));
    }
  }

  private track(pk: PrimaryKey): void {
    this.count++;
    this.extend(pk);
  }

  private extend(pk: PrimaryKey): void {
    if (this.lo === undefined || pk < this.lo) this.lo = pk;
    if (this.hi === undefined || pk > this.hi) this.hi = pk;
  }

  private hashes(pk: PrimaryKey): [number, number] {
    if (typeof pk === "bigint") {
      this.word.setBigInt64(0, BigInt.asIntN(64, pk), true);
      const lo = this.word.getUint32(0, true);
      const hi = this.word.getUint32(4, true);
      return [murmurWords(lo, hi, SEED1), (murmurWords(lo, hi, SEED2) | 1) >>> 0];
    }
    if (this.utf8.byteLength < pk.length * 3) this.utf8 = new Uint8Array(pk.length * 3);
    const len = this.encoder.encodeInto(pk, this.utf8).written;
    return [murmurBytes(this.utf8, len, SEED1), (murmurBytes(this.utf8, len, SEED2) | 1) >>> 0];
  }
}

import {
  closeSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import { StrataError } from "../common/errors.ts";
import { HnswIndex, type HnswOpenOptions, hnswConfig } from "./hnsw.ts";
import { parseTwoHopWidths, storedTwoHopWidths, type TwoHopWidths } from "./hnsw-calibrate.ts";
import { IvfIndex } from "./ivf.ts";
import { isMetricType, type MetricType } from "./metric.ts";
import {
  checkSpec,
  type IndexSpec,
  isVectorIndexType,
  type VectorIndex,
  type VectorIndexType,
} from "./vector-index.ts";

/**
 * Index files: `[payload][trailer]`, one self-describing, checksummed file per built index.
 *
 * The description sits at the END (a trailer, as Parquet's footer) rather than in a header
 * because the HNSW payload is usearch's own file, and usearch's `view()` memory-maps a file from
 * offset 0 (the binding takes only a path, no offset). With the payload first, the very file we
 * store and checksum is the one usearch maps; usearch only bounds-checks what it reads, so the
 * trailing bytes are ignored (tested). One file keeps object-store uploads, cache eviction and
 * renames atomic, where a separate manifest could drift from its data file.
 *
 * Trailer, little-endian:
 *   0  "STRATAIX"            8  u16 format version      10 u8 index type     11 u8 metric
 *   12 u32 dim (bits for binary)                        16 u64 rows
 *   24 u64 payload length    32 u32 CRC32 of the payload 36 u32 params length P
 *   40 params, UTF-8 JSON of the resolved build parameters (P bytes); from version 2 it may also
 *      hold "$props": what was measured on the built index (IndexProps), not a build parameter;
 *      today `{"twoHop": {"levels": [...], "widths": [...]}}` (hnsw-calibrate.ts)
 *   40+P u32 trailer length (= 56 + P)   44+P u32 CRC32 of trailer bytes [0, 44+P)   48+P "STRATAIX"
 *
 * Reading checks, in order: the closing magic and trailer length (a truncated file loses them),
 * the trailer CRC (before any field is trusted), the opening magic and version, that the file is
 * exactly payload + trailer long, then the payload CRC over every payload byte. Any failure is
 * StrataError("Corrupted"); nothing is handed to usearch before the whole file checked out, so a
 * damaged file can never crash the native code. A memory-mapped HNSW file is read once for that
 * check (which also warms the page cache the mapping then uses).
 */

const MAGIC = Buffer.from("STRATAIX", "latin1");
/** Written; version 1 files (no "$props") are still read. */
export const INDEX_FORMAT_VERSION = 2;
const PROPS_KEY = "$props";
const FIXED = 40;
const TAIL = 16;
const CHUNK = 8 << 20;

const TYPE_CODES: Record<VectorIndexType, number> = { HNSW: 1, HNSW_SQ: 2, IVF_FLAT: 3, IVF_SQ8: 4 };
const METRIC_CODES: Record<MetricType, number> = { L2: 1, IP: 2, COSINE: 3, HAMMING: 4, JACCARD: 5 };

/** What was measured on a built index, kept with it (version 2 trailers). */
export interface IndexProps {
  /** HNSW graphs the addon built: the two-hop walk's width factors (hnsw-calibrate.ts). */
  readonly twoHopWidths?: TwoHopWidths;
}

/** What an index file describes about itself. */
export interface IndexFileInfo {
  readonly spec: IndexSpec;
  readonly props: IndexProps;
  readonly count: number;
  readonly payloadLength: number;
  readonly payloadCrc: number;
  readonly fileLength: number;
}

function corrupted(what: string, msg: string): StrataError {
  return new StrataError("Corrupted", `index file ${what}: ${msg}`);
}

/** A running CRC32 that tolerates empty chunks (Node 20's crc32 resets on an empty view). */
function crcUpdate(crc: number, chunk: Uint8Array): number {
  return chunk.byteLength === 0 ? crc : crc32(chunk, crc) >>> 0;
}

export function encodeTrailer(
  spec: IndexSpec,
  count: number,
  payloadLength: number,
  payloadCrc: number,
  props: IndexProps = {},
): Uint8Array {
  const stored: Record<string, unknown> = { ...spec.params };
  if (props.twoHopWidths !== undefined) {
    stored[PROPS_KEY] = { twoHop: storedTwoHopWidths(props.twoHopWidths) };
  }
  const params = Buffer.from(JSON.stringify(stored), "utf8");
  const P = params.length;
  const out = Buffer.alloc(FIXED + P + TAIL);
  MAGIC.copy(out, 0);
  out.writeUInt16LE(INDEX_FORMAT_VERSION, 8);
  out.writeUInt8(TYPE_CODES[spec.type], 10);
  out.writeUInt8(METRIC_CODES[spec.metric], 11);
  out.writeUInt32LE(spec.dim, 12);
  out.writeBigUInt64LE(BigInt(count), 16);
  out.writeBigUInt64LE(BigInt(payloadLength), 24);
  out.writeUInt32LE(payloadCrc >>> 0, 32);
  out.writeUInt32LE(P, 36);
  params.copy(out, FIXED);
  out.writeUInt32LE(FIXED + P + TAIL, FIXED + P);
  out.writeUInt32LE(crc32(out.subarray(0, FIXED + P + 4)) >>> 0, FIXED + P + 4);
  MAGIC.copy(out, FIXED + P + 8);
  return out;
}

/** The trailer length from a file's last 16 bytes. */
function trailerLength(tail: Buffer, fileLength: number, what: string): number {
  if (tail.length < TAIL || !tail.subarray(8, 16).equals(MAGIC)) {
    throw corrupted(what, "no index trailer at the end (truncated or not an index file)");
  }
  const len = tail.readUInt32LE(0);
  if (len < FIXED + TAIL || len > fileLength) throw corrupted(what, `trailer length ${len} out of range`);
  return len;
}

/** Parses and checks a complete trailer (everything but the payload CRC). */
function parseTrailer(t: Buffer, fileLength: number, what: string): IndexFileInfo {
  const P = t.length - FIXED - TAIL;
  if (crc32(t.subarray(0, FIXED + P + 4)) >>> 0 !== t.readUInt32LE(FIXED + P + 4)) {
    throw corrupted(what, "trailer checksum mismatch");
  }
  if (!t.subarray(0, 8).equals(MAGIC)) throw corrupted(what, "bad trailer magic");
  const version = t.readUInt16LE(8);
  if (version < 1 || version > INDEX_FORMAT_VERSION) {
    throw new StrataError(
      "Unimplemented",
      `index file ${what}: format version ${version}; this build reads 1 to ${INDEX_FORMAT_VERSION}`,
    );
  }
  const typeCode = t.readUInt8(10);
  const metricCode = t.readUInt8(11);
  const type = (Object.keys(TYPE_CODES) as VectorIndexType[]).find((k) => TYPE_CODES[k] === typeCode);
  const metric = (Object.keys(METRIC_CODES) as MetricType[]).find((k) => METRIC_CODES[k] === metricCode);
  if (type === undefined || !isVectorIndexType(type))
    throw corrupted(what, `unknown index type code ${typeCode}`);
  if (metric === undefined || !isMetricType(metric))
    throw corrupted(what, `unknown metric code ${metricCode}`);
  const dim = t.readUInt32LE(12);
  const count = Number(t.readBigUInt64LE(16));
  const payloadLength = Number(t.readBigUInt64LE(24));
  const payloadCrc = t.readUInt32LE(32);
  if (t.readUInt32LE(36) !== P) throw corrupted(what, "params length does not match the trailer length");
  let params: unknown;
  try {
    params = JSON.parse(t.subarray(FIXED, FIXED + P).toString("utf8"));
  } catch {
    throw corrupted(what, "params are not JSON");
  }
  if (typeof params !== "object" || params === null || Array.isArray(params))
    throw corrupted(what, "params are not an object");
  if (payloadLength + t.length !== fileLength) {
    throw corrupted(what, `length ${fileLength} is not payload ${payloadLength} + trailer ${t.length}`);
  }
  const { [PROPS_KEY]: rawProps, ...buildParams } = params as Record<string, unknown>;
  const props = readProps(rawProps, version, what);
  const spec: IndexSpec = { type, metric, dim, params: buildParams as Record<string, number | string> };
  try {
    checkSpec(spec);
  } catch (e) {
    throw corrupted(what, e instanceof Error ? e.message : String(e));
  }
  return { spec, props, count, payloadLength, payloadCrc, fileLength };
}

function readProps(raw: unknown, version: number, what: string): IndexProps {
  if (raw === undefined) return {};
  if (version < 2 || typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw corrupted(what, `bad ${PROPS_KEY}`);
  const twoHop = (raw as { twoHop?: unknown }).twoHop;
  if (twoHop === undefined) return {};
  const parsed = parseTwoHopWidths(twoHop);
  if (parsed === undefined) throw corrupted(what, "bad twoHop widths");
  return parsed.widths === undefined ? {} : { twoHopWidths: parsed.widths };
}

/** Checks a whole index file held in memory; returns its description. Throws Corrupted. */
export function verifyIndexBytes(bytes: Uint8Array, what = "(bytes)"): IndexFileInfo {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = trailerLength(b.subarray(Math.max(0, b.length - TAIL)), b.length, what);
  const info = parseTrailer(b.subarray(b.length - len), b.length, what);
  if (crcUpdate(0, b.subarray(0, info.payloadLength)) !== info.payloadCrc)
    throw corrupted(what, "payload checksum mismatch");
  return info;
}

/** Checks an index file on disk, streaming its payload through the CRC. Throws Corrupted / IoFailed. */
export async function verifyIndexFile(path: string): Promise<IndexFileInfo> {
  return (await readVerified(path, false)).info;
}

/** Reads and checks a file; with `keep`, returns the payload bytes too (else streams them). */
async function readVerified(
  path: string,
  keep: boolean,
): Promise<{ info: IndexFileInfo; payload: Uint8Array | undefined }> {
  const fh = await openForRead(path);
  try {
    const info = await trailerOf(fh, path);
    const payload = keep ? new Uint8Array(info.payloadLength) : undefined;
    const scratch = payload ?? Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, info.payloadLength)));
    let crc = 0;
    for (let pos = 0; pos < info.payloadLength; ) {
      const at = payload === undefined ? 0 : pos;
      const want = Math.min(payload === undefined ? scratch.length : CHUNK, info.payloadLength - pos);
      const { bytesRead } = await fh.read(scratch, at, want, pos);
      if (bytesRead === 0) throw corrupted(path, "file shrank while being read");
      crc = crcUpdate(crc, scratch.subarray(at, at + bytesRead));
      pos += bytesRead;
    }
    if (crc !== info.payloadCrc) throw corrupted(path, "payload checksum mismatch");
    return { info, payload };
  } finally {
    await fh.close();
  }
}

type FileHandle = Awaited<ReturnType<typeof open>>;

async function openForRead(path: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (e) {
    throw ioError(e, `cannot open index file ${path}`);
  }
}

async function trailerOf(fh: FileHandle, path: string): Promise<IndexFileInfo> {
  const size = (await fh.stat()).size;
  const tail = Buffer.alloc(Math.min(TAIL, size));
  await fh.read(tail, 0, tail.length, size - tail.length);
  const len = trailerLength(tail, size, path);
  const t = Buffer.alloc(len);
  await fh.read(t, 0, len, size - len);
  return parseTrailer(t, size, path);
}

function ioError(e: unknown, msg: string): StrataError {
  if (e instanceof StrataError) return e;
  const code = (e as { code?: unknown }).code;
  return new StrataError(
    code === "ENOENT" ? "KeyNotFound" : "IoFailed",
    `${msg}: ${e instanceof Error ? e.message : String(e)}`,
    {
      cause: e,
    },
  );
}

/** An index this module can persist. */
export type PersistableIndex = HnswIndex | IvfIndex;

function specOf(index: PersistableIndex): IndexSpec {
  return index.spec();
}

function propsOf(index: PersistableIndex): IndexProps {
  return index instanceof HnswIndex && index.twoHopWidths !== undefined
    ? { twoHopWidths: index.twoHopWidths }
    : {};
}

function fileCrc(fd: number, length: number): number {
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, length)));
  let crc = 0;
  for (let pos = 0; pos < length; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, length - pos), pos);
    if (n === 0) throw new StrataError("IoFailed", "short read while checksumming an index file");
    crc = crcUpdate(crc, buf.subarray(0, n));
    pos += n;
  }
  return crc;
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  for (let off = 0; off < data.byteLength; ) {
    off += writeSync(fd, data, off, data.byteLength - off, position + off);
  }
}

/**
 * Writes `index` to `path` atomically (temp file in the same directory, fsync, rename). Synchronous:
 * saving an HNSW graph blocks for a fraction of a second per 100k vectors, so call it where blocking
 * is fine (the build worker does). Throws IoFailed.
 */
export function writeIndexFileSync(path: string, index: PersistableIndex): IndexFileInfo {
  const spec = specOf(index);
  const props = propsOf(index);
  const tmp = join(
    dirname(path),
    `.${Date.now().toString(36)}-${process.pid}-${Math.random().toString(36).slice(2)}.idx-tmp`,
  );
  try {
    let payloadLength: number;
    let payloadCrc: number;
    let fd: number;
    if (index instanceof HnswIndex) {
      index.save(tmp);
      payloadLength = statSync(tmp).size;
      fd = openSync(tmp, "r+");
      payloadCrc = fileCrc(fd, payloadLength);
    } else {
      const payload = index.toPayload();
      payloadLength = payload.byteLength;
      payloadCrc = crcUpdate(0, payload);
      fd = openSync(tmp, "w");
      writeAll(fd, payload, 0);
    }
    const trailer = encodeTrailer(spec, index.count, payloadLength, payloadCrc, props);
    try {
      writeAll(fd, trailer, payloadLength);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    syncDir(dirname(path));
    return {
      spec,
      props,
      count: index.count,
      payloadLength,
      payloadCrc,
      fileLength: payloadLength + trailer.length,
    };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw ioError(e, `cannot write index file ${path}`);
  }
}

/** Makes a rename durable; some filesystems refuse to fsync a directory, which is not an error here. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface TempDirOption {
  /** Where HNSW round trips through a file (usearch saves and loads only by path). Default os.tmpdir(). */
  readonly tmpDir?: string;
}

function withTempDir<T>(opts: TempDirOption, fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(opts.tmpDir ?? tmpdir(), "strata-idx-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The complete index file as bytes (for object storage or a worker reply). */
export function indexToBytes(index: PersistableIndex, opts: TempDirOption = {}): Uint8Array {
  if (!(index instanceof HnswIndex)) {
    const payload = index.toPayload();
    const trailer = encodeTrailer(specOf(index), index.count, payload.byteLength, crcUpdate(0, payload));
    const out = new Uint8Array(payload.byteLength + trailer.byteLength);
    out.set(payload, 0);
    out.set(trailer, payload.byteLength);
    return out;
  }
  // The trailer's length does not depend on the checksum it carries, so the file is put together
  // in one buffer: payload, then the trailer once the payload's checksum is known.
  const spec = specOf(index);
  const props = propsOf(index);
  const room = encodeTrailer(spec, index.count, 0, 0, props).byteLength;
  const inMemory = index.payloadWithRoom(room);
  if (inMemory !== undefined) {
    const { buffer, payloadLength } = inMemory;
    const crc = crcUpdate(0, buffer.subarray(0, payloadLength));
    const trailer = encodeTrailer(spec, index.count, payloadLength, crc, props);
    if (trailer.byteLength !== room) throw new StrataError("ServiceInternal", "index trailer length changed");
    buffer.set(trailer, payloadLength);
    return buffer;
  }
  return withTempDir(opts, (dir) => {
    const path = join(dir, "index");
    writeIndexFileSync(path, index);
    const size = statSync(path).size;
    const out = new Uint8Array(size);
    const fd = openSync(path, "r");
    try {
      for (let pos = 0; pos < size; ) pos += readSync(fd, out, pos, size - pos, pos);
    } finally {
      closeSync(fd);
    }
    return out;
  });
}

export interface OpenIndexOptions extends TempDirOption {
  /**
   * HNSW only: `view` (default) memory-maps the file, which must then stay in place until the index
   * is closed; `load` reads it into memory. IVF files are always read into memory.
   */
  readonly mode?: "view" | "load";
  /**
   * Options for HNSW indexes (raw vectors for exact filtered scans, search threads). A
   * `twoHopWidths` key given here, even as undefined, replaces the widths the file carries.
   */
  readonly hnsw?: HnswOpenOptions;
}

function fromVerified(
  info: IndexFileInfo,
  path: string | undefined,
  payload: () => Uint8Array,
  opts: OpenIndexOptions,
): VectorIndex {
  const { spec, count } = info;
  if (spec.type === "HNSW" || spec.type === "HNSW_SQ") {
    let cfg: ReturnType<typeof hnswConfig>;
    try {
      cfg = hnswConfig(spec);
    } catch (e) {
      throw corrupted(path ?? "(bytes)", e instanceof Error ? e.message : String(e));
    }
    const hnsw: HnswOpenOptions = { twoHopWidths: info.props.twoHopWidths, ...opts.hnsw };
    if (path !== undefined)
      return HnswIndex.open(path, spec, cfg, count, opts.mode ?? "view", info.fileLength, hnsw);
    const inMemory = HnswIndex.openBytes(payload(), spec, cfg, count, hnsw);
    if (inMemory !== undefined) return inMemory;
    return withTempDir(opts, (dir) => {
      const p = join(dir, "index.usearch");
      const fd = openSync(p, "w");
      try {
        writeAll(fd, payload(), 0);
      } finally {
        closeSync(fd);
      }
      return HnswIndex.open(p, spec, cfg, count, "load", info.fileLength, hnsw);
    });
  }
  return IvfIndex.fromPayload(spec, count, payload());
}

/**
 * Verifies an index file and opens it: HNSW files are checksummed by streaming and then mapped or
 * loaded by usearch; IVF files are read once into memory and checksummed there. Throws Corrupted,
 * KeyNotFound (no such file) or IoFailed.
 */
export async function openIndexFile(path: string, opts: OpenIndexOptions = {}): Promise<VectorIndex> {
  const tail = await readVerifiedTrailer(path);
  const hnsw = tail.spec.type === "HNSW" || tail.spec.type === "HNSW_SQ";
  const { info, payload } = await readVerified(path, !hnsw);
  return fromVerified(info, hnsw ? path : undefined, () => payload ?? new Uint8Array(0), opts);
}

/** The trailer alone (checked by its own CRC), to decide how to read the rest. */
async function readVerifiedTrailer(path: string): Promise<IndexFileInfo> {
  const fh = await openForRead(path);
  try {
    return await trailerOf(fh, path);
  } finally {
    await fh.close();
  }
}

/**
 * Verifies index file bytes and builds the index in memory. An HNSW payload is copied into the
 * hnsw-filter addon when it serves the index, else it goes through a temporary file (the usearch
 * binding loads only by path), which is deleted before this returns.
 */
export function loadIndexBytes(bytes: Uint8Array, opts: OpenIndexOptions = {}): VectorIndex {
  const info = verifyIndexBytes(bytes);
  return fromVerified(info, undefined, () => bytes.subarray(0, info.payloadLength), opts);
}

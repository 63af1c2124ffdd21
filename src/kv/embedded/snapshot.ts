/**
 * The snapshot file: the whole state at one log position, written to a temp file, fsynced and
 * renamed into place, so it is either the old snapshot or the new one, never a mix.
 *
 * Layout: 8-byte magic, then frames (records.ts): META, one LEASE per lease, one KV per key in
 * key order, END. Anything short of a complete, CRC-valid sequence is corruption, not a torn
 * tail: the rename only happens after the fsync.
 */
import { open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../common/errors.ts";
import { fsyncDir, writeFully } from "../../common/fs.ts";
import { compareKeys } from "../validate.ts";
import { FRAME_HEADER, In, nextFrame, Out, SNAP_END, SNAP_KV, SNAP_LEASE, SNAP_META } from "./records.ts";
import { type Entry, KvState } from "./state.ts";

const MAGIC = Buffer.from("SKVSNP01", "latin1");
export const SNAPSHOT_FILE = "snapshot";
export const SNAPSHOT_TMP = "snapshot.tmp";
/** Frames are gathered into chunks of about this size per write call. */
const CHUNK = 1 << 20;

export interface SnapshotImage {
  /** Log sequence number of the last record the image includes. */
  readonly lsn: number;
  /** First WAL generation the image does not fully cover. */
  readonly walGen: number;
  readonly revision: number;
  readonly nextLeaseId: number;
  readonly leases: readonly (readonly [string, number])[];
  /** Sorted keys and the entries they map to, captured at `lsn`. */
  readonly keys: readonly string[];
  readonly map: ReadonlyMap<string, Entry>;
}

export interface LoadedSnapshot {
  readonly lsn: number;
  readonly walGen: number;
  readonly state: KvState;
}

function metaFrame(img: SnapshotImage): Buffer {
  const out = new Out(FRAME_HEADER + 1 + 8 * 4 + 4 * 3);
  out.pos = FRAME_HEADER;
  out.u8(SNAP_META);
  out.f64(img.lsn);
  out.f64(img.revision);
  out.f64(img.nextLeaseId);
  out.f64(img.walGen);
  out.u32(img.leases.length);
  out.u32(img.keys.length);
  out.u32(0);
  return out.seal();
}

function leaseFrame(id: string, ttl: number): Buffer {
  const out = new Out(FRAME_HEADER + 1 + 4 + id.length + 8);
  out.pos = FRAME_HEADER;
  out.u8(SNAP_LEASE);
  out.str(id, id.length);
  out.f64(ttl);
  return out.seal();
}

function kvFrame(key: string, e: Entry): Buffer {
  const kl = Buffer.byteLength(key);
  const lease = e.lease ?? "";
  const out = new Out(FRAME_HEADER + 1 + 4 + kl + 4 + e.value.byteLength + 8 * 3 + 4 + lease.length);
  out.pos = FRAME_HEADER;
  out.u8(SNAP_KV);
  out.str(key, kl);
  out.bytes(e.value);
  out.f64(e.createRevision);
  out.f64(e.modRevision);
  out.f64(e.version);
  out.str(lease, lease.length);
  return out.seal();
}

function endFrame(): Buffer {
  const out = new Out(FRAME_HEADER + 1);
  out.pos = FRAME_HEADER;
  out.u8(SNAP_END);
  return out.seal();
}

/** Writes the image durably and atomically replaces the current snapshot. */
export async function writeSnapshot(dir: string, img: SnapshotImage): Promise<void> {
  const tmp = join(dir, SNAPSHOT_TMP);
  const fh = await open(tmp, "w");
  let pos = 0;
  let chunk: Buffer[] = [];
  let chunkBytes = 0;
  const flush = async (): Promise<void> => {
    const buf = Buffer.concat(chunk, chunkBytes);
    chunk = [];
    chunkBytes = 0;
    await writeFully(fh, buf, pos);
    pos += buf.length;
  };
  const add = async (b: Buffer): Promise<void> => {
    chunk.push(b);
    chunkBytes += b.length;
    if (chunkBytes >= CHUNK) await flush();
  };
  try {
    await add(MAGIC);
    await add(metaFrame(img));
    for (const [id, ttl] of img.leases) await add(leaseFrame(id, ttl));
    for (const key of img.keys) await add(kvFrame(key, img.map.get(key)!));
    await add(endFrame());
    await flush();
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await rename(tmp, join(dir, SNAPSHOT_FILE));
  await fsyncDir(dir);
}

function corrupt(file: string, why: string): StrataError {
  return new StrataError("Corrupted", `meta snapshot ${file} is damaged: ${why}`);
}

/** Reads the snapshot into a fresh state (leases with a fresh TTL from `now`); undefined when absent. */
export async function readSnapshot(dir: string, now: number): Promise<LoadedSnapshot | undefined> {
  const file = join(dir, SNAPSHOT_FILE);
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new StrataError("IoFailed", `reading ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC))
    throw corrupt(file, "bad magic");
  let pos = MAGIC.length;
  const frame = (): In => {
    const f = nextFrame(buf, pos);
    if (f === undefined) throw corrupt(file, `bad frame at byte ${pos}`);
    pos = f.end;
    return new In(buf, f.start, f.end);
  };
  try {
    const meta = frame();
    if (meta.u8() !== SNAP_META) throw corrupt(file, "first frame is not META");
    const lsn = meta.f64();
    const state = new KvState();
    state.revision = meta.f64();
    state.nextLeaseId = meta.f64();
    const walGen = meta.f64();
    const nLeases = meta.u32();
    const nKeys = meta.u32();
    for (let i = 0; i < nLeases; i++) {
      const r = frame();
      if (r.u8() !== SNAP_LEASE) throw corrupt(file, "expected a LEASE frame");
      const id = r.str();
      state.grant(id, r.f64(), now);
    }
    const keys = new Array<string>(nKeys);
    for (let i = 0; i < nKeys; i++) {
      const r = frame();
      if (r.u8() !== SNAP_KV) throw corrupt(file, "expected a KV frame");
      const key = r.str();
      const value = r.bytes();
      const createRevision = r.f64();
      const modRevision = r.f64();
      const version = r.f64();
      const leaseStr = r.str();
      const lease = leaseStr === "" ? undefined : leaseStr;
      if (i > 0 && compareKeys(keys[i - 1]!, key) >= 0) throw corrupt(file, "keys out of order");
      keys[i] = key;
      state.map.set(key, { value, createRevision, modRevision, version, lease });
      if (lease !== undefined) {
        const l = state.leases.get(lease);
        if (l === undefined) throw corrupt(file, `key ${key} names unknown lease ${lease}`);
        l.keys.add(key);
      }
    }
    if (state.map.size !== nKeys) throw corrupt(file, "duplicate keys");
    state.sorted = keys;
    const end = frame();
    if (end.u8() !== SNAP_END || pos !== buf.length) throw corrupt(file, "missing END frame");
    return { lsn, walGen, state };
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw corrupt(file, (e as Error).message);
  }
}

/**
 * Durable named consumer checkpoints of one channel, kept in `checkpoints.json` in the channel
 * directory and replaced atomically (temp file, fsync, rename, fsync dir). Concurrent saves share
 * one write. Retention reads only the persisted values, so a checkpoint that never reached disk can
 * never have released data.
 */
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { StrataError } from "../../common/errors.ts";
import { errnoOf as errno, fsyncDir } from "../../common/fs.ts";
import { ioError } from "./fsutil.ts";

const FILE = "checkpoints.json";
const TEMP = "checkpoints.json.tmp";

interface FileShape {
  v: 1;
  entries: [string, number][];
  crc: number;
}

function parse(text: string, path: string): Map<string, number> {
  const bad = (why: string): StrataError => new StrataError("Corrupted", `${path}: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad("not valid JSON");
  }
  if (typeof doc !== "object" || doc === null) throw bad("not an object");
  const { v, entries, crc } = doc as Partial<FileShape>;
  if (v !== 1 || !Array.isArray(entries) || typeof crc !== "number") throw bad("unexpected shape");
  if (crc32(JSON.stringify(entries)) !== crc) throw bad("checksum mismatch");
  const out = new Map<string, number>();
  for (const e of entries) {
    if (!Array.isArray(e) || typeof e[0] !== "string" || !Number.isSafeInteger(e[1])) throw bad("bad entry");
    out.set(e[0], e[1] as number);
  }
  return out;
}

export class CheckpointStore {
  private readonly dir: string;
  /** Latest values, including saves not yet on disk. */
  private readonly values: Map<string, number>;
  /** Values known to be on disk. */
  private persisted: Map<string, number>;
  private version = 0;
  private savedVersion = 0;
  private inflight: Promise<void> | undefined;

  private constructor(dir: string, values: Map<string, number>) {
    this.dir = dir;
    this.values = values;
    this.persisted = new Map(values);
  }

  static async load(dir: string): Promise<CheckpointStore> {
    const path = join(dir, FILE);
    let text: string | undefined;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      if (errno(e) !== "ENOENT") throw ioError(e, `reading ${path}`);
    }
    await rm(join(dir, TEMP), { force: true });
    return new CheckpointStore(dir, text === undefined ? new Map() : parse(text, path));
  }

  get(consumer: string): number | undefined {
    return this.values.get(consumer);
  }

  /** The lowest durable checkpoint, or undefined when none is saved. */
  persistedMin(): number | undefined {
    let min: number | undefined;
    for (const v of this.persisted.values()) if (min === undefined || v < min) min = v;
    return min;
  }

  /** Moves the checkpoint forward (a lower value is a no-op) and returns once it is durable. */
  async save(consumer: string, seq: number): Promise<void> {
    const cur = this.values.get(consumer);
    if (cur === undefined || seq > cur) {
      this.values.set(consumer, seq);
      this.version++;
    }
    await this.persist();
  }

  async delete(consumer: string): Promise<void> {
    if (this.values.delete(consumer)) this.version++;
    await this.persist();
  }

  /** Waits for every save issued so far to be durable (or to have failed). */
  async idle(): Promise<void> {
    await this.inflight?.catch(() => undefined);
  }

  private async persist(): Promise<void> {
    const target = this.version;
    while (this.savedVersion < target) {
      if (this.inflight !== undefined) {
        await this.inflight.catch(() => undefined);
        continue;
      }
      const version = this.version;
      const snapshot = new Map(this.values);
      const write = this.write(snapshot).then(() => {
        this.savedVersion = Math.max(this.savedVersion, version);
        this.persisted = snapshot;
      });
      this.inflight = write;
      try {
        await write;
      } finally {
        this.inflight = undefined;
      }
    }
  }

  private async write(values: Map<string, number>): Promise<void> {
    const entries = [...values].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const doc: FileShape = { v: 1, entries, crc: crc32(JSON.stringify(entries)) };
    const temp = join(this.dir, TEMP);
    try {
      await writeFile(temp, JSON.stringify(doc), { flush: true });
      await rename(temp, join(this.dir, FILE));
      await fsyncDir(this.dir);
    } catch (e) {
      throw ioError(e, `saving checkpoints in ${this.dir}`);
    }
  }
}

/**
 * WAL files: `wal-<generation>.log`, a 16-byte header (magic, generation, CRC of both) followed by
 * frames (records.ts). A new generation starts at each compaction; the snapshot names the first
 * generation it does not cover, so older files can be deleted.
 */
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { fsyncDir, writeFully } from "../../common/fs.ts";

const MAGIC = Buffer.from("SKVWAL01", "latin1");
export const WAL_HEADER = 16;

export function walName(gen: number): string {
  return `wal-${String(gen).padStart(10, "0")}.log`;
}

export function parseWalName(name: string): number | undefined {
  const m = /^wal-(\d{10})\.log$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

function encodeHeader(gen: number): Buffer {
  const b = Buffer.alloc(WAL_HEADER);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(gen, 8);
  b.writeUInt32LE(crc32(b.subarray(0, 12)), 12);
  return b;
}

export function headerValid(buf: Buffer, gen: number): boolean {
  return (
    buf.length >= WAL_HEADER &&
    buf.subarray(0, 8).equals(MAGIC) &&
    buf.readUInt32LE(8) === gen &&
    buf.readUInt32LE(12) === crc32(buf.subarray(0, 12))
  );
}

/** The WAL file currently appended to. Not concurrency-safe: one append at a time. */
export class WalFile {
  private constructor(
    private readonly fh: FileHandle,
    readonly gen: number,
    /** Bytes of valid data; the next append goes here. */
    public size: number,
  ) {}

  /** Creates a fresh generation, durable (file and directory entry) before it resolves. */
  static async create(dir: string, gen: number): Promise<WalFile> {
    const fh = await open(join(dir, walName(gen)), "w+");
    try {
      await writeFully(fh, encodeHeader(gen), 0);
      await fh.datasync();
      await fsyncDir(dir);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
    return new WalFile(fh, gen, WAL_HEADER);
  }

  /** Opens an existing generation for appending at `validSize`, cutting off anything after it. */
  static async reopen(dir: string, gen: number, validSize: number, fileSize: number): Promise<WalFile> {
    const fh = await open(join(dir, walName(gen)), "r+");
    try {
      if (fileSize !== validSize) {
        await fh.truncate(validSize);
        await fh.datasync();
      }
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
    return new WalFile(fh, gen, validSize);
  }

  /** Appends the frames and makes them durable. */
  async append(frames: readonly Buffer[]): Promise<void> {
    const buf = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
    await writeFully(this.fh, buf, this.size);
    await this.fh.datasync();
    this.size += buf.length;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/**
 * One segment file of a channel: the records from seq `base` on, with an in-memory offset index so a
 * read at any seq is one positioned read. Sealed segments found on open are indexed lazily, on their
 * first read, so opening a channel only scans its tail segment.
 */
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { readFully } from "../../common/fs.ts";
import type { Logger } from "../../common/log.ts";
import { ioError } from "./fsutil.ts";
import { scanSegment } from "./record.ts";

const NAME_RE = /^(\d{16})\.log$/;

export function segmentFileName(base: number): string {
  return `${String(base).padStart(16, "0")}.log`;
}

/** The base seq of a segment file name, or undefined for any other file. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = NAME_RE.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

export class Segment {
  readonly base: number;
  readonly path: string;
  /** Bytes that hold durable records (the write position for the tail). */
  size: number;
  /** Records indexed: seqs base .. base+count-1. */
  count: number;
  offsets: Float64Array;
  /** Last write time, for age-based retention. */
  mtimeMs: number;
  private fh: FileHandle | undefined;
  private indexing: Promise<void> | undefined;
  private indexed: boolean;
  private refs = 0;
  private retired = false;
  private closing: Promise<void> | undefined;

  constructor(
    dir: string,
    base: number,
    init: { fh?: FileHandle; size: number; indexed: boolean; mtimeMs: number },
  ) {
    this.base = base;
    this.path = join(dir, segmentFileName(base));
    this.fh = init.fh;
    this.size = init.size;
    this.indexed = init.indexed;
    this.count = 0;
    this.offsets = new Float64Array(init.indexed ? 1024 : 0);
    this.mtimeMs = init.mtimeMs;
  }

  get isRetired(): boolean {
    return this.retired;
  }

  handle(): FileHandle {
    if (this.fh === undefined) throw ioError(new Error("segment not open"), this.path);
    return this.fh;
  }

  setIndex(offsets: Float64Array, count: number): void {
    this.offsets = offsets;
    this.count = count;
    this.indexed = true;
  }

  /** Appends index entries for records just made durable at the given offsets. */
  appendIndex(starts: Float64Array, n: number): void {
    if (this.count + n > this.offsets.length) {
      let cap = Math.max(1024, this.offsets.length * 2);
      while (cap < this.count + n) cap *= 2;
      const bigger = new Float64Array(cap);
      bigger.set(this.offsets.subarray(0, this.count));
      this.offsets = bigger;
    }
    this.offsets.set(starts.subarray(0, n), this.count);
    this.count += n;
  }

  /**
   * Pins the segment for a read, opening and indexing it first if needed. Returns false when
   * retention removed it meanwhile (the caller looks the seq up again).
   */
  async acquire(expectCount: number, logger: Logger): Promise<boolean> {
    if (this.retired) return false;
    this.refs++;
    try {
      if (!this.indexed) {
        this.indexing ??= this.buildIndex(expectCount, logger);
        await this.indexing;
      }
    } catch (e) {
      this.release();
      this.indexing = undefined;
      throw e;
    }
    return true;
  }

  release(): void {
    this.refs--;
    if (this.refs === 0 && this.retired) void this.closeHandle();
  }

  /** Marks the segment gone; its file handle closes once no read holds it. */
  retire(): void {
    this.retired = true;
    if (this.refs === 0) void this.closeHandle();
  }

  closeHandle(): Promise<void> {
    this.closing ??= (async () => {
      const fh = this.fh;
      this.fh = undefined;
      await fh?.close().catch(() => undefined);
    })();
    return this.closing;
  }

  private async buildIndex(expectCount: number, logger: Logger): Promise<void> {
    try {
      this.fh ??= await open(this.path, "r");
      const st = await this.fh.stat();
      const image = await readFully(this.fh, st.size, 0);
      const scan = scanSegment(image, this.base, "sealed", expectCount);
      if (scan.damaged > 0) {
        logger.error({ segment: this.path, damaged: scan.damaged }, "sealed segment has damaged records");
      }
      this.size = scan.end;
      this.setIndex(scan.offsets, scan.count);
    } catch (e) {
      throw ioError(e, `indexing ${this.path}`);
    }
  }
}

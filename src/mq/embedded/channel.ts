/**
 * One channel of the embedded log: a directory of segment files plus its checkpoints.
 *
 * Writes go through a single group-commit writer: every `produce` queued while the previous write
 * and fdatasync were in flight is encoded together and made durable by one write (a scatter write
 * when large payloads are passed through uncopied) and one fdatasync. Records become visible to readers only once durable, so a seq that a crash takes back
 * was never seen by anyone.
 */
import { mkdir, open, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../common/errors.ts";
import { fsyncDir, readFully, writeFully, writevFully } from "../../common/fs.ts";
import type { Logger } from "../../common/log.ts";
import type { Message, MessagePosition } from "../types.ts";
import { MAX_SEQ } from "../validate.ts";
import { Wakeup } from "../wakeup.ts";
import { CheckpointStore } from "./checkpoints.ts";
import { encodeGroup } from "./encode.ts";
import { ioError } from "./fsutil.ts";
import { entryPos, HEADER_BYTES, readRecord, scanSegment } from "./record.ts";
import { parseSegmentFileName, Segment, segmentFileName } from "./segment.ts";

export interface RetentionCaps {
  /** Keep at most about this many bytes (whole segments are dropped, the newest always stays). */
  readonly maxBytes?: number;
  /** Drop sealed segments last written longer ago than this. */
  readonly maxAgeMs?: number;
}

export interface ChannelConfig {
  readonly segmentBytes: number;
  readonly maxWriteBytes: number;
  readonly maxReadBytes: number;
  /** Applies only while the channel has no saved checkpoint. */
  readonly retention: RetentionCaps;
  readonly logger: Logger;
}

interface PendingWrite {
  readonly payloads: readonly Uint8Array[];
  readonly bytes: number;
  readonly resolve: (p: MessagePosition[]) => void;
  readonly reject: (e: unknown) => void;
}

export interface ChannelReader {
  close(): Promise<void>;
}

type State = "open" | "dropped" | "closed";

export class ChannelLog {
  readonly name: string;
  readonly dir: string;
  readonly wakeup = new Wakeup();
  readonly checkpoints: CheckpointStore;
  private readonly cfg: ChannelConfig;
  private segments: Segment[];
  private nextSeq: number;
  private durable: number;
  private pending: PendingWrite[] = [];
  private writing = false;
  private writerDone: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private state: State = "open";
  private retentionRun: Promise<void> = Promise.resolve();
  private readonly readers = new Set<ChannelReader>();
  private starts = new Float64Array(1024);

  private constructor(
    name: string,
    dir: string,
    cfg: ChannelConfig,
    segments: Segment[],
    ckpts: CheckpointStore,
  ) {
    this.name = name;
    this.dir = dir;
    this.cfg = cfg;
    this.segments = segments;
    this.checkpoints = ckpts;
    const tail = this.tail();
    this.nextSeq = tail.base + tail.count;
    this.durable = this.nextSeq - 1;
  }

  /** Creates the channel directory (and its first segment) and opens it. */
  static async create(name: string, dir: string, cfg: ChannelConfig): Promise<ChannelLog> {
    try {
      await mkdir(dir);
      await fsyncDir(join(dir, ".."));
    } catch (e) {
      throw ioError(e, `creating channel ${name}`);
    }
    return ChannelLog.open(name, dir, cfg);
  }

  /** Opens an existing channel, cutting off a torn tail left by a crash. */
  static async open(name: string, dir: string, cfg: ChannelConfig): Promise<ChannelLog> {
    const segments: Segment[] = [];
    try {
      const bases = (await readdir(dir))
        .map(parseSegmentFileName)
        .filter((b): b is number => b !== undefined)
        .sort((a, b) => a - b);
      if (bases.length === 0) {
        const fh = await open(join(dir, segmentFileName(1)), "w+");
        await fsyncDir(dir);
        await fh.close();
        bases.push(1);
      }
      for (const base of bases.slice(0, -1)) {
        const st = await stat(join(dir, segmentFileName(base)));
        segments.push(new Segment(dir, base, { size: st.size, indexed: false, mtimeMs: st.mtimeMs }));
      }
      segments.push(await ChannelLog.recoverTail(dir, bases[bases.length - 1] ?? 1, cfg.logger));
      const ckpts = await CheckpointStore.load(dir);
      const log = new ChannelLog(name, dir, cfg, segments, ckpts);
      await log.applyRetention();
      return log;
    } catch (e) {
      for (const s of segments) await s.closeHandle();
      throw ioError(e, `opening channel ${name}`);
    }
  }

  private static async recoverTail(dir: string, base: number, logger: Logger): Promise<Segment> {
    const path = join(dir, segmentFileName(base));
    const fh = await open(path, "r+");
    try {
      const st = await fh.stat();
      const image = await readFully(fh, st.size, 0);
      const scan = scanSegment(image, base, "tail");
      if (scan.end < st.size) {
        logger.warn(
          {
            segment: path,
            keptBytes: scan.end,
            droppedBytes: st.size - scan.end,
            lastSeq: base + scan.count - 1,
          },
          "dropping a torn or damaged tail of the message log",
        );
        await fh.truncate(scan.end);
        await fh.datasync();
      }
      if (scan.damaged > 0) {
        logger.error(
          { segment: path, damaged: scan.damaged },
          "message log holds damaged acknowledged records",
        );
      }
      const seg = new Segment(dir, base, { fh, size: scan.end, indexed: true, mtimeMs: st.mtimeMs });
      seg.setIndex(scan.offsets, scan.count);
      return seg;
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  private tail(): Segment {
    const t = this.segments[this.segments.length - 1];
    if (t === undefined) throw new StrataError("MqInternal", `channel ${this.name} has no segment`);
    return t;
  }

  /** Seq of the last durable record; 0 when none was ever written. */
  lastSeq(): number {
    return this.durable;
  }

  /** Seq of the oldest retained record (lastSeq + 1 when the channel holds none). */
  firstSeq(): number {
    return this.segments[0]?.base ?? this.nextSeq;
  }

  addReader(r: ChannelReader): void {
    this.readers.add(r);
  }

  removeReader(r: ChannelReader): void {
    this.readers.delete(r);
  }

  /** Queues the payloads for the next group commit; resolves once they are fsynced. */
  produce(payloads: readonly Uint8Array[], payloadBytes: number): Promise<MessagePosition[]> {
    if (this.state === "dropped") {
      return Promise.reject(new StrataError("MqTopicNotFound", `channel ${this.name} was dropped`));
    }
    if (this.state === "closed") return Promise.reject(new StrataError("Closed", "message queue is closed"));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (payloads.length === 0) return Promise.resolve([]);
    if (this.nextSeq + payloads.length > MAX_SEQ) {
      return Promise.reject(
        new StrataError("MqInternal", `channel ${this.name} ran out of sequence numbers`),
      );
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ payloads, bytes: payloadBytes + payloads.length * HEADER_BYTES, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        this.writerDone = this.runWriter();
      }
    });
  }

  private async runWriter(): Promise<void> {
    for (;;) {
      if (this.pending.length === 0) {
        this.writing = false;
        return;
      }
      let take = 0;
      let bytes = 0;
      for (const p of this.pending) {
        if (take > 0 && bytes + p.bytes > this.cfg.maxWriteBytes) break;
        bytes += p.bytes;
        take++;
      }
      const group = this.pending.splice(0, take);
      try {
        if (this.failure !== undefined) throw this.failure;
        await this.writeGroup(group, bytes);
      } catch (e) {
        // After a failed write or fsync the file's state is unknown: refuse further writes until
        // a reopen recovers the tail, rather than risk acknowledging records that are not durable.
        this.failure ??= ioError(e, `writing channel ${this.name}`);
        this.cfg.logger.error({ channel: this.name, err: this.failure }, "message log write failed");
        for (const p of group) p.reject(this.failure);
      }
    }
  }

  private async writeGroup(group: PendingWrite[], bytes: number): Promise<void> {
    let tail = this.tail();
    if (tail.size >= this.cfg.segmentBytes && tail.count > 0) tail = await this.roll();
    let n = 0;
    for (const p of group) n += p.payloads.length;
    if (this.starts.length < n) this.starts = new Float64Array(Math.max(n, this.starts.length * 2));
    const base = tail.size;
    const fh = tail.handle();
    const bufs = encodeGroup(
      group.map((p) => p.payloads),
      this.nextSeq,
      base,
      bytes,
      this.starts,
    );
    if (bufs.length === 1) await writeFully(fh, bufs[0] as Uint8Array, base);
    else await writevFully(fh, bufs, base);
    await fh.datasync();
    tail.appendIndex(this.starts, n);
    tail.size = base + bytes;
    tail.mtimeMs = Date.now();
    let s = this.nextSeq;
    this.nextSeq += n;
    this.durable = this.nextSeq - 1;
    for (const p of group) {
      const positions: MessagePosition[] = new Array(p.payloads.length);
      for (let i = 0; i < positions.length; i++) positions[i] = { channel: this.name, seq: s++ };
      p.resolve(positions);
    }
    this.wakeup.notify();
  }

  private async roll(): Promise<Segment> {
    const base = this.nextSeq;
    const fh = await open(join(this.dir, segmentFileName(base)), "w+");
    try {
      await fsyncDir(this.dir);
    } catch (e) {
      await fh.close();
      throw e;
    }
    const seg = new Segment(this.dir, base, { fh, size: 0, indexed: true, mtimeMs: Date.now() });
    this.segments = [...this.segments, seg];
    void this.scheduleRetention();
    return seg;
  }

  /**
   * Reads up to `maxRecords` durable records starting at the first retained seq ≥ `fromSeq`, all
   * from one segment and about `maxReadBytes` at most (a larger single record still comes whole).
   * @throws StrataError Corrupted when the first record there fails its checks.
   */
  async read(fromSeq: number, maxRecords: number): Promise<Message[]> {
    for (;;) {
      if (this.state !== "open") return [];
      const segs = this.segments;
      const first = segs[0];
      if (first === undefined) return [];
      const seq = Math.max(fromSeq, first.base);
      if (seq > this.durable) return [];
      let lo = 0;
      let hi = segs.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((segs[mid] as Segment).base <= seq) lo = mid;
        else hi = mid - 1;
      }
      const seg = segs[lo] as Segment;
      const next = segs[lo + 1];
      if (!(await seg.acquire(next === undefined ? 0 : next.base - seg.base, this.cfg.logger))) continue;
      try {
        return await this.readFrom(seg, seq, maxRecords);
      } finally {
        seg.release();
      }
    }
  }

  private async readFrom(seg: Segment, seq: number, maxRecords: number): Promise<Message[]> {
    const i = seq - seg.base;
    const count = seg.count;
    const size = seg.size;
    const offsets = seg.offsets;
    const where = `channel ${this.name} segment ${seg.base}`;
    if (i >= count) return [];
    const startEntry = offsets[i] as number;
    if (startEntry < 0) throw new StrataError("Corrupted", `${where}: record ${seq} is damaged`);
    const endOf = (j: number): number => (j + 1 < count ? entryPos(offsets[j + 1] as number) : size);
    const max = Math.min(maxRecords, count - i);
    let k = 1;
    while (k < max && (offsets[i + k] as number) >= 0 && endOf(i + k) - startEntry <= this.cfg.maxReadBytes)
      k++;
    const end = endOf(i + k - 1);
    const buf = await readFully(seg.handle(), end - startEntry, startEntry);
    const out: Message[] = new Array(k);
    let got = 0;
    for (let j = 0; j < k; j++) {
      const at = entryPos(offsets[i + j] as number);
      try {
        const payload = readRecord(buf, at - startEntry, endOf(i + j) - at, seq + j, where);
        out[got++] = { channel: this.name, seq: seq + j, payload };
      } catch (e) {
        if (got === 0) throw e;
        break;
      }
    }
    out.length = got;
    return out;
  }

  /** Saves a checkpoint durably, then lets retention drop what every checkpoint has passed. */
  async saveCheckpoint(consumer: string, seq: number): Promise<void> {
    this.assertOpen();
    await this.checkpoints.save(consumer, seq);
    await this.scheduleRetention();
  }

  async deleteCheckpoint(consumer: string): Promise<void> {
    this.assertOpen();
    await this.checkpoints.delete(consumer);
    await this.scheduleRetention();
  }

  private assertOpen(): void {
    if (this.state === "dropped")
      throw new StrataError("MqTopicNotFound", `channel ${this.name} was dropped`);
    if (this.state === "closed") throw new StrataError("Closed", "message queue is closed");
  }

  private scheduleRetention(): Promise<void> {
    this.retentionRun = this.retentionRun
      .then(() => this.applyRetention())
      .catch((e: unknown) => {
        this.cfg.logger.warn({ channel: this.name, err: e }, "message log retention failed");
      });
    return this.retentionRun;
  }

  /** Deletes whole sealed segments that every durable checkpoint has passed (or the caps allow). */
  private async applyRetention(): Promise<void> {
    if (this.state !== "open") return;
    const segs = this.segments;
    const min = this.checkpoints.persistedMin();
    let drop = 0;
    if (min !== undefined) {
      while (drop < segs.length - 1 && (segs[drop + 1] as Segment).base - 1 <= min) drop++;
    } else {
      const { maxBytes, maxAgeMs } = this.cfg.retention;
      if (maxBytes === undefined && maxAgeMs === undefined) return;
      let total = 0;
      for (const s of segs) total += s.size;
      const now = Date.now();
      while (drop < segs.length - 1) {
        const s = segs[drop] as Segment;
        const tooBig = maxBytes !== undefined && total > maxBytes;
        const tooOld = maxAgeMs !== undefined && now - s.mtimeMs > maxAgeMs;
        if (!tooBig && !tooOld) break;
        total -= s.size;
        drop++;
      }
    }
    if (drop === 0) return;
    const gone = segs.slice(0, drop);
    this.segments = segs.slice(drop);
    for (const s of gone) {
      s.retire();
      await rm(s.path, { force: true });
    }
    this.cfg.logger.debug(
      { channel: this.name, segments: gone.length, firstSeq: this.firstSeq() },
      "retention dropped old segments",
    );
  }

  /**
   * Stops the channel. "closed" lets queued writes finish; "dropped" fails them. Either way readers
   * are closed and file handles released.
   */
  async shutdown(reason: "closed" | "dropped"): Promise<void> {
    if (this.state !== "open") return;
    // New produces are refused from here on; the writer still drains what was queued.
    this.state = reason;
    if (reason === "dropped") {
      const err = new StrataError("MqTopicNotFound", `channel ${this.name} was dropped`);
      for (const p of this.pending.splice(0)) p.reject(err);
    }
    this.wakeup.notify();
    while (this.writing) await this.writerDone;
    await this.retentionRun;
    await this.checkpoints.idle();
    for (const r of [...this.readers]) await r.close();
    for (const s of this.segments) {
      s.retire();
      await s.closeHandle();
    }
  }
}

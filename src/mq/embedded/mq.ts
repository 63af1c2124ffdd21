/**
 * The embedded MessageQueue: a crash-safe file log under one directory.
 *
 *   <dir>/LOCK                          pid of the owning process
 *   <dir>/channels/<channel>/<16-digit base seq>.log   segment files, oldest first
 *   <dir>/channels/<channel>/checkpoints.json          durable consumer checkpoints
 *   <dir>/trash/                        dropped channels on their way out
 *
 * Channels are opened lazily on first use, so opening the log reads nothing but the channel list.
 */
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../common/errors.ts";
import { fsyncDir } from "../../common/fs.ts";
import { type Logger, silentLogger } from "../../common/log.ts";
import type {
  ConsumeOptions,
  Consumer,
  MessagePosition,
  MessageQueue,
  Seq,
  StartPosition,
} from "../types.ts";
import {
  checkChannel,
  checkConsumeOptions,
  checkConsumerName,
  checkPayloads,
  checkSeq,
  checkStart,
} from "../validate.ts";
import { type ChannelConfig, ChannelLog, type RetentionCaps } from "./channel.ts";
import { EmbeddedConsumer } from "./consumer.ts";
import { ioError } from "./fsutil.ts";
import { DirLock } from "./lock.ts";

export interface EmbeddedMqOptions {
  /** Directory of the log; created if missing. One process at a time (guarded by a lock file). */
  readonly dir: string;
  readonly logger?: Logger;
  /** A segment file is closed for writing once it reaches this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** Most bytes one group commit writes; more queued data waits for the next write. Default 64 MiB. */
  readonly maxWriteBytes?: number;
  /** About the most bytes one `next()` returns (a single larger record still comes whole). Default 8 MiB. */
  readonly maxReadBytes?: number;
  /** Largest payload accepted. Default 256 MiB. */
  readonly maxRecordBytes?: number;
  /**
   * Caps for channels that have no saved checkpoint (by default they keep everything). A channel
   * with at least one checkpoint drops a segment only once every checkpoint has passed it.
   * Retention runs when a segment fills up, when a checkpoint changes and when a channel opens.
   */
  readonly retention?: RetentionCaps;
}

const MiB = 1024 * 1024;
const MAX_CALL_BYTES = 1024 * MiB;
const NAME_RE = /^[A-Za-z0-9_-]{1,200}$/;

function positiveInt(v: number | undefined, dflt: number, what: string, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new StrataError("ParameterInvalid", `${what} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

export class EmbeddedMq implements MessageQueue {
  private readonly channelsDir: string;
  private readonly trashDir: string;
  private readonly cfg: ChannelConfig;
  private readonly maxRecordBytes: number;
  private readonly lock: DirLock;
  /** Channels that exist on disk. */
  private readonly names: Set<string>;
  /** Channels opened (or being opened). */
  private readonly open = new Map<string, Promise<ChannelLog>>();
  private readonly loaded = new Map<string, ChannelLog>();
  /** Per-channel chain that orders create / open / drop. */
  private readonly nameOps = new Map<string, Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private trashSerial = 0;

  private constructor(
    dir: string,
    cfg: ChannelConfig,
    maxRecordBytes: number,
    lock: DirLock,
    names: Set<string>,
  ) {
    this.channelsDir = join(dir, "channels");
    this.trashDir = join(dir, "trash");
    this.cfg = cfg;
    this.maxRecordBytes = maxRecordBytes;
    this.lock = lock;
    this.names = names;
  }

  static async open(opts: EmbeddedMqOptions): Promise<EmbeddedMq> {
    if (typeof opts?.dir !== "string" || opts.dir === "") {
      throw new StrataError("ParameterInvalid", "embedded mq needs a dir");
    }
    const logger = opts.logger ?? silentLogger();
    const retention = opts.retention ?? {};
    const cfg: ChannelConfig = {
      segmentBytes: positiveInt(opts.segmentBytes, 64 * MiB, "segmentBytes", 1024),
      maxWriteBytes: positiveInt(opts.maxWriteBytes, 64 * MiB, "maxWriteBytes"),
      maxReadBytes: positiveInt(opts.maxReadBytes, 8 * MiB, "maxReadBytes"),
      retention: {
        ...(retention.maxBytes === undefined
          ? {}
          : { maxBytes: positiveInt(retention.maxBytes, 0, "retention.maxBytes", 0) }),
        ...(retention.maxAgeMs === undefined
          ? {}
          : { maxAgeMs: positiveInt(retention.maxAgeMs, 0, "retention.maxAgeMs", 0) }),
      },
      logger,
    };
    const maxRecordBytes = positiveInt(opts.maxRecordBytes, 256 * MiB, "maxRecordBytes");
    if (maxRecordBytes > MAX_CALL_BYTES) {
      throw new StrataError("ParameterInvalid", `maxRecordBytes must be at most ${MAX_CALL_BYTES}`);
    }
    try {
      await mkdir(opts.dir, { recursive: true });
    } catch (e) {
      throw ioError(e, `creating ${opts.dir}`);
    }
    const lock = await DirLock.acquire(opts.dir, logger);
    try {
      const channelsDir = join(opts.dir, "channels");
      const trashDir = join(opts.dir, "trash");
      await mkdir(channelsDir, { recursive: true });
      await rm(trashDir, { recursive: true, force: true });
      await mkdir(trashDir, { recursive: true });
      const names = new Set((await readdir(channelsDir)).filter((n) => NAME_RE.test(n)));
      return new EmbeddedMq(opts.dir, cfg, maxRecordBytes, lock, names);
    } catch (e) {
      await lock.release();
      throw ioError(e, `opening message log in ${opts.dir}`);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StrataError("Closed", "message queue is closed");
  }

  /** Runs `fn` after every earlier create / open / drop of the same channel has settled. */
  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.nameOps.get(name) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.catch(() => undefined);
    this.nameOps.set(name, tail);
    void tail.then(() => {
      if (this.nameOps.get(name) === tail) this.nameOps.delete(name);
    });
    return run;
  }

  private async channel(name: string, create: boolean): Promise<ChannelLog | undefined> {
    const ready = this.loaded.get(name);
    if (ready !== undefined) return ready;
    const opening = this.open.get(name);
    if (opening !== undefined) return opening;
    return this.serial(name, async () => {
      this.assertOpen();
      const again = this.open.get(name);
      if (again !== undefined) return again;
      const exists = this.names.has(name);
      if (!exists && !create) return undefined;
      const dir = join(this.channelsDir, name);
      const p = exists ? ChannelLog.open(name, dir, this.cfg) : ChannelLog.create(name, dir, this.cfg);
      this.open.set(name, p);
      try {
        const log = await p;
        this.names.add(name);
        this.loaded.set(name, log);
        return log;
      } catch (e) {
        this.open.delete(name);
        throw e;
      }
    });
  }

  private async existing(name: string): Promise<ChannelLog> {
    const log = await this.channel(name, false);
    if (log === undefined) throw new StrataError("MqTopicNotFound", `channel ${name} does not exist`);
    return log;
  }

  async ensureChannel(channel: string): Promise<void> {
    this.assertOpen();
    await this.channel(checkChannel(channel), true);
  }

  async produce(channel: string, payloads: readonly Uint8Array[]): Promise<MessagePosition[]> {
    this.assertOpen();
    const name = checkChannel(channel);
    const bytes = checkPayloads(payloads, this.maxRecordBytes, MAX_CALL_BYTES);
    for (let attempt = 0; ; attempt++) {
      const log = (await this.channel(name, true)) as ChannelLog;
      try {
        return await log.produce(payloads, bytes);
      } catch (e) {
        // The channel was dropped under us before the write started: produce recreates it.
        if (attempt === 0 && e instanceof StrataError && e.code === "MqTopicNotFound") continue;
        throw e;
      }
    }
  }

  async consume(channel: string, from: StartPosition, opts?: ConsumeOptions): Promise<Consumer> {
    this.assertOpen();
    const name = checkChannel(channel);
    const start = checkStart(from);
    const { maxBatch } = checkConsumeOptions(opts);
    const log = await this.existing(name);
    let cursor: number;
    switch (start.kind) {
      case "earliest":
        cursor = 1;
        break;
      case "latest":
        cursor = log.lastSeq() + 1;
        break;
      case "after":
        cursor = start.seq + 1;
        break;
      case "checkpoint":
        cursor = (log.checkpoints.get(start.consumer) ?? 0) + 1;
        break;
    }
    return new EmbeddedConsumer(log, cursor, maxBatch);
  }

  async saveCheckpoint(consumer: string, channel: string, seq: Seq): Promise<void> {
    this.assertOpen();
    const c = checkConsumerName(consumer);
    const s = checkSeq(seq, "checkpoint seq");
    const log = await this.existing(checkChannel(channel));
    await log.saveCheckpoint(c, s);
  }

  async loadCheckpoint(consumer: string, channel: string): Promise<Seq | undefined> {
    this.assertOpen();
    const c = checkConsumerName(consumer);
    const log = await this.channel(checkChannel(channel), false);
    return log?.checkpoints.get(c);
  }

  async deleteCheckpoint(consumer: string, channel: string): Promise<void> {
    this.assertOpen();
    const c = checkConsumerName(consumer);
    const log = await this.channel(checkChannel(channel), false);
    await log?.deleteCheckpoint(c);
  }

  async lastSeq(channel: string): Promise<Seq | undefined> {
    this.assertOpen();
    const log = await this.channel(checkChannel(channel), false);
    return log?.lastSeq();
  }

  async listChannels(): Promise<string[]> {
    this.assertOpen();
    return [...this.names].sort();
  }

  async dropChannel(channel: string): Promise<void> {
    this.assertOpen();
    const name = checkChannel(channel);
    await this.serial(name, async () => {
      const opening = this.open.get(name);
      if (opening !== undefined) {
        const log = await opening.catch(() => undefined);
        this.open.delete(name);
        this.loaded.delete(name);
        await log?.shutdown("dropped");
      }
      if (!this.names.has(name)) return;
      this.names.delete(name);
      const trash = join(this.trashDir, `${name}.${process.pid}.${this.trashSerial++}`);
      try {
        await rename(join(this.channelsDir, name), trash);
        await fsyncDir(this.channelsDir);
        await rm(trash, { recursive: true, force: true });
      } catch (e) {
        throw ioError(e, `dropping channel ${name}`);
      }
    });
  }

  close(): Promise<void> {
    this.closing ??= this.closeInner();
    return this.closing;
  }

  private async closeInner(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.nameOps.values()]);
    for (const p of this.open.values()) {
      const log = await p.catch(() => undefined);
      await log?.shutdown("closed");
    }
    this.open.clear();
    this.loaded.clear();
    await this.lock.release();
  }
}

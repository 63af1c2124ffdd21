/** A reader of one embedded channel: positioned reads from its cursor, woken by the writer. */
import type { Consumer, Message, Seq } from "../types.ts";
import { checkSeq, checkTimeout } from "../validate.ts";
import type { ChannelLog, ChannelReader } from "./channel.ts";

export class EmbeddedConsumer implements Consumer, ChannelReader {
  private readonly log: ChannelLog;
  private readonly maxBatch: number;
  /** Next seq to deliver. */
  private cursor: number;
  /** Bumped by seek so a read that raced with it is discarded. */
  private generation = 0;
  private closed = false;
  /** Serialises next() calls so two concurrent calls never return the same records. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(log: ChannelLog, startSeq: number, maxBatch: number) {
    this.log = log;
    this.cursor = startSeq;
    this.maxBatch = maxBatch;
    log.addReader(this);
  }

  async next(timeoutMs?: number): Promise<Message[]> {
    const timeout = checkTimeout(timeoutMs);
    if (this.closed) return [];
    const run = this.queue.then(() => this.nextInner(timeout));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async nextInner(timeoutMs: number | undefined): Promise<Message[]> {
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
    const wakeup = this.log.wakeup;
    for (;;) {
      if (this.closed) return [];
      const version = wakeup.version;
      const generation = this.generation;
      let batch: Message[];
      try {
        batch = await this.log.read(this.cursor, this.maxBatch);
      } catch (e) {
        if (this.closed) return [];
        throw e;
      }
      if (this.closed) return [];
      if (generation !== this.generation) continue;
      const last = batch[batch.length - 1];
      if (last !== undefined) {
        this.cursor = last.seq + 1;
        return batch;
      }
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await wakeup.wait(version, Number.isFinite(left) ? left : undefined);
    }
  }

  async seek(afterSeq: Seq): Promise<void> {
    const seq = checkSeq(afterSeq, "seek position");
    this.cursor = seq + 1;
    this.generation++;
    this.log.wakeup.notify();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.log.removeReader(this);
    this.log.wakeup.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message[]> {
    for (;;) {
      const batch = await this.next();
      if (batch.length > 0) yield batch;
      else if (this.closed) return;
    }
  }
}

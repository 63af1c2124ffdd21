import { StrataError } from "../common/errors.ts";
import { decodeMsg, MsgType } from "../common/msg/index.ts";
import type { Consumer, MessageQueue } from "../mq/types.ts";
import type { Pack, PackMsg, PackSource } from "./types.ts";

export interface TickInputOptions {
  readonly mq: MessageQueue;
  readonly channel: string;
  /** Start with the first record whose seq is greater than this (0: from the beginning). */
  readonly afterSeq: number;
  /** Records per mq read; default 256. */
  readonly maxBatch?: number;
}

/**
 * Reads one log channel from a position, decodes each record with `decodeMsg` and cuts the stream
 * into packs that end at each TimeTick record. Records after the last tick wait in memory until
 * their tick arrives. A pack holds everything between two ticks, so its size is bounded by what
 * producers write in one tick interval, not by this class.
 */
export class TickInput implements PackSource<Pack> {
  private readonly consumer: Consumer;
  private readonly channel: string;
  private pending: PackMsg[] = [];
  private readonly ready: Pack[] = [];
  private lastSeq: number;
  private closed = false;
  private failure: StrataError | undefined;

  private constructor(consumer: Consumer, channel: string, afterSeq: number) {
    this.consumer = consumer;
    this.channel = channel;
    this.lastSeq = afterSeq;
  }

  /** @throws StrataError MqTopicNotFound when the channel does not exist; ParameterInvalid for a bad position. */
  static async open(opts: TickInputOptions): Promise<TickInput> {
    if (!Number.isSafeInteger(opts.afterSeq) || opts.afterSeq < 0) {
      throw new StrataError(
        "ParameterInvalid",
        `afterSeq must be a non-negative integer, got ${opts.afterSeq}`,
      );
    }
    const consumer = await opts.mq.consume(
      opts.channel,
      { kind: "after", seq: opts.afterSeq },
      { maxBatch: opts.maxBatch ?? 256 },
    );
    return new TickInput(consumer, opts.channel, opts.afterSeq);
  }

  /** Seq of the last record read from the channel (whether or not its pack is complete yet). */
  get position(): number {
    return this.lastSeq;
  }

  /**
   * The next complete pack, waiting for its tick as long as needed. Undefined once closed.
   * @throws StrataError Corrupted for a record that is not a valid message, once every pack
   *   completed before it was returned; the input does not move past it.
   */
  async next(): Promise<Pack | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const pack = this.ready.shift();
      if (pack !== undefined) return pack;
      // Packs completed before a bad record are delivered first; then the failure, every time.
      if (this.failure !== undefined) throw this.failure;
      const batch = await this.consumer.next();
      if (this.closed) return undefined;
      // With no timeout an empty batch means the consumer was closed underneath us (mq closed).
      if (batch.length === 0) {
        this.closed = true;
        return undefined;
      }
      for (const rec of batch) {
        let msg: ReturnType<typeof decodeMsg>;
        try {
          msg = decodeMsg(rec.payload);
        } catch (e) {
          this.failure = new StrataError(
            "Corrupted",
            `channel ${this.channel} record ${rec.seq}: ${String(e)}`,
            {
              cause: e,
            },
          );
          break;
        }
        this.lastSeq = rec.seq;
        if (msg.type === MsgType.TimeTick) {
          this.ready.push({ msgs: this.pending, tickSeq: rec.seq, tickTs: msg.timestamp });
          this.pending = [];
        } else {
          this.pending.push({ seq: rec.seq, msg });
        }
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    this.ready.length = 0;
    await this.consumer.close();
  }
}

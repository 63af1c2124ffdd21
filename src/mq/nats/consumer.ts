/**
 * A reader of one JetStream-backed channel. A background pump iterates an ordered push consumer
 * (ephemeral, gap-detecting, recreated on trouble) and fills a local queue of whole records;
 * `next()` drains the queue. JetStream flow control is answered only as the pump takes messages
 * from the client's iterator, and the pump stops taking while the queue is full, so the server
 * never has more than a flow-control window in flight and a slow reader holds bounded memory.
 * (Pull fetches sized in messages can overrun the server's per-client buffer with large messages
 * and get the connection dropped as a slow consumer; fetches sized in bytes stall to their expiry
 * with this client and server.)
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { StrataError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { Consumer, Message, Seq } from "../types.ts";
import { checkSeq, checkTimeout } from "../validate.ts";
import { Wakeup } from "../wakeup.ts";
import { CHUNK_HEADER, Reassembler } from "./chunks.ts";
import { natsError } from "./errors.ts";

/** The pump stops taking messages while this many bytes wait in the queue. */
const QUEUE_BYTES = 32 * 1024 * 1024;
/** Consecutive failures to (re)create the server-side consumer before next() reports an error. */
const MAX_FAILURES = 8;

interface Stoppable {
  stop(err?: Error): void;
}

export interface NatsConsumerContext {
  readonly js: JetStreamClient;
  readonly stream: string;
  readonly channel: string;
  readonly logger: Logger;
  /** True when the channel's stream no longer exists (tells a dropped channel from a failure). */
  readonly streamGone: () => Promise<boolean>;
  /** Called once the consumer is closed, so the queue can forget it. */
  readonly onClose: (c: NatsConsumer) => void;
}

export class NatsConsumer implements Consumer {
  private readonly ctx: NatsConsumerContext;
  private readonly maxBatch: number;
  private readonly wakeup = new Wakeup();
  private readonly space = new Wakeup();
  private readonly reassembler = new Reassembler();
  private queue: Message[] = [];
  private head = 0;
  private queuedBytes = 0;
  private generation = 0;
  private closed = false;
  private error: Error | undefined;
  private iter: Stoppable | undefined;
  private pump: Promise<void>;
  /** Lowest stream sequence the current read position may deliver. */
  private floor: number;

  constructor(ctx: NatsConsumerContext, startSeq: number, maxBatch: number) {
    this.ctx = ctx;
    this.maxBatch = maxBatch;
    this.floor = startSeq;
    this.pump = this.runPump(this.generation, startSeq);
  }

  private async runPump(generation: number, startSeq: number): Promise<void> {
    const { js, stream } = this.ctx;
    const live = (): boolean => generation === this.generation && !this.closed;
    let next = Math.max(1, startSeq);
    let failures = 0;
    while (live()) {
      let pc: Awaited<ReturnType<JetStreamClient["consumers"]["getPushConsumer"]>> | undefined;
      let it: Stoppable | undefined;
      try {
        pc = await js.consumers.getPushConsumer(stream, {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: next,
        });
        const msgs = await pc.consume({ abort_on_missing_resource: true });
        it = msgs;
        if (live()) this.iter = msgs;
        else msgs.stop();
        for await (const m of msgs) {
          if (!live()) break;
          next = m.seq + 1;
          failures = 0;
          this.accept(m);
          while (this.queuedBytes >= QUEUE_BYTES && live()) await this.space.wait(this.space.version, 1000);
        }
        if (live()) throw new Error("the server-side consumer ended");
      } catch (e) {
        if (!live()) break;
        if (await this.ctx.streamGone().catch(() => false)) {
          this.fail(
            new StrataError("MqTopicNotFound", `channel ${this.ctx.channel} no longer exists`, { cause: e }),
          );
          break;
        }
        failures++;
        if (failures >= MAX_FAILURES) {
          this.fail(natsError(e, `consuming channel ${this.ctx.channel}`));
          break;
        }
        this.ctx.logger.warn(
          { channel: this.ctx.channel, err: e, failures },
          "NATS consumer failed; recreating it",
        );
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** failures)));
      } finally {
        if (this.iter === it) this.iter = undefined;
        await pc?.delete().catch(() => undefined);
      }
    }
  }

  private fail(err: StrataError): void {
    this.error = err;
    this.wakeup.notify();
  }

  private accept(m: JsMsg): void {
    // JetStream clamps a start past the end of the stream to the end, so records written later
    // could still sit below the requested start.
    if (m.seq < this.floor) return;
    const chunk = m.headers?.get(CHUNK_HEADER) ?? "";
    const payload = this.reassembler.accept(m.data, chunk);
    if (payload === undefined) return;
    this.queue.push({ channel: this.ctx.channel, seq: m.seq, payload });
    this.queuedBytes += payload.byteLength;
    this.wakeup.notify();
  }

  async next(timeoutMs?: number): Promise<Message[]> {
    return this.nextInner(checkTimeout(timeoutMs));
  }

  private async nextInner(timeoutMs: number | undefined): Promise<Message[]> {
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
    for (;;) {
      if (this.closed) return [];
      const version = this.wakeup.version;
      const available = this.queue.length - this.head;
      if (available > 0) {
        const n = Math.min(available, this.maxBatch);
        const out = this.queue.slice(this.head, this.head + n);
        this.head += n;
        for (const m of out) this.queuedBytes -= m.payload.byteLength;
        if (this.head === this.queue.length) {
          this.queue = [];
          this.head = 0;
        } else if (this.head > 4096) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        this.space.notify();
        return out;
      }
      if (this.error !== undefined) throw this.error;
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await this.wakeup.wait(version, Number.isFinite(left) ? left : undefined);
    }
  }

  async seek(afterSeq: Seq): Promise<void> {
    const seq = checkSeq(afterSeq, "seek position");
    if (this.closed) return;
    this.generation++;
    this.iter?.stop();
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.error = undefined;
    this.reassembler.reset();
    this.floor = seq + 1;
    this.pump = this.runPump(this.generation, seq + 1);
    this.wakeup.notify();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    this.iter?.stop();
    this.wakeup.notify();
    this.space.notify();
    this.ctx.onClose(this);
    await this.pump;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message[]> {
    for (;;) {
      const batch = await this.next();
      if (batch.length > 0) yield batch;
      else if (this.closed) return;
    }
  }
}

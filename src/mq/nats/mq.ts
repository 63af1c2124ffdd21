/**
 * The MessageQueue on NATS JetStream.
 *
 * - One stream per channel, `<prefix>_ch_<channel>` on subject `<prefix>.ch.<channel>`, file
 *   storage. A record's seq is its JetStream stream sequence (of its last chunk when split).
 * - produce publishes every record without waiting in between and resolves once JetStream acked
 *   them all. Publishes of one call are issued back to back on one connection, so they are
 *   consecutive among this instance's publishes to the channel.
 * - Checkpoints live in the stream `<prefix>_ckpt` (subjects `<prefix>.ckpt.<channel>.<consumer>`,
 *   one message kept per subject), updated with compare-and-set on the subject's last sequence so
 *   they only move forward even with concurrent writers.
 * - Retention: after a checkpoint changes, the channel's stream is purged below the lowest
 *   checkpoint. A channel without checkpoints keeps everything.
 */
import {
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type PubAck,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { connect, headers, type NatsConnection, nuid } from "@nats-io/transport-node";
import { StrataError } from "../../common/errors.ts";
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
import { NatsCheckpoints } from "./checkpoints.ts";
import { CHUNK_HEADER, chunkHeaderValue } from "./chunks.ts";
import { NatsConsumer } from "./consumer.ts";
import { isNoResponders, isStreamNotFound, isWrongLastSequence, natsError } from "./errors.ts";

export interface NatsMqOptions {
  readonly servers: readonly string[];
  /** Namespace for stream and subject names (1..40 chars of [A-Za-z0-9_-]). Default "strata". */
  readonly prefix?: string;
  readonly logger?: Logger;
  /** Replicas of each stream (a clustered JetStream). Default 1. */
  readonly replicas?: number;
  /** Records above this size are split into chunks. Default: the server's max_payload less 4 KiB, at most 4 MiB. */
  readonly chunkBytes?: number;
  /** How long one publish waits for its ack. Default 10 s. */
  readonly ackTimeoutMs?: number;
  /** Largest payload accepted. Default 256 MiB. */
  readonly maxRecordBytes?: number;
}

const PREFIX_RE = /^[A-Za-z0-9_-]{1,40}$/;
const MiB = 1024 * 1024;
const MAX_CALL_BYTES = 1024 * MiB;
const CHUNK_RETRIES = 20;

export class NatsMq implements MessageQueue {
  private readonly nc: NatsConnection;
  private readonly jsm: JetStreamManager;
  private readonly js: JetStreamClient;
  private readonly ckpts: NatsCheckpoints;
  private readonly prefix: string;
  private readonly logger: Logger;
  private readonly replicas: number;
  private readonly chunkBytes: number;
  private readonly ackTimeoutMs: number;
  private readonly maxRecordBytes: number;
  /** Channels whose stream this instance knows to exist. */
  private readonly known = new Set<string>();
  private readonly creating = new Map<string, Promise<void>>();
  /** Per channel: resolves when the previous produce call has issued all its publishes. */
  private readonly issueTurn = new Map<string, Promise<void>>();
  private readonly consumers = new Map<string, Set<NatsConsumer>>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, opts: NatsMqOptions, prefix: string) {
    this.nc = nc;
    this.jsm = jsm;
    this.js = jsm.jetstream();
    this.prefix = prefix;
    this.logger = opts.logger ?? silentLogger();
    this.replicas = opts.replicas ?? 1;
    const serverMax = nc.info?.max_payload ?? MiB;
    this.chunkBytes = opts.chunkBytes ?? Math.min(4 * MiB, Math.max(1024, serverMax - 4096));
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.maxRecordBytes = opts.maxRecordBytes ?? 256 * MiB;
    this.ckpts = new NatsCheckpoints(jsm, this.js, prefix, this.ackTimeoutMs);
  }

  static async open(opts: NatsMqOptions): Promise<NatsMq> {
    const prefix = opts.prefix ?? "strata";
    if (!PREFIX_RE.test(prefix)) {
      throw new StrataError("ParameterInvalid", `invalid NATS prefix ${JSON.stringify(prefix)}`);
    }
    if (!Array.isArray(opts.servers) || opts.servers.length === 0) {
      throw new StrataError("ParameterInvalid", "NATS mq needs at least one server");
    }
    for (const [k, v] of [
      ["replicas", opts.replicas],
      ["chunkBytes", opts.chunkBytes],
      ["ackTimeoutMs", opts.ackTimeoutMs],
      ["maxRecordBytes", opts.maxRecordBytes],
    ] as const) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) {
        throw new StrataError("ParameterInvalid", `${k} must be a positive integer`);
      }
    }
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...opts.servers],
        name: `strata-mq-${prefix}`,
        maxReconnectAttempts: -1,
      });
    } catch (e) {
      throw new StrataError(
        "MqInternal",
        `cannot connect to NATS at ${opts.servers.join(",")}: ${String(e)}`,
        {
          cause: e,
        },
      );
    }
    try {
      const jsm = await jetstreamManager(nc);
      const mq = new NatsMq(nc, jsm, opts, prefix);
      if (mq.chunkBytes > (nc.info?.max_payload ?? MiB) - 1024) {
        throw new StrataError(
          "ParameterInvalid",
          `chunkBytes ${mq.chunkBytes} exceeds the server's max_payload`,
        );
      }
      await mq.ckpts.ensureStream(mq.replicas);
      return mq;
    } catch (e) {
      await nc.close().catch(() => undefined);
      throw natsError(e, "opening the NATS message queue");
    }
  }

  private streamName(channel: string): string {
    return `${this.prefix}_ch_${channel}`;
  }

  private subject(channel: string): string {
    return `${this.prefix}.ch.${channel}`;
  }

  private assertOpen(): void {
    if (this.closed) throw new StrataError("Closed", "message queue is closed");
  }

  /** Tracks an operation so close() can wait for it. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.then(
      () => this.inflight.delete(p),
      () => this.inflight.delete(p),
    );
    return p;
  }

  private async streamExists(channel: string): Promise<boolean> {
    try {
      await this.jsm.streams.info(this.streamName(channel));
      return true;
    } catch (e) {
      if (isStreamNotFound(e)) return false;
      throw natsError(e, `looking up channel ${channel}`);
    }
  }

  private async ensureStream(channel: string): Promise<void> {
    if (this.known.has(channel)) return;
    let p = this.creating.get(channel);
    if (p === undefined) {
      p = this.createStream(channel).finally(() => this.creating.delete(channel));
      this.creating.set(channel, p);
    }
    await p;
  }

  private async createStream(channel: string): Promise<void> {
    if (!(await this.streamExists(channel))) {
      try {
        await this.jsm.streams.add({
          name: this.streamName(channel),
          subjects: [this.subject(channel)],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          num_replicas: this.replicas,
        });
      } catch (e) {
        if (!(await this.streamExists(channel))) throw natsError(e, `creating channel ${channel}`);
      }
    }
    this.known.add(channel);
  }

  async ensureChannel(channel: string): Promise<void> {
    this.assertOpen();
    await this.track(this.ensureStream(checkChannel(channel)));
  }

  async produce(channel: string, payloads: readonly Uint8Array[]): Promise<MessagePosition[]> {
    this.assertOpen();
    const name = checkChannel(channel);
    checkPayloads(payloads, this.maxRecordBytes, MAX_CALL_BYTES);
    return this.track(this.produceInner(name, payloads));
  }

  private async produceInner(channel: string, payloads: readonly Uint8Array[]): Promise<MessagePosition[]> {
    await this.ensureStream(channel);
    if (payloads.length === 0) return [];
    for (let attempt = 0; ; attempt++) {
      try {
        const acks = await this.publishAll(channel, payloads);
        const out: MessagePosition[] = new Array(acks.length);
        for (let i = 0; i < acks.length; i++) out[i] = { channel, seq: (acks[i] as PubAck).seq };
        return out;
      } catch (e) {
        // The stream vanished (dropped elsewhere) before anything was stored: recreate and retry once.
        if (attempt === 0 && isNoResponders(e)) {
          this.known.delete(channel);
          await this.ensureStream(channel);
          continue;
        }
        throw natsError(e, `producing to channel ${channel}`);
      }
    }
  }

  /** Issues the publishes in order (waiting for this channel's previous call to finish issuing), then awaits the acks. */
  private async publishAll(channel: string, payloads: readonly Uint8Array[]): Promise<PubAck[]> {
    const prev = this.issueTurn.get(channel) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.issueTurn.set(channel, mine);
    await prev;
    const subject = this.subject(channel);
    const acks: Promise<PubAck>[] = new Array(payloads.length);
    try {
      for (let i = 0; i < payloads.length; i++) {
        const p = payloads[i] as Uint8Array;
        const ack =
          p.byteLength <= this.chunkBytes
            ? this.js.publish(subject, p, { timeout: this.ackTimeoutMs })
            : Promise.resolve(await this.publishChunked(subject, p));
        // Rejections are collected by Promise.all below; this only keeps them from counting as unhandled.
        ack.catch(() => undefined);
        acks[i] = ack;
      }
    } finally {
      if (this.issueTurn.get(channel) === mine) this.issueTurn.delete(channel);
      done();
    }
    return Promise.all(acks);
  }

  /** Publishes one large record as consecutive chunks, starting over if another publisher interleaves. */
  private async publishChunked(subject: string, payload: Uint8Array): Promise<PubAck> {
    const total = Math.ceil(payload.byteLength / this.chunkBytes);
    for (let attempt = 0; attempt < CHUNK_RETRIES; attempt++) {
      const id = nuid.next();
      let last: PubAck | undefined;
      try {
        for (let i = 0; i < total; i++) {
          const h = headers();
          h.set(CHUNK_HEADER, chunkHeaderValue(id, i, total));
          const part = payload.subarray(
            i * this.chunkBytes,
            Math.min(payload.byteLength, (i + 1) * this.chunkBytes),
          );
          last = await this.js.publish(subject, part, {
            headers: h,
            timeout: this.ackTimeoutMs,
            ...(last === undefined ? {} : { expect: { lastSequence: last.seq } }),
          });
        }
        if (last !== undefined) return last;
      } catch (e) {
        if (!isWrongLastSequence(e)) throw e;
        this.logger.debug(
          { subject, attempt },
          "chunked record interleaved with another publisher; retrying",
        );
        await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new StrataError(
      "MqInternal",
      `could not write a ${payload.byteLength}-byte record to ${subject}: other publishers kept interleaving`,
    );
  }

  async consume(channel: string, from: StartPosition, opts?: ConsumeOptions): Promise<Consumer> {
    this.assertOpen();
    const name = checkChannel(channel);
    const start = checkStart(from);
    const { maxBatch } = checkConsumeOptions(opts);
    let startSeq: number;
    try {
      const info = await this.jsm.streams.info(this.streamName(name));
      switch (start.kind) {
        case "earliest":
          startSeq = 1;
          break;
        case "latest":
          startSeq = info.state.last_seq + 1;
          break;
        case "after":
          startSeq = start.seq + 1;
          break;
        case "checkpoint":
          startSeq = ((await this.ckpts.load(name, start.consumer)) ?? 0) + 1;
          break;
      }
    } catch (e) {
      if (isStreamNotFound(e)) throw new StrataError("MqTopicNotFound", `channel ${name} does not exist`);
      throw natsError(e, `opening a consumer on ${name}`);
    }
    this.assertOpen();
    let set = this.consumers.get(name);
    if (set === undefined) {
      set = new Set();
      this.consumers.set(name, set);
    }
    const consumer = new NatsConsumer(
      {
        js: this.js,
        stream: this.streamName(name),
        channel: name,
        logger: this.logger,
        streamGone: async () => !(await this.streamExists(name)),
        onClose: (c) => this.consumers.get(name)?.delete(c),
      },
      startSeq,
      maxBatch,
    );
    set.add(consumer);
    return consumer;
  }

  async saveCheckpoint(consumer: string, channel: string, seq: Seq): Promise<void> {
    this.assertOpen();
    const c = checkConsumerName(consumer);
    const name = checkChannel(channel);
    const s = checkSeq(seq, "checkpoint seq");
    await this.track(this.saveCheckpointInner(c, name, s));
  }

  private async saveCheckpointInner(consumer: string, channel: string, seq: number): Promise<void> {
    if (!(await this.streamExists(channel))) {
      throw new StrataError("MqTopicNotFound", `channel ${channel} does not exist`);
    }
    await this.ckpts.save(channel, consumer, seq);
    await this.applyRetention(channel);
  }

  async loadCheckpoint(consumer: string, channel: string): Promise<Seq | undefined> {
    this.assertOpen();
    const c = checkConsumerName(consumer);
    return this.ckpts.load(checkChannel(channel), c);
  }

  async deleteCheckpoint(consumer: string, channel: string): Promise<void> {
    this.assertOpen();
    const c = checkConsumerName(consumer);
    const name = checkChannel(channel);
    await this.track(
      (async () => {
        await this.ckpts.delete(name, c);
        if (await this.streamExists(name)) await this.applyRetention(name);
      })(),
    );
  }

  /** Purges the channel's stream below its lowest checkpoint. */
  private async applyRetention(channel: string): Promise<void> {
    try {
      const min = await this.ckpts.min(channel);
      if (min === undefined) return;
      const stream = await this.jsm.streams.info(this.streamName(channel));
      // Purging past the end would move the stream's next sequence forward; stop at the end.
      const upTo = Math.min(min + 1, stream.state.last_seq + 1);
      if (upTo > stream.state.first_seq)
        await this.jsm.streams.purge(this.streamName(channel), { seq: upTo });
    } catch (e) {
      if (isStreamNotFound(e)) return;
      this.logger.warn({ channel, err: e }, "NATS retention purge failed");
    }
  }

  async lastSeq(channel: string): Promise<Seq | undefined> {
    this.assertOpen();
    const name = checkChannel(channel);
    try {
      return (await this.jsm.streams.info(this.streamName(name))).state.last_seq;
    } catch (e) {
      if (isStreamNotFound(e)) return undefined;
      throw natsError(e, `reading the last seq of ${name}`);
    }
  }

  async listChannels(): Promise<string[]> {
    this.assertOpen();
    const out: string[] = [];
    const head = `${this.prefix}_ch_`;
    try {
      for await (const n of this.jsm.streams.names(`${this.prefix}.ch.*`)) {
        if (n.startsWith(head)) out.push(n.slice(head.length));
      }
    } catch (e) {
      throw natsError(e, "listing channels");
    }
    return out.sort();
  }

  async dropChannel(channel: string): Promise<void> {
    this.assertOpen();
    const name = checkChannel(channel);
    await this.track(
      (async () => {
        for (const c of [...(this.consumers.get(name) ?? [])]) await c.close();
        this.consumers.delete(name);
        this.known.delete(name);
        try {
          await this.jsm.streams.delete(this.streamName(name));
        } catch (e) {
          if (!isStreamNotFound(e)) throw natsError(e, `dropping channel ${name}`);
        }
        await this.ckpts.deleteChannel(name);
      })(),
    );
  }

  close(): Promise<void> {
    this.closing ??= this.closeInner();
    return this.closing;
  }

  private async closeInner(): Promise<void> {
    this.closed = true;
    for (const set of this.consumers.values()) for (const c of [...set]) await c.close();
    this.consumers.clear();
    await Promise.allSettled([...this.inflight]);
    await this.nc.close().catch(() => undefined);
  }
}

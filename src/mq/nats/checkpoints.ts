/**
 * Consumer checkpoints on JetStream: one stream `<prefix>_ckpt` with subjects
 * `<prefix>.ckpt.<channel>.<consumer>` keeping one message per subject (the value as decimal
 * text). Saves are compare-and-set on the subject's last sequence, so a checkpoint only moves
 * forward even with several writers.
 */
import {
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { StrataError } from "../../common/errors.ts";
import { isStreamNotFound, isWrongLastSequence, natsError } from "./errors.ts";

const CAS_RETRIES = 50;

interface Stored {
  readonly value: number;
  /** Stream sequence of the message holding it (the compare-and-set token). */
  readonly seq: number;
}

export class NatsCheckpoints {
  private readonly stream: string;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    private readonly ackTimeoutMs: number,
  ) {
    this.stream = `${prefix}_ckpt`;
  }

  private subject(channel: string, consumer: string): string {
    return `${this.prefix}.ckpt.${channel}.${consumer}`;
  }

  private channelFilter(channel: string): string {
    return `${this.prefix}.ckpt.${channel}.*`;
  }

  async ensureStream(replicas: number): Promise<void> {
    try {
      await this.jsm.streams.info(this.stream);
      return;
    } catch (e) {
      if (!isStreamNotFound(e)) throw e;
    }
    try {
      await this.jsm.streams.add({
        name: this.stream,
        subjects: [`${this.prefix}.ckpt.>`],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        max_msgs_per_subject: 1,
        num_replicas: replicas,
      });
    } catch (e) {
      // Another instance may have created it between our info and add.
      await this.jsm.streams.info(this.stream).catch(() => {
        throw e;
      });
    }
  }

  private async read(channel: string, consumer: string): Promise<Stored | undefined> {
    const m = await this.jsm.streams.getMessage(this.stream, {
      last_by_subj: this.subject(channel, consumer),
    });
    if (m === null) return undefined;
    const value = Number(new TextDecoder().decode(m.data));
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new StrataError(
        "Corrupted",
        `checkpoint ${consumer} on ${channel} holds ${JSON.stringify(m.string())}`,
      );
    }
    return { value, seq: m.seq };
  }

  async load(channel: string, consumer: string): Promise<number | undefined> {
    try {
      return (await this.read(channel, consumer))?.value;
    } catch (e) {
      throw natsError(e, `loading checkpoint ${consumer} on ${channel}`);
    }
  }

  /** Stores `seq` unless the stored value is already at least that high. */
  async save(channel: string, consumer: string, seq: number): Promise<void> {
    const data = new TextEncoder().encode(String(seq));
    for (let attempt = 0; ; attempt++) {
      try {
        const cur = await this.read(channel, consumer);
        if (cur !== undefined && cur.value >= seq) return;
        await this.js.publish(this.subject(channel, consumer), data, {
          timeout: this.ackTimeoutMs,
          expect: { lastSubjectSequence: cur?.seq ?? 0 },
        });
        return;
      } catch (e) {
        if (!isWrongLastSequence(e) || attempt >= CAS_RETRIES) {
          throw natsError(e, `saving checkpoint ${consumer} on ${channel}`);
        }
      }
    }
  }

  async delete(channel: string, consumer: string): Promise<void> {
    try {
      await this.jsm.streams.purge(this.stream, { filter: this.subject(channel, consumer) });
    } catch (e) {
      throw natsError(e, `deleting checkpoint ${consumer} on ${channel}`);
    }
  }

  async deleteChannel(channel: string): Promise<void> {
    try {
      await this.jsm.streams.purge(this.stream, { filter: this.channelFilter(channel) });
    } catch (e) {
      throw natsError(e, `dropping the checkpoints of ${channel}`);
    }
  }

  /** The lowest checkpoint saved on the channel, or undefined when it has none. */
  async min(channel: string): Promise<number | undefined> {
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: this.channelFilter(channel) });
    const skip = `${this.prefix}.ckpt.${channel}.`.length;
    let min: number | undefined;
    for (const s of Object.keys(info.state.subjects ?? {})) {
      const cur = await this.read(channel, s.slice(skip));
      if (cur !== undefined && (min === undefined || cur.value < min)) min = cur.value;
    }
    return min;
  }
}

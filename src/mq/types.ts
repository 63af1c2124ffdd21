/**
 * The message-stream backend (DESIGN.md §3): named channels of opaque records, each record at a
 * position that is strictly increasing within its channel. Implementations: the embedded
 * crash-safe file log and NATS JetStream. Both pass `test/mq/contract.ts` unchanged.
 */

/** Sequence of a record within its channel: starts at 1, strictly increasing (gaps allowed). */
export type Seq = number;

export interface MessagePosition {
  readonly channel: string;
  readonly seq: Seq;
}

export interface Message {
  readonly channel: string;
  readonly seq: Seq;
  /**
   * The record's bytes. May be a view into a larger buffer shared with the other records of the
   * same batch: copy it before transferring or keeping a small part of a big batch for long.
   */
  readonly payload: Uint8Array;
}

/** Where a new consumer starts reading. */
export type StartPosition =
  /** The oldest record still retained (a consumer that falls behind retention resumes there). */
  | { readonly kind: "earliest" }
  /** Only records produced after the consumer is opened. */
  | { readonly kind: "latest" }
  /** The first record with seq > `seq` (seq 0 means from the beginning). */
  | { readonly kind: "after"; readonly seq: Seq }
  /**
   * After the named durable checkpoint; from the earliest retained record when the consumer has
   * no checkpoint yet.
   */
  | { readonly kind: "checkpoint"; readonly consumer: string };

export interface ConsumeOptions {
  /** Most records returned by one `next()`; default 1024. */
  readonly maxBatch?: number;
}

export interface Consumer extends AsyncIterable<Message[]> {
  /**
   * Resolves with the next 1..maxBatch records in order, waiting up to `timeoutMs` (default: no
   * limit) for at least one; resolves with [] on timeout or once the consumer is closed (also when
   * its channel is dropped or its queue closed through the same MessageQueue instance). Never
   * returns a record twice unless `seek` moved back.
   * @throws StrataError ParameterInvalid for a negative timeout; Corrupted when the next record
   * fails its checksum (the position stays on it: `seek` past it to go on); MqTopicNotFound /
   * MqInternal when the backend fails.
   */
  next(timeoutMs?: number): Promise<Message[]>;
  /**
   * Moves the read position: the next record returned is the first retained one with
   * seq > `afterSeq`. A `next()` already waiting picks up the new position.
   */
  seek(afterSeq: Seq): Promise<void>;
  /** Idempotent. A pending `next()` resolves with []. */
  close(): Promise<void>;
}

export interface MessageQueue {
  /**
   * Creates the channel if absent. Idempotent. `produce` also creates channels on first use.
   * Channel names: 1..200 chars of [A-Za-z0-9_-] (both backends accept them).
   * @throws StrataError ParameterInvalid for a bad name.
   */
  ensureChannel(channel: string): Promise<void>;

  /**
   * Appends the payloads to the channel in order, atomically as a group with respect to order
   * (no other producer's record lands between them in the same call on the embedded log; on
   * JetStream they are consecutive per publisher). Resolves only when every record is durable
   * (fsynced on the embedded log, acknowledged by JetStream), with one position per payload.
   * On rejection some prefix of the batch may be durable; callers that need all-or-nothing
   * put the whole batch in one payload.
   * @throws StrataError Closed after close(), MqInternal / IoFailed on backend failure.
   */
  produce(channel: string, payloads: readonly Uint8Array[]): Promise<MessagePosition[]>;

  /** Opens a consumer. @throws StrataError MqTopicNotFound when the channel does not exist. */
  consume(channel: string, from: StartPosition, opts?: ConsumeOptions): Promise<Consumer>;

  /**
   * Durably records that consumer `consumer` has processed `channel` up to and including `seq`.
   * Checkpoints only move forward: saving a lower seq than the stored one is a no-op.
   * Retention never drops a record that a saved checkpoint has not passed; it only protects data
   * from the moment it is saved, so a new consumer saves its checkpoint before others move on.
   * Consumer names follow the channel-name rule.
   * @throws StrataError MqTopicNotFound when the channel does not exist, ParameterInvalid for a
   * bad name or seq.
   */
  saveCheckpoint(consumer: string, channel: string, seq: Seq): Promise<void>;

  /** The saved checkpoint, or undefined when none was saved (or the channel does not exist). */
  loadCheckpoint(consumer: string, channel: string): Promise<Seq | undefined>;

  /** Forgets a consumer's checkpoint (it no longer holds back retention). Idempotent. */
  deleteCheckpoint(consumer: string, channel: string): Promise<void>;

  /**
   * Seq of the last record in the channel, 0 when nothing was ever written; undefined when it does
   * not exist. (On JetStream a large record abandoned halfway by a failed producer can leave this
   * above the last whole record's seq; positions may have gaps.)
   */
  lastSeq(channel: string): Promise<Seq | undefined>;

  /** Every existing channel, sorted. */
  listChannels(): Promise<string[]>;

  /**
   * Deletes the channel, its records and its checkpoints. Idempotent. Consumers of it opened
   * through this instance are closed.
   */
  dropChannel(channel: string): Promise<void>;

  /** Flushes and releases resources; open consumers are closed. Idempotent. */
  close(): Promise<void>;
}

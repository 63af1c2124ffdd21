/** The message-stream backend: the interface and the two implementations' factories. */
import { EmbeddedMq, type EmbeddedMqOptions } from "./embedded/mq.ts";
import { NatsMq, type NatsMqOptions } from "./nats/mq.ts";
import type { MessageQueue } from "./types.ts";

export type { RetentionCaps } from "./embedded/channel.ts";
export type { EmbeddedMqOptions } from "./embedded/mq.ts";
export type { NatsMqOptions } from "./nats/mq.ts";
export type * from "./types.ts";

/** Opens (creating if needed) the crash-safe file log in `opts.dir`. */
export function openEmbeddedMq(opts: EmbeddedMqOptions): Promise<MessageQueue> {
  return EmbeddedMq.open(opts);
}

/** Connects to NATS JetStream; every stream and subject is namespaced by `opts.prefix`. */
export function openNatsMq(opts: NatsMqOptions): Promise<MessageQueue> {
  return NatsMq.open(opts);
}

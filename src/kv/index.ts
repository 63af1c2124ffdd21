/**
 * The meta store (DESIGN.md §3): the `MetaKv` interface, its two implementations and value
 * helpers. Roles depend on `MetaKv` only; configuration picks the factory.
 */
import { EmbeddedKv, type EmbeddedKvOptions } from "./embedded/store.ts";
import { EtcdKv, type EtcdKvOptions } from "./etcd/store.ts";

export { fromUtf8, utf8 } from "./codec.ts";
export type { EmbeddedKvOptions } from "./embedded/store.ts";
export { EmbeddedKv } from "./embedded/store.ts";
export type { EtcdKvOptions } from "./etcd/store.ts";
export { EtcdKv } from "./etcd/store.ts";
export type * from "./types.ts";

/** Opens (creating if needed) the crash-safe embedded store in `opts.dir`. */
export function openEmbeddedKv(opts: EmbeddedKvOptions): Promise<EmbeddedKv> {
  return EmbeddedKv.open(opts);
}

/** Connects to etcd v3; every key lives under `opts.prefix`. */
export function openEtcdKv(opts: EtcdKvOptions): Promise<EtcdKv> {
  return EtcdKv.open(opts);
}

/**
 * The meta-store backend (DESIGN.md §3): a revisioned key-value store with etcd v3 semantics.
 * Implementations: the embedded crash-safe store and etcd. Both pass `test/kv/contract.ts`.
 *
 * Keys are strings, values bytes. Every successful write (put, delete that removed something,
 * successful txn with writes) advances the store-wide revision by exactly one, as in etcd.
 */

export type LeaseId = string;

export interface KeyValue {
  readonly key: string;
  readonly value: Uint8Array;
  /** Revision of the write that created the key (since its last deletion). */
  readonly createRevision: number;
  /** Revision of the last write to the key. */
  readonly modRevision: number;
  /** Number of writes since creation; 1 after the first put. */
  readonly version: number;
  readonly lease?: LeaseId;
}

export interface PutOptions {
  /** Attach the key to a lease: it vanishes when the lease expires or is revoked. */
  readonly lease?: LeaseId;
}

export type CompareTarget = "value" | "version" | "createRevision" | "modRevision";
export type CompareOp = "==" | "!=" | "<" | ">";

/**
 * A condition on one key. For a missing key, version/createRevision/modRevision are 0 and value
 * comparisons are false (as in etcd).
 */
export type Compare =
  | { readonly key: string; readonly target: "value"; readonly op: CompareOp; readonly value: Uint8Array }
  | {
      readonly key: string;
      readonly target: "version" | "createRevision" | "modRevision";
      readonly op: CompareOp;
      readonly value: number;
    };

export type TxnOp =
  | { readonly type: "put"; readonly key: string; readonly value: Uint8Array; readonly lease?: LeaseId }
  | { readonly type: "delete"; readonly key: string }
  | { readonly type: "deletePrefix"; readonly prefix: string }
  | { readonly type: "get"; readonly key: string };

export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly TxnOp[];
  readonly failure?: readonly TxnOp[];
}

export interface TxnResponse {
  readonly succeeded: boolean;
  /** Store revision after the transaction. */
  readonly revision: number;
  /** One entry per "get" op of the branch taken, in order: the value or undefined. */
  readonly gets: readonly (KeyValue | undefined)[];
}

export interface WatchEvent {
  readonly type: "put" | "delete";
  readonly key: string;
  /** The new value for put; empty for delete. */
  readonly value: Uint8Array;
  readonly modRevision: number;
}

export interface WatchOptions {
  /**
   * Deliver every event with modRevision >= this, including past ones still in history, then
   * live events. Default: only events after the watch is established.
   * @throws StrataError KeyNotFound ("compacted") from `watch()` itself when that history is
   * already gone; nothing is registered then. If compaction overtakes the watch later (etcd,
   * while it was reconnecting), `onError` gets the same error and the watch ends.
   */
  readonly fromRevision?: number;
}

export interface Watcher {
  /** Idempotent; no callback runs after it resolves. */
  close(): Promise<void>;
}

export interface MetaKv {
  get(key: string): Promise<KeyValue | undefined>;

  /** Every key starting with `prefix`, sorted by key (byte order). */
  getPrefix(prefix: string, opts?: { readonly limit?: number }): Promise<KeyValue[]>;

  /** Writes the key; resolves with the new store revision once durable. */
  put(key: string, value: Uint8Array, opts?: PutOptions): Promise<number>;

  /** Deletes the key; resolves true when it existed. */
  delete(key: string): Promise<boolean>;

  /** Deletes every key with the prefix; resolves with how many were deleted. */
  deletePrefix(prefix: string): Promise<number>;

  /**
   * Atomically evaluates every compare; applies `success` when all hold, else `failure`. All
   * writes of the branch share one new revision and are durable when this resolves.
   */
  txn(req: TxnRequest): Promise<TxnResponse>;

  /**
   * Streams events for keys under `prefix`, in revision order, each exactly once, until closed.
   * After a reconnect the watch resumes from the last delivered revision + 1. The events of one
   * revision arrive in one call. `onError` reports failures after establishment (a throwing
   * `onEvent` — the watch goes on; compaction or the store failing — the watch ends).
   */
  watch(
    prefix: string,
    onEvent: (events: readonly WatchEvent[]) => void,
    opts?: WatchOptions & { readonly onError?: (err: Error) => void },
  ): Promise<Watcher>;

  /**
   * Grants a lease; keys attached to it are deleted ttlSeconds after the last keep-alive (etcd
   * raises a TTL below its minimum, about 2 s, to that minimum). Nothing renews it in the
   * background. After a restart of the embedded store a lease starts a fresh full TTL, as in etcd.
   */
  grantLease(ttlSeconds: number): Promise<LeaseId>;

  /** Renews the lease. @throws StrataError LeaseExpired when it already lapsed or was revoked. */
  keepAlive(lease: LeaseId): Promise<void>;

  /** Revokes the lease and deletes its keys. Idempotent. */
  revokeLease(lease: LeaseId): Promise<void>;

  /** The current store revision. */
  revision(): Promise<number>;

  /** Idempotent. Open watchers are closed. */
  close(): Promise<void>;
}

/**
 * The object-store backend (DESIGN.md §3): immutable blobs addressed by '/'-separated keys.
 * Implementations: the local filesystem and S3. Both pass `test/objectstore/contract.ts`.
 */

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
}

export interface ObjectStore {
  /**
   * Stores the object atomically: a reader sees either no object or all of it, never a prefix.
   * Putting an existing key replaces it whole (so a retried put is harmless). Durable on resolve.
   * Keys: non-empty, no leading '/', no '..' or empty segments, no '\0'.
   * @throws StrataError ParameterInvalid for a bad key, IoFailed on backend failure.
   */
  put(key: string, data: Uint8Array): Promise<void>;

  /** The whole object. @throws StrataError KeyNotFound. */
  get(key: string): Promise<Uint8Array>;

  /**
   * `length` bytes from `offset` (fewer when the object ends first).
   * @throws StrataError KeyNotFound, ParameterInvalid for a negative offset/length or an offset past the end.
   */
  getRange(key: string, offset: number, length: number): Promise<Uint8Array>;

  /** Size of the object, or undefined when absent. */
  stat(key: string): Promise<ObjectInfo | undefined>;

  /** Every object whose key starts with `prefix` (at any depth), sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;

  /** Deletes the object. Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;

  /** Releases resources. Idempotent. */
  close(): Promise<void>;
}

/**
 * The object-store backend (DESIGN.md §3): immutable blobs addressed by '/'-separated keys.
 * Implementations: the local filesystem and S3. Both pass `test/objectstore/contract.ts`.
 *
 * Keys (the same rules on every backend, checked before the backend is touched): non-empty, at most
 * 768 UTF-8 bytes (S3's 1024 less room for a namespace prefix), no leading '/', segments non-empty,
 * not '.' or '..', at most 200 UTF-8 bytes each (filesystem-backed servers append to names), no
 * backslash and no control character (U+0000–U+001F, U+007F).
 * Portability: the local store cannot hold both `a/b` and `a/b/c` (a file cannot also be a directory)
 * and rejects the second with ParameterInvalid; S3 allows it. Strata's own layouts never do this.
 */

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
}

export interface ObjectStore {
  /**
   * Stores the object atomically: a reader sees either no object or all of it, never a prefix.
   * Putting an existing key replaces it whole (so a retried put is harmless). Durable on resolve.
   * The bytes are copied (or sent) before resolve; the caller may reuse `data` afterwards.
   * @throws StrataError ParameterInvalid for a bad key (see above) or non-Uint8Array data; nothing is
   *   written. IoFailed on backend failure.
   */
  put(key: string, data: Uint8Array): Promise<void>;

  /**
   * Where the object's bytes sit on the local filesystem, for backends that keep objects as files
   * (so a reader can memory-map them instead of copying). Read-only for callers; the path may be
   * gone once the object is deleted. Undefined on backends without local files. Does not check
   * that the object exists. @throws StrataError ParameterInvalid for a bad key.
   */
  localPath?(key: string): string | undefined;

  /**
   * The whole object, as a plain Uint8Array that owns exactly its bytes (`byteOffset` 0, `.buffer`
   * not shared), so callers may view `.buffer` as other typed arrays. getRange returns the same kind.
   * @throws StrataError KeyNotFound, ParameterInvalid for a bad key, IoFailed.
   */
  get(key: string): Promise<Uint8Array>;

  /**
   * `length` bytes from `offset` (fewer when the object ends first; empty when `offset` equals the
   * size or `length` is 0).
   * @throws StrataError KeyNotFound, ParameterInvalid for a bad key, a negative or non-integer
   *   offset/length, or an offset greater than the size. IoFailed.
   */
  getRange(key: string, offset: number, length: number): Promise<Uint8Array>;

  /** Size of the object, or undefined when absent. @throws StrataError ParameterInvalid, IoFailed. */
  stat(key: string): Promise<ObjectInfo | undefined>;

  /**
   * Every object whose key starts with `prefix` (at any depth; the prefix may end mid-segment, so
   * "a/1" matches "a/1/x" and "a/10/y"; "" lists everything), sorted by the UTF-8 bytes of the key.
   * Not a snapshot: objects put or deleted during the call may or may not appear.
   * @throws StrataError ParameterInvalid when no valid key could start with `prefix`, IoFailed.
   */
  list(prefix: string): Promise<ObjectInfo[]>;

  /**
   * Deletes the object. Idempotent: deleting a missing key succeeds. Deletion is visible on resolve
   * but, on the local store, not forced to disk: after a power loss a deleted object may reappear
   * (deletes are garbage collection; no caller may depend on an object staying gone).
   * @throws StrataError ParameterInvalid for a bad key, IoFailed.
   */
  delete(key: string): Promise<void>;

  /** Releases resources. Idempotent. Any later call throws StrataError Closed. */
  close(): Promise<void>;
}

/** The object-store backend: the interface and its two implementations (DESIGN.md §3). */
export {
  MAX_KEY_BYTES,
  MAX_NAMESPACE_BYTES,
  MAX_SEGMENT_BYTES,
  validateKey,
  validatePrefix,
} from "./keys.ts";
export { type LocalObjectStoreOptions, openLocalObjectStore } from "./local/local-store.ts";
export { openS3ObjectStore, type S3ObjectStoreOptions } from "./s3/s3-store.ts";
export type { ObjectInfo, ObjectStore } from "./types.ts";

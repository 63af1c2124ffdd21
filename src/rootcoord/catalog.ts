import { decodeJsonBytes, encodeJsonBytes } from "../common/json.ts";
import type { MetaKv } from "../kv/types.ts";
import type { CollectionInfo } from "./types.ts";

/** Meta-store keys of the catalogue (docs/write-path.md). */
export const COLLECTION_PREFIX = "rootcoord/collection/";
export const COLLECTION_NAME_PREFIX = "rootcoord/collection-name/";

export const collectionKey = (id: bigint) => `${COLLECTION_PREFIX}${id}`;
export const collectionNameKey = (name: string) => `${COLLECTION_NAME_PREFIX}${name}`;

export interface StoredCollection {
  readonly info: CollectionInfo;
  readonly modRevision: number;
}

export async function loadCatalog(kv: MetaKv): Promise<StoredCollection[]> {
  const entries = await kv.getPrefix(COLLECTION_PREFIX);
  return entries.map((e) => ({
    info: decodeJsonBytes<CollectionInfo>(e.value, `collection record ${e.key}`),
    modRevision: e.modRevision,
  }));
}

export const encodeCollection = (info: CollectionInfo): Uint8Array => encodeJsonBytes(info);
export const decodeCollection = (bytes: Uint8Array): CollectionInfo => decodeJsonBytes<CollectionInfo>(bytes);

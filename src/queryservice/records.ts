/**
 * What the query service persists in the meta store (docs/read-path.md, "Roles and routing"):
 * - `queryservice/collection/<collectionId>`: loaded partitions and the placement (channel → node,
 *   sealed segment → node). Readiness is not persisted: a restarted service sends every placement
 *   again (the node calls are idempotent) and reports states from scratch.
 * - `queryservice/node/<nodeId>`: registered query nodes, re-adopted after a restart when the
 *   resolver still returns them.
 * - `queryservice/querychannel/<n>`: request/result channel pairs made by `createQueryChannel`,
 *   sent to every node that registers later.
 */
import { StrataError } from "../common/errors.ts";
import { decodeJsonBytes, encodeJsonBytes } from "../common/json.ts";
import type { NodeInfo } from "../dataservice/types.ts";
import type { QueryChannels } from "./types.ts";

export const COLLECTION_PREFIX = "queryservice/collection/";
export const NODE_PREFIX = "queryservice/node/";
export const QUERY_CHANNEL_PREFIX = "queryservice/querychannel/";

export const collectionKey = (collectionId: bigint): string => `${COLLECTION_PREFIX}${collectionId}`;
export const nodeKey = (nodeId: number): string => `${NODE_PREFIX}${nodeId}`;
/** Zero-padded so a prefix scan returns the pairs in creation order. */
export const queryChannelKey = (n: number): string => `${QUERY_CHANNEL_PREFIX}${String(n).padStart(10, "0")}`;

/** A sealed segment placed on a node (`null`: waiting for a live node). */
export interface SegmentPlacementRecord {
  readonly segmentId: bigint;
  readonly partitionId: bigint;
  readonly nodeId: number | null;
  /** Bytes of the segment's binlogs: the memory estimate used for placement until the node measures it. */
  readonly sizeBytes: number;
  readonly numRows: number;
}

export interface ChannelPlacementRecord {
  readonly channel: string;
  readonly nodeId: number | null;
}

export interface CollectionRecord {
  readonly collectionId: bigint;
  readonly dbId: bigint;
  /** Partitions asked to be loaded, sorted. */
  readonly partitionIds: readonly bigint[];
  readonly channels: readonly ChannelPlacementRecord[];
  readonly segments: readonly SegmentPlacementRecord[];
}

export interface QueryChannelRecord {
  readonly n: number;
  readonly channels: QueryChannels;
}

export function encodeRecord(r: CollectionRecord | NodeInfo | QueryChannelRecord): Uint8Array {
  return encodeJsonBytes(r);
}

function bad(what: string, key: string): never {
  throw new StrataError("Corrupted", `meta record ${key} is not a valid ${what}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const isNodeRef = (v: unknown): boolean => v === null || (typeof v === "number" && Number.isSafeInteger(v));

export function decodeCollection(key: string, bytes: Uint8Array): CollectionRecord {
  const r = decodeJsonBytes<unknown>(bytes, `collection record ${key}`);
  if (
    !isObj(r) ||
    typeof r.collectionId !== "bigint" ||
    typeof r.dbId !== "bigint" ||
    !Array.isArray(r.partitionIds) ||
    !r.partitionIds.every((p) => typeof p === "bigint") ||
    !Array.isArray(r.channels) ||
    !r.channels.every((c) => isObj(c) && typeof c.channel === "string" && isNodeRef(c.nodeId)) ||
    !Array.isArray(r.segments) ||
    !r.segments.every(
      (s) =>
        isObj(s) &&
        typeof s.segmentId === "bigint" &&
        typeof s.partitionId === "bigint" &&
        isNodeRef(s.nodeId) &&
        typeof s.sizeBytes === "number" &&
        typeof s.numRows === "number",
    )
  ) {
    bad("collection placement", key);
  }
  return r as unknown as CollectionRecord;
}

export function decodeNode(key: string, bytes: Uint8Array): NodeInfo {
  const r = decodeJsonBytes<unknown>(bytes, `node record ${key}`);
  if (!isObj(r) || typeof r.nodeId !== "number" || typeof r.address !== "string") bad("node", key);
  return { nodeId: r.nodeId, address: r.address };
}

export function decodeQueryChannel(key: string, bytes: Uint8Array): QueryChannelRecord {
  const r = decodeJsonBytes<unknown>(bytes, `query channel record ${key}`);
  if (
    !isObj(r) ||
    typeof r.n !== "number" ||
    !isObj(r.channels) ||
    typeof r.channels.requestChannel !== "string" ||
    typeof r.channels.resultChannel !== "string"
  ) {
    bad("query channel pair", key);
  }
  return {
    n: r.n,
    channels: { requestChannel: r.channels.requestChannel, resultChannel: r.channels.resultChannel },
  };
}

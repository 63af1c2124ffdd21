/** The query node role (DESIGN.md §2, §6; docs/read-path.md). */
export type { QueryNodeDeps, QueryNodeOptions } from "./options.ts";
export { createQueryNode } from "./querynode.ts";
export type { SegmentSearch, SegmentTopK } from "./search.ts";
export type {
  Hits,
  LoadSegmentRequest,
  MetricType,
  NodeQueryRequest,
  NodeQueryResult,
  NodeScope,
  NodeSearchRequest,
  NodeSearchResult,
  QueryNode,
  ReleaseSegmentRequest,
} from "./types.ts";
export { decodeWire, encodeWire, type QueryChannelRequest, type QueryChannelResult } from "./wire.ts";

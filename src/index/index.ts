// Exact vector search: metrics, the brute-force scan, the worker pool and the cross-segment merge.
export { decodeBFloat16, decodeFloat16 } from "./decode.ts";
export {
  type ExactSearchRequest,
  type PreparedSearchRequest,
  searchExact,
  searchPrepared,
} from "./exact.ts";
export { mergeTopK, type ScoredPks } from "./merge.ts";
export { checkMetric, isMetricType, largerIsBetter, MAX_TOPK, MetricType, metricsFor } from "./metric.ts";
export { NATIVE_MAX_EXCLUDED, nativeSearch } from "./native.ts";
export { type PoolSearchRequest, SearchPool, type SearchPoolOptions, type SearchPoolStats } from "./pool.ts";
export type { QueryVectors } from "./queries.ts";
export { type PreparedSegment, prepareSegment } from "./segment.ts";
export type { SearchResult } from "./topk.ts";

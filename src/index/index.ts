// Exact vector search: metrics, the brute-force scan, the worker pool and the cross-segment merge.

// Approximate indexes (HNSW through usearch, IVF_FLAT / IVF_SQ8 in TypeScript), their files and worker builds.
export { type BuildOptions, type BuildRequest, buildIndex, buildIndexFile, buildInProcess } from "./build.ts";
export { decodeBFloat16, decodeFloat16 } from "./decode.ts";
export {
  type ExactSearchRequest,
  type PreparedSearchRequest,
  searchExact,
  searchPrepared,
} from "./exact.ts";
export { type HnswConfig, HnswIndex, type HnswOpenOptions, hnswConfig } from "./hnsw.ts";
export {
  type IndexFileInfo,
  indexToBytes,
  loadIndexBytes,
  type OpenIndexOptions,
  openIndexFile,
  verifyIndexBytes,
  verifyIndexFile,
  writeIndexFileSync,
} from "./index-file.ts";
export { IvfIndex, ivfConfig } from "./ivf.ts";
export { mergeTopK, type ScoredPks } from "./merge.ts";
export { checkMetric, isMetricType, largerIsBetter, MAX_TOPK, MetricType, metricsFor } from "./metric.ts";
export { NATIVE_MAX_EXCLUDED, nativeSearch } from "./native.ts";
export { type PoolSearchRequest, SearchPool, type SearchPoolOptions, type SearchPoolStats } from "./pool.ts";
export type { QueryVectors } from "./queries.ts";
export { type PreparedSegment, prepareSegment } from "./segment.ts";
export type { SearchResult } from "./topk.ts";
export {
  countPassing,
  type IndexQueries,
  type IndexSpec,
  isVectorIndexType,
  type SearchParams,
  VECTOR_INDEX_TYPES,
  type VectorIndex,
  type VectorIndexType,
} from "./vector-index.ts";

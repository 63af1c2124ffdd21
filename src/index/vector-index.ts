import { StrataError } from "../common/errors.ts";
import { checkTopk } from "./exact.ts";
import { isMetricType, type MetricType } from "./metric.ts";
import type { SearchResult } from "./topk.ts";

/**
 * The approximate index kinds this module builds. HNSW_SQ is HNSW over quantized vectors (usearch
 * f16 / bf16 / i8 storage), Milvus' name for the same idea.
 */
export type VectorIndexType = "HNSW" | "HNSW_SQ" | "IVF_FLAT" | "IVF_SQ8";

export const VECTOR_INDEX_TYPES: readonly VectorIndexType[] = ["HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_SQ8"];

export function isVectorIndexType(t: unknown): t is VectorIndexType {
  return typeof t === "string" && (VECTOR_INDEX_TYPES as readonly string[]).includes(t);
}

/** Build parameters as they travel (Milvus sends strings); each index parses what it takes. */
export type BuildParams = Readonly<Record<string, number | string>>;

/** Search-time parameters (`ef`, `nprobe`); keys an index does not use are ignored, as in Milvus. */
export type SearchParams = Readonly<Record<string, number>>;

/** What to build: the kind, the metric, the vector dimension (bits for binary vectors) and parameters. */
export interface IndexSpec {
  readonly type: VectorIndexType;
  readonly metric: MetricType;
  readonly dim: number;
  readonly params: BuildParams;
}

/** Query vectors: nq × dim float32 for float metrics, nq × dim/8 bytes for HAMMING/JACCARD. */
export type IndexQueries = Float32Array | Uint8Array;

/**
 * A built, searchable index over one segment's vectors. Rows are named by their offset in the
 * segment (0 .. count-1), so results merge with exact scans of other segments (topk.ts, merge.ts).
 */
export interface VectorIndex {
  readonly type: VectorIndexType;
  readonly metric: MetricType;
  /** Vector dimension; for binary vectors, in bits. */
  readonly dim: number;
  /** Rows indexed. */
  readonly count: number;
  /**
   * Bytes the index holds (or maps, for a memory-mapped file), for load accounting. For usearch
   * indexes it is an estimate: the binding does not report its allocations.
   */
  readonly memoryBytes: number;
  /**
   * Approximate top-k for each of `nq` queries. Scores follow Milvus, as the exact scan: L2 squared
   * distance, IP dot product, COSINE similarity, HAMMING differing bits, JACCARD distance; best
   * first in the metric's direction, ties to the lower offset, padded with offset -1 / score NaN.
   * With `filter` (one byte per row, non-zero = the row may be returned) only passing rows are
   * returned, and the index widens its search so that a selective filter still finds k rows.
   * `filterPassing`, when the caller knows it, is how many rows `filter` passes (it must be exact:
   * the plan trusts it instead of counting). Throws ParameterInvalid, having done nothing, on a
   * bad request; Closed after close().
   */
  search(
    queries: IndexQueries,
    nq: number,
    k: number,
    params?: SearchParams,
    filter?: Uint8Array,
    filterPassing?: number,
  ): SearchResult;
  /**
   * Whether an exact scan of `passing` rows (those a filter lets through) costs less than this
   * index's filtered search for top-`k` with `params`: the caller's per-segment plan for selective
   * filters. Pure arithmetic on the index's shape; never throws for valid numbers.
   */
  prefersExactScan(passing: number, k: number, params?: SearchParams): boolean;
  /** Releases the index; later searches throw Closed. Idempotent. */
  close(): void;
}

export function isBinaryMetric(metric: MetricType): boolean {
  return metric === "HAMMING" || metric === "JACCARD";
}

function bad(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

/** Validates what every index needs from a spec: known type and metric, a sane dim. */
export function checkSpec(spec: IndexSpec): void {
  if (!isVectorIndexType(spec.type)) bad(`unknown vector index type ${JSON.stringify(spec.type)}`);
  if (!isMetricType(spec.metric)) bad(`unknown metric type ${JSON.stringify(spec.metric)}`);
  if (!Number.isInteger(spec.dim) || spec.dim < 1 || spec.dim > 32768) {
    bad(`vector dim must be an integer in [1, 32768], got ${String(spec.dim)}`);
  }
  if (isBinaryMetric(spec.metric) && spec.dim % 8 !== 0) {
    bad(`binary vector dim must be a multiple of 8, got ${spec.dim}`);
  }
}

/** Rows in a vector array of `dim` (bits when `binary`), checking the length divides. */
export function rowsOf(vectors: IndexQueries, dim: number, binary: boolean, what = "vectors"): number {
  if (binary) {
    if (!(vectors instanceof Uint8Array)) bad(`${what} for a binary metric must be a Uint8Array`);
    const B = dim / 8;
    if (vectors.length % B !== 0)
      bad(`${what}: ${vectors.length} bytes is not a whole number of ${B}-byte rows`);
    return vectors.length / B;
  }
  if (!(vectors instanceof Float32Array)) bad(`${what} for a float metric must be a Float32Array`);
  if (vectors.length % dim !== 0)
    bad(`${what}: ${vectors.length} floats is not a whole number of ${dim}-dim rows`);
  return vectors.length / dim;
}

/** Throws ParameterInvalid unless every value is finite (NaN or ±Inf would poison distances). */
export function checkFinite(v: Float32Array, what: string): void {
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x - x !== 0) bad(`${what} holds a non-finite value at ${i}`);
  }
}

/** The common request checks of VectorIndex.search; returns k. */
export function checkSearchArgs(
  index: Pick<VectorIndex, "dim" | "metric" | "count">,
  queries: IndexQueries,
  nq: number,
  k: number,
  filter: Uint8Array | undefined,
): number {
  if (!Number.isInteger(nq) || nq < 1) bad(`nq must be a positive integer, got ${String(nq)}`);
  const topk = checkTopk(k);
  const binary = isBinaryMetric(index.metric);
  const rows = rowsOf(queries, index.dim, binary, "queries");
  if (rows !== nq) bad(`expected ${nq} query vectors of dim ${index.dim} but got ${rows} (dim mismatch?)`);
  if (!binary) checkFinite(queries as Float32Array, "queries");
  if (filter !== undefined) {
    if (!(filter instanceof Uint8Array)) bad("filter must be a Uint8Array");
    if (filter.length !== index.count)
      bad(`filter has ${filter.length} entries for an index of ${index.count} rows`);
  }
  return topk;
}

/** Rows the filter lets through (non-zero bytes), four bytes per step. */
export function countPassing(filter: Uint8Array): number {
  const n = filter.length;
  let total = 0;
  let i = 0;
  if (filter.byteOffset % 4 === 0) {
    const words = n >>> 2;
    const w = new Uint32Array(filter.buffer, filter.byteOffset, words);
    for (let j = 0; j < words; j++) {
      let y = w[j]!;
      if (y === 0) continue;
      // Fold each byte onto its lowest bit (shifts of 4, 2, 1 stay inside the byte for bit 0),
      // then add the four bits with one multiply.
      y |= y >>> 4;
      y |= y >>> 2;
      y |= y >>> 1;
      total += Math.imul(y & 0x01010101, 0x01010101) >>> 24;
    }
    i = words * 4;
  }
  for (; i < n; i++) if (filter[i] !== 0) total++;
  return total;
}

const SAMPLE = 4096;

/**
 * How many rows pass, exactly when it matters and estimated when it does not. Counting is a pass
 * over every row, which for a one-query search of a large segment costs as much as the graph walk
 * itself; so a strided sample of 4096 rows decides first, and only a filter that looks selective
 * (under 1/4 passing, where the count steers the exact-scan choice and can be zero) is counted in
 * full. An estimate is never 0 or n, so callers' "nothing passes" / "everything passes" shortcuts
 * only ever act on exact counts.
 */
export function estimatePassing(filter: Uint8Array): number {
  const n = filter.length;
  if (n <= 4 * SAMPLE) return countPassing(filter);
  let hits = 0;
  for (let i = 0; i < SAMPLE; i++) if (filter[Math.floor(((i + 0.5) * n) / SAMPLE)] !== 0) hits++;
  if (hits * 4 < SAMPLE) return countPassing(filter);
  return Math.min(n - 1, Math.max(1, Math.round((hits / SAMPLE) * n)));
}

/** An integer parameter in [min, max] (strings of digits accepted), or `dflt` when absent. */
export function intParam(
  params: Readonly<Record<string, number | string>> | undefined,
  name: string,
  min: number,
  max: number,
  dflt: number,
  owner: string,
): number {
  const raw = params?.[name];
  if (raw === undefined) return dflt;
  const n = typeof raw === "number" ? raw : /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    bad(`${owner}: ${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

export function closedError(type: string): StrataError {
  return new StrataError("Closed", `${type} index is closed`);
}

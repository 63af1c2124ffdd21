import type { SparseRow } from "../common/column.ts";
import type { FieldColumn } from "../common/msg/index.ts";
import type { FieldSchema } from "../common/schema.ts";
import type { ConsistencyLevel } from "../common/types.ts";
import type { MetricType } from "../querynode/types.ts";
import type { FieldValues } from "./validate.ts";

export type { ConsistencyLevel };

/** Largest topk (offset + limit) and nq, as Milvus. */
export const MAX_TOPK = 16384;
export const MAX_NQ = 16384;

export interface ReadOptions {
  /** Default Bounded (5 s staleness), as Milvus. */
  readonly consistencyLevel?: ConsistencyLevel;
  /** How long to wait for the data to catch up (default 30 s). */
  readonly timeoutMs?: number;
  /** Default: every loaded partition. */
  readonly partitionNames?: readonly string[];
}

export interface SearchRequest extends ReadOptions {
  readonly collectionName: string;
  /** Query vectors: one array per query, or nq × dim in one typed array. */
  readonly data:
    | readonly (readonly number[] | Float32Array | Uint8Array | SparseRow)[]
    | Float32Array
    | Uint8Array;
  /** Vector field to search (default: the collection's only vector field). */
  readonly annsField?: string;
  /** Default L2 for float vectors, HAMMING for binary, IP for sparse. */
  readonly metricType?: MetricType;
  /** Hits per query (default 10). */
  readonly limit?: number;
  readonly offset?: number;
  readonly filter?: string;
  readonly outputFields?: readonly string[];
  /**
   * Search-time index parameters such as `ef` (HNSW) or `nprobe` (IVF_FLAT/IVF_SQ8), checked
   * against the index on the searched field. Keys meant for other index types are ignored, as
   * Milvus ignores them; with no index, or an exact one, every key is ignored.
   */
  readonly params?: Readonly<Record<string, number | string>>;
}

export interface SearchHit {
  readonly id: bigint | string;
  /** Distance (L2 squared, HAMMING, JACCARD: smaller is closer) or similarity (IP, COSINE). */
  readonly score: number;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** A query's result as columns: `rows` rows, one column per output field (schema order). */
export interface QueryColumns {
  readonly output: readonly FieldSchema[];
  readonly columns: readonly FieldColumn[];
  readonly rows: number;
  /** Set (and nothing else) when the query asked for `count(*)` alone. */
  readonly count?: number;
}

export interface QueryRequest extends ReadOptions {
  readonly collectionName: string;
  readonly filter?: string;
  /** Primary keys to get (combined with `filter` by AND when both are given). */
  readonly ids?: FieldValues;
  /** Field names; `["count(*)"]` counts instead. Default: the primary key only. */
  readonly outputFields?: readonly string[];
  readonly limit?: number;
  readonly offset?: number;
}

export type QueryRow = Readonly<Record<string, unknown>>;

export type LoadState = "NotExist" | "NotLoad" | "Loading" | "Loaded";

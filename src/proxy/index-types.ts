import type { MetricType } from "../index/metric.ts";

/** Index build states, named as Milvus' `common.IndexState`. */
export type IndexState = "None" | "Unissued" | "InProgress" | "Finished" | "Failed";

export interface CreateIndexRequest {
  readonly collectionName: string;
  /** Vector field to index (default: the collection's only vector field). */
  readonly fieldName?: string;
  /** Default: the field name, as Milvus. */
  readonly indexName?: string;
  /** FLAT, AUTOINDEX (default), HNSW, IVF_FLAT, … — see `src/index/params.ts`. */
  readonly indexType?: string;
  /** Default: COSINE for float vectors (as Milvus' AUTOINDEX), HAMMING for binary, IP for sparse. */
  readonly metricType?: string;
  /** Build parameters (`M`, `efConstruction`, `nlist`, …); numbers may come as strings from the wire. */
  readonly params?: Readonly<Record<string, string | number | boolean>>;
}

export interface IndexInfo {
  readonly indexId: bigint;
  readonly indexName: string;
  readonly fieldName: string;
  readonly fieldId: number;
  /** As requested (AUTOINDEX stays AUTOINDEX here; `resolvedType` says what it maps to). */
  readonly indexType: string;
  readonly resolvedType: string;
  readonly metricType: MetricType;
  /** Build parameters as strings, as they travel on the wire. */
  readonly params: Readonly<Record<string, string>>;
  readonly state: IndexState;
  /** Rows served by this index (exact types count every flushed and growing row). */
  readonly indexedRows: number;
  readonly totalRows: number;
  readonly pendingRows: number;
  readonly failReason: string;
}

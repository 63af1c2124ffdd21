import type { SparseRow } from "../common/column.ts";
import type { FieldColumn } from "../common/msg/index.ts";
import type { Timestamp } from "../common/timestamp.ts";
import type { ExprPlan } from "../expr/index.ts";
import type {
  DescribePartitionRequest,
  PartitionDescriptions,
  QueryChannels,
  ResourceCost,
} from "../queryservice/types.ts";

export type MetricType = "L2" | "IP" | "COSINE" | "HAMMING" | "JACCARD";

export interface LoadSegmentRequest {
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentIds: readonly bigint[];
  /** Fields to load; empty = every field. RowID (0) and Timestamp (1) are always loaded. */
  readonly fieldIds: readonly number[];
}

export interface ReleaseSegmentRequest {
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentIds: readonly bigint[];
}

/** Which data of one collection a node must read for one request. */
export interface NodeScope {
  readonly collectionId: bigint;
  /** Partitions to read (already resolved; never empty). */
  readonly partitionIds: readonly bigint[];
  /** Sealed segments to read on this node. */
  readonly sealedSegmentIds: readonly bigint[];
  /** Channels whose growing segments to read on this node. */
  readonly channels: readonly string[];
  /** Growing segments NOT to read: their sealed copy is read instead (handoff without double count). */
  readonly excludeGrowing: readonly bigint[];
  /** Snapshot to read: rows with ts ≤ readTs, minus deletes with row ts < delete ts ≤ readTs. */
  readonly readTs: Timestamp;
  /** Wait until every channel in `channels` has tSafe ≥ this (0 = no wait). */
  readonly guaranteeTs: Timestamp;
  /** How long to wait for tSafe before failing with Timeout. */
  readonly timeoutMs: number;
  /** Filter over the collection's fields (already planned against the schema). */
  readonly filter?: ExprPlan;
}

export interface NodeSearchRequest extends NodeScope {
  readonly vectorFieldId: number;
  readonly metric: MetricType;
  /** nq × dim floats, nq × dim/8 bytes (binary), or nq sparse rows. */
  readonly queries: Float32Array | Uint8Array | readonly SparseRow[];
  readonly nq: number;
  /** offset + limit of the user request. */
  readonly topk: number;
  readonly outputFieldIds: readonly number[];
  /**
   * Search-time index parameters (`ef` for HNSW, `nprobe` for IVF), already validated by the proxy.
   * Segments searched exactly ignore them.
   */
  readonly searchParams?: Readonly<Record<string, number>>;
}

/** One query's hits on one node, best first, duplicate primary keys already removed. */
export interface Hits {
  readonly pks: BigInt64Array | readonly string[];
  readonly scores: Float32Array;
  /** Output fields, one row per hit. */
  readonly fields: readonly FieldColumn[];
}

export interface NodeSearchResult {
  /** One per query vector. */
  readonly results: readonly Hits[];
}

export interface NodeQueryRequest extends NodeScope {
  readonly outputFieldIds: readonly number[];
  /** Rows wanted: offset + limit of the user request (undefined = all). */
  readonly limit?: number;
  /** Only count matching rows (`count(*)`). */
  readonly countOnly: boolean;
}

export interface NodeQueryResult {
  readonly count: number;
  /** Matching rows (empty when countOnly), ordered by primary key. */
  readonly pks: BigInt64Array | readonly string[];
  readonly fields: readonly FieldColumn[];
}

/**
 * The QueryNode of the seeds: a collection replica (collections, partitions, sealed and growing
 * segments, tSafe per channel), the manipulation service (the time-ticked flowgraph from DML
 * channels into growing segments, deletes applied, tSafe advanced only at ticks) and the search
 * service (direct calls in standalone; the request/result query channels of the seeds too).
 */
export interface QueryNode {
  /** Registers with the query service. */
  start(): Promise<void>;
  close(): Promise<void>;

  /** Serve search requests arriving on `requestChannel`, answering on `resultChannel`. Idempotent. */
  addQueryChannel(channels: QueryChannels): Promise<void>;
  removeQueryChannel(channels: QueryChannels): Promise<void>;
  /**
   * Replays each channel from its checkpoint into growing segments (skipping segments already
   * flushed), then follows it; tSafe advances at every time tick. Idempotent per channel.
   */
  watchDmChannels(channelIds: readonly string[]): Promise<void>;
  /** Reads the segments' binlogs, PK stats and delta logs from the object store. Idempotent. */
  loadSegments(req: LoadSegmentRequest): Promise<void>;
  /** Frees the segments' memory. Idempotent. */
  releaseSegments(req: ReleaseSegmentRequest): Promise<void>;
  /** States of the partitions as this node sees them, with the memory their segments hold. */
  describePartition(req: DescribePartitionRequest): Promise<PartitionDescriptions>;

  // --- beyond the seeds ---

  /** Stops following the channels and frees their growing segments. Idempotent. */
  releaseDmChannels(channelIds: readonly string[]): Promise<void>;
  /** tSafe of a watched channel (0 before the first tick). */
  tSafe(channel: string): Timestamp;
  /** Measured memory held by loaded data and CPU share used. */
  resourceCost(): ResourceCost;
  /** IDs of sealed segments loaded and growing segments held, for the query service. */
  segments(): {
    readonly sealed: readonly bigint[];
    readonly growing: readonly bigint[];
    /** Rows held per segment (deleted rows included), when the node reports them. */
    readonly rows?: ReadonlyMap<bigint, number>;
    /** Built indexes attached to sealed segments (the rest are searched by a scan). */
    readonly indexes?: ReadonlyMap<
      bigint,
      readonly { readonly fieldId: number; readonly buildId: bigint; readonly indexType: string }[]
    >;
  };

  /** Top-k search over the scope. @throws StrataError Timeout (tSafe), ParameterInvalid. */
  search(req: NodeSearchRequest): Promise<NodeSearchResult>;
  /** Filtered query / count over the scope. */
  query(req: NodeQueryRequest): Promise<NodeQueryResult>;
}

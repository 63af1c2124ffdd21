import type { NodeInfo } from "../dataservice/types.ts";

/** Query node states (seeds). */
export const NodeState = { INITIALIZING: 0, HEALTHY: 1, ABNORMAL: 2 } as const;
export type NodeState = (typeof NodeState)[keyof typeof NodeState];

/** Partition states (seeds' values). */
export const PartitionState = {
  NOT_EXIST: 0,
  NOT_PRESENT: 1,
  ON_DISK: 2,
  PARTIAL_IN_MEMORY: 3,
  IN_MEMORY: 4,
  PARTIAL_IN_GPU: 5,
  IN_GPU: 6,
} as const;
export type PartitionState = (typeof PartitionState)[keyof typeof PartitionState];

/** Measured, not estimated: bytes held by loaded data, and CPU share (0..cores) over the last interval. */
export interface ResourceCost {
  readonly memUsage: number;
  readonly cpuUsage: number;
}

export interface QueryNodeDescription {
  readonly nodeState: NodeState;
  readonly resourceCost: ResourceCost;
}

export interface CollectionDescription {
  readonly collectionId: bigint;
  /** Loaded partitions. */
  readonly partitionIds: readonly bigint[];
}

export interface DbDescription {
  readonly collectionDescriptions: readonly CollectionDescription[];
}

export interface ServiceDescription {
  readonly dbDescriptions: ReadonlyMap<bigint, DbDescription>;
  readonly nodeDescriptions: ReadonlyMap<number, QueryNodeDescription>;
}

export interface DescribePartitionRequest {
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly partitionIds: readonly bigint[];
}

export interface PartitionDescription {
  readonly id: bigint;
  readonly state: PartitionState;
  readonly resourceCost: ResourceCost;
}

export interface PartitionDescriptions {
  readonly partitionDescriptions: readonly PartitionDescription[];
}

export interface LoadPartitionRequest {
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly partitionIds: readonly bigint[];
}

export type ReleasePartitionRequest = LoadPartitionRequest;

export interface QueryChannels {
  readonly requestChannel: string;
  readonly resultChannel: string;
}

export interface QueryInitParams {
  readonly nodeId: number;
  readonly queryChannels: QueryChannels;
}

/** Where a loaded collection's data is served from, for routing a search or query. */
export interface Distribution {
  readonly collectionId: bigint;
  /** Loaded partitions. */
  readonly partitionIds: readonly bigint[];
  /** Each DML channel is watched by exactly one node, which holds its growing segments. */
  readonly channels: readonly { readonly channel: string; readonly nodeId: number }[];
  /** Sealed (flushed) segments and the node serving each. */
  readonly sealed: readonly {
    readonly segmentId: bigint;
    readonly partitionId: bigint;
    readonly nodeId: number;
  }[];
}

/**
 * The Query Service of the seeds: query-node registry and states, load/release of partitions
 * with their states, segment → node placement, handoff of newly flushed segments, query channels.
 */
export interface QueryService {
  start(): Promise<void>;
  close(): Promise<void>;

  /** A query node joins (idempotent per nodeId); it receives work at the next placement pass. */
  registerNode(req: NodeInfo): Promise<QueryInitParams>;
  /** Per node: state and measured resource cost; per database: collections and loaded partitions. */
  describeService(): Promise<ServiceDescription>;
  /** States (NOT_EXIST for unknown partitions) and resource cost per partition. */
  describePartition(req: DescribePartitionRequest): Promise<PartitionDescriptions>;
  /**
   * Starts loading: every flushed segment of the partitions is placed on a query node
   * (`loadSegments`) and every DML channel of the collection is watched by one node
   * (`watchDmChannels`). Returns once placement is decided and persisted; states move
   * NOT_PRESENT → ON_DISK → PARTIAL_IN_MEMORY → IN_MEMORY as nodes report. Idempotent.
   * @throws StrataError CollectionNotFound, PartitionNotFound, ServiceUnavailable (no query node)
   */
  loadPartitions(req: LoadPartitionRequest): Promise<void>;
  /** Frees the partitions' memory on every node (channels too when no partition stays loaded). Idempotent. */
  releasePartitions(req: ReleasePartitionRequest): Promise<void>;
  /** A fresh request/result channel pair for the seeds' search-over-channels transport. */
  createQueryChannel(): Promise<QueryChannels>;
  getTimeTickChannel(): Promise<string>;
  getStatsChannel(): Promise<string>;

  // --- beyond the seeds ---

  /** Current distribution of a loaded collection. @throws StrataError CollectionNotLoaded */
  getDistribution(collectionId: bigint): Promise<Distribution>;
}

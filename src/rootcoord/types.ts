import type { CollectionSchema, CollectionSchemaInput } from "../common/schema.ts";
import type { Timestamp } from "../common/timestamp.ts";
import type { ConsistencyLevel } from "../common/types.ts";

export const DEFAULT_PARTITION = "_default";
export const DEFAULT_SHARDS = 2;
export const MAX_SHARDS = 16;
export const MAX_PARTITIONS = 1024;

export interface PartitionInfo {
  readonly partitionId: bigint;
  readonly name: string;
  readonly createTs: Timestamp;
}

export interface CollectionInfo {
  readonly collectionId: bigint;
  readonly dbId: bigint;
  readonly schema: CollectionSchema;
  readonly shardsNum: number;
  /** DML channel names, one per shard, index = shard. */
  readonly channels: readonly string[];
  readonly partitions: readonly PartitionInfo[];
  readonly createTs: Timestamp;
  /** Default read consistency for clients that ask for the collection's level (Milvus' default Bounded). */
  readonly consistencyLevel?: ConsistencyLevel;
  /** Free-form collection properties, kept and returned as given. */
  readonly properties?: Readonly<Record<string, string>>;
}

export interface CreateCollectionRequest {
  readonly schema: CollectionSchemaInput;
  /** Default 2, at most 16. */
  readonly shardsNum?: number;
  readonly consistencyLevel?: ConsistencyLevel;
  readonly properties?: Readonly<Record<string, string>>;
}

/** Per DML channel, the largest timestamp a proxy has fully published (everything ≤ it is durable in the channel). */
export interface ChannelTimeTick {
  readonly channel: string;
  readonly timestamp: Timestamp;
}

export interface ProxyTimeTickReport {
  readonly proxyId: number;
  /** Channels with batches in flight: the largest timestamp below every in-flight batch. */
  readonly ticks: readonly ChannelTimeTick[];
  /**
   * For every channel not in `ticks`: the proxy will publish nothing with a timestamp ≤ this
   * (a fresh TSO timestamp taken under the lock that also stamps batches).
   */
  readonly defaultTimestamp: Timestamp;
}

/**
 * The root coordinator: catalogue of collections and partitions (persisted in the meta store,
 * announced on the DD channel), the timestamp oracle, the ID allocator and the merging of proxies'
 * time ticks into the DML channels.
 *
 * DDL calls are idempotent in outcome where the name says so (`has*`, `describe*`); create calls
 * fail on duplicates and drop calls fail on missing objects, each with a typed error and no change.
 */
export interface RootCoord {
  start(): Promise<void>;
  close(): Promise<void>;

  /**
   * Validates the schema, allocates IDs and channels, creates the `_default` partition, persists
   * the collection in one meta transaction, announces it on the DD channel, then tells the
   * dataservice to watch its channels.
   * @throws StrataError CollectionIllegalSchema / ParameterInvalid (bad schema or shards),
   *   ParameterInvalid "already exists" for a duplicate name.
   */
  createCollection(req: CreateCollectionRequest): Promise<CollectionInfo>;
  /** @throws StrataError CollectionNotFound */
  dropCollection(name: string): Promise<void>;
  hasCollection(name: string): Promise<boolean>;
  /** By name or ID. @throws StrataError CollectionNotFound */
  describeCollection(nameOrId: string | bigint): Promise<CollectionInfo>;
  /** Collection names, sorted. */
  showCollections(): Promise<string[]>;

  /** @throws StrataError CollectionNotFound, ParameterInvalid for a duplicate or bad name or too many partitions. */
  createPartition(collection: string, partition: string): Promise<PartitionInfo>;
  /** @throws StrataError CollectionNotFound, PartitionNotFound, ParameterInvalid for `_default`. */
  dropPartition(collection: string, partition: string): Promise<void>;
  hasPartition(collection: string, partition: string): Promise<boolean>;
  showPartitions(collection: string): Promise<PartitionInfo[]>;

  /** `count` consecutive timestamps; returns the first. */
  allocTimestamp(count?: number): Promise<Timestamp>;
  /** `count` fresh IDs [start, start + count). */
  allocID(count: number): Promise<{ start: bigint; count: number }>;

  /** A proxy joins the time-tick merge; its ticks count until it is unregistered (or its session lapses). */
  registerProxy(proxyId: number): Promise<void>;
  unregisterProxy(proxyId: number): Promise<void>;
  /** Records a proxy's per-channel published timestamps (monotonic per proxy and channel). */
  updateChannelTimeTick(report: ProxyTimeTickReport): Promise<void>;

  /** Name of the DD channel that carries DDL messages. */
  getDdChannel(): Promise<string>;
}

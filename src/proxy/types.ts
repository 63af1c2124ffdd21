import type { Timestamp } from "../common/timestamp.ts";
import type { CollectionInfo, CreateCollectionRequest, PartitionInfo } from "../rootcoord/types.ts";
import type { CreateIndexRequest, IndexInfo } from "./index-types.ts";
import type {
  LoadState,
  QueryColumns,
  QueryRequest,
  QueryRow,
  SearchHit,
  SearchRequest,
} from "./read-types.ts";
import type { FieldValues, InsertData } from "./validate.ts";

export interface InsertRequest {
  readonly collectionName: string;
  /** Default `_default`. */
  readonly partitionName?: string;
  readonly data: InsertData;
}

export interface DeleteRequest {
  readonly collectionName: string;
  /** Default: every partition. */
  readonly partitionName?: string;
  /** Primary keys to delete (or `filter`). */
  readonly pks?: FieldValues;
  /** Delete every row matching this expression (resolved to keys with a Strong query). */
  readonly filter?: string;
}

export interface MutationResult {
  /** Primary keys written (insert/upsert) or targeted (delete), in input order. */
  readonly ids: BigInt64Array | readonly string[];
  /** The batch's timestamp: a Session-consistent read after it sees the batch. */
  readonly timestamp: Timestamp;
  readonly count: number;
}

export interface FlushOptions {
  /** Wait until every sealed segment is FLUSHED (default true). */
  readonly wait?: boolean;
  /** Default 60 s. */
  readonly timeoutMs?: number;
}

/**
 * The client front door (the embedded API and, later, the Milvus gRPC and REST services sit on
 * it). Every mutation is validated in full before anything is written and acknowledged only
 * once every message of the batch is durable in the log.
 */
export interface ProxyService {
  start(): Promise<void>;
  close(): Promise<void>;

  createCollection(req: CreateCollectionRequest): Promise<CollectionInfo>;
  dropCollection(name: string): Promise<void>;
  hasCollection(name: string): Promise<boolean>;
  describeCollection(name: string): Promise<CollectionInfo>;
  listCollections(): Promise<string[]>;
  createPartition(collection: string, partition: string): Promise<PartitionInfo>;
  dropPartition(collection: string, partition: string): Promise<void>;
  hasPartition(collection: string, partition: string): Promise<boolean>;
  listPartitions(collection: string): Promise<PartitionInfo[]>;

  /**
   * @throws StrataError ParameterInvalid / ParameterTooLarge (nothing written),
   *   CollectionNotFound, PartitionNotFound; a system error means some shards' messages may be
   *   durable (see docs/write-path.md).
   */
  insert(req: InsertRequest): Promise<MutationResult>;
  /** Replaces rows by primary key (the key must be given, even with auto-ID). */
  upsert(req: InsertRequest): Promise<MutationResult>;
  delete(req: DeleteRequest): Promise<MutationResult>;
  /** Seals the collections' growing segments and (by default) waits until they are FLUSHED. */
  flush(collectionNames: readonly string[], opts?: FlushOptions): Promise<{ segmentIds: bigint[] }>;

  /**
   * True once every given segment is FLUSHED (or DROPPED, or unknown: a dropped collection's
   * segments count as done). An empty list is flushed.
   */
  flushState(segmentIds: readonly bigint[]): Promise<boolean>;
  /** Rows inserted into the collection (or one partition), deletes not subtracted, as Milvus. */
  statistics(collection: string, partition?: string): Promise<{ rowCount: number }>;

  /**
   * Records an index definition on a vector field. Idempotent for an identical definition.
   * @throws StrataError ParameterInvalid (unknown type, bad metric or parameter, a different
   *   index already on the field or a name in use), CollectionNotFound, FieldNotFound.
   */
  createIndex(req: CreateIndexRequest): Promise<void>;
  /**
   * The collection's indexes, or only the one whose index name (or field name) is given.
   * @throws StrataError IndexNotFound when there is none, CollectionNotFound.
   */
  describeIndex(collection: string, indexName?: string): Promise<IndexInfo[]>;
  /** @throws StrataError IndexNotFound, CollectionNotFound; ParameterInvalid while loaded. */
  dropIndex(collection: string, indexName?: string): Promise<void>;

  /** Loads partitions (default all) into query nodes and waits until they serve. */
  load(collection: string, partitions?: readonly string[], timeoutMs?: number): Promise<void>;
  /**
   * Starts loading and returns once the query service accepted it; poll `loadProgress`.
   * Idempotent: loading what is loaded is a no-op.
   */
  beginLoad(collection: string, partitions?: readonly string[]): Promise<void>;
  /**
   * 0–100; 100 once every given partition (default: the loaded ones, or all when none is) is
   * served and caught up with writes acknowledged before `beginLoad`.
   * @throws StrataError CollectionNotFound, PartitionNotFound, CollectionNotLoaded if never loaded.
   */
  loadProgress(collection: string, partitions?: readonly string[]): Promise<number>;
  release(collection: string, partitions?: readonly string[]): Promise<void>;
  /** The collection's (or the given partitions') load state; NotExist for an unknown collection. */
  loadState(collection: string, partitions?: readonly string[]): Promise<LoadState>;
  /** @throws StrataError CollectionNotLoaded, ParameterInvalid, Timeout (consistency wait). */
  search(req: SearchRequest): Promise<SearchHit[][]>;
  query(req: QueryRequest): Promise<QueryRow[]>;
  /** The same query's result as columns (the front door encodes them without per-row objects). */
  queryColumns(req: QueryRequest): Promise<QueryColumns>;
}

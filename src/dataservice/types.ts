import type { Timestamp } from "../common/timestamp.ts";

/** Segment states: the seeds' values (0–3) plus the states the shipped design needed (4–6). */
export const SegmentState = {
  NONE: 0,
  NOT_EXIST: 1,
  GROWING: 2,
  SEALED: 3,
  FLUSHED: 4,
  FLUSHING: 5,
  DROPPED: 6,
} as const;
export type SegmentState = (typeof SegmentState)[keyof typeof SegmentState];

export interface NodeInfo {
  readonly nodeId: number;
  /** Where the node can be reached in cluster mode; empty in standalone. */
  readonly address: string;
}

export interface InitParams {
  readonly nodeId: number;
  readonly timeTickChannel: string;
  readonly statsChannel: string;
}

export interface SegIDRequest {
  readonly count: number;
  readonly channelName: string;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
}

export interface AssignSegIDRequest {
  readonly perChannelRequest: readonly SegIDRequest[];
}

export interface SegIDAssignment {
  readonly segId: bigint;
  readonly channelName: string;
  readonly count: number;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  /** Rows may be written to the segment under this assignment only with timestamps ≤ this. */
  readonly expireTime: Timestamp;
}

export interface AssignSegIDResponse {
  /** One or more assignments per request (a request larger than one segment's room is split). */
  readonly perChannelResponse: readonly SegIDAssignment[];
}

export interface FlushRequest {
  readonly dbId: bigint;
  readonly collectionId: bigint;
}

export interface FlushResponse {
  /** Segments sealed by this call (plus those already sealed/flushing); poll `getSegmentStates` for FLUSHED. */
  readonly segmentIds: readonly bigint[];
}

export interface ShowSegmentRequest {
  readonly collectionId: bigint;
  readonly partitionId: bigint;
}

export interface ShowSegmentResponse {
  readonly segmentIds: readonly bigint[];
}

export interface SegmentStatesRequest {
  readonly segmentId: bigint;
}

export interface SegmentStatesResponse {
  readonly state: SegmentState;
  readonly createTime: Timestamp;
  /** 0 until sealed. */
  readonly sealedTime: Timestamp;
  /** Rows known to the dataservice (from data node statistics, final once FLUSHED). */
  readonly numRows: number;
}

export interface InsertBinlogPathRequest {
  readonly segmentId: bigint;
}

export interface InsertBinlogPathsResponse {
  /** Field ID (0 RowID, 1 Timestamp, user fields ≥ 100) → object keys, in write order. */
  readonly fieldIdToPaths: ReadonlyMap<number, readonly string[]>;
}

export interface InsertChannelRequest {
  readonly dbId: bigint;
  readonly collectionId: bigint;
}

/** One persisted log file. */
export interface Binlog {
  readonly path: string;
  readonly entries: number;
  readonly timestampFrom: Timestamp;
  readonly timestampTo: Timestamp;
  readonly size: number;
}

export interface FieldBinlogs {
  readonly fieldId: number;
  readonly binlogs: readonly Binlog[];
}

/** A position in a DML channel: everything at or before `seq` is accounted for. */
export interface ChannelCheckpoint {
  readonly channel: string;
  readonly seq: number;
  readonly timestamp: Timestamp;
}

/** Everything the dataservice knows about one segment (persisted in the meta store). */
export interface SegmentInfo {
  readonly segmentId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly channel: string;
  readonly state: SegmentState;
  readonly createTime: Timestamp;
  readonly sealedTime: Timestamp;
  /** Rows in binlogs plus rows the data node reported as buffered. */
  readonly numRows: number;
  /** Rows in binlogs only. */
  readonly persistedRows: number;
  readonly maxRows: number;
  /** Largest expireTime of any assignment handed out for this segment. */
  readonly lastExpireTime: Timestamp;
  /**
   * Seq up to which the channel's rows and deletes for this segment are in its binlogs and delta
   * logs (0: none). Keeps moving after the flush as deletes of its rows are persisted.
   */
  readonly persistedSeq: number;
  readonly binlogs: readonly FieldBinlogs[];
  readonly statslogs: readonly FieldBinlogs[];
  readonly deltalogs: readonly Binlog[];
}

export interface SaveBinlogPathsRequest {
  readonly nodeId: number;
  readonly segmentId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly channel: string;
  /** New files of this sync, appended to what the segment already has (only deltalogs on a FLUSHED one). */
  readonly fieldBinlogs: readonly FieldBinlogs[];
  readonly statslogs: readonly FieldBinlogs[];
  readonly deltalogs: readonly Binlog[];
  /** Rows in binlogs after this sync (all syncs of the segment so far). */
  readonly persistedRows: number;
  readonly persistedSeq: number;
  /** The channel checkpoint to commit with it (only moves forward). */
  readonly checkpoint: ChannelCheckpoint;
  /** True when this is the final sync of a FLUSHING segment: it becomes FLUSHED. */
  readonly flushed: boolean;
}

/** What a data node needs to (re)start consuming a channel exactly once. */
export interface VChannelInfo {
  readonly collectionId: bigint;
  readonly channel: string;
  /** Resume after this position (seq 0: from the start). */
  readonly checkpoint: ChannelCheckpoint;
  /** Segments of this channel not DROPPED, with their persisted positions. */
  readonly segments: readonly SegmentInfo[];
}

/** An index definition on one vector field (persisted; builds and states hang off it). */
export interface IndexDefinition {
  readonly indexId: bigint;
  readonly collectionId: bigint;
  readonly fieldId: number;
  readonly indexName: string;
  /** As the user asked (e.g. AUTOINDEX). */
  readonly indexType: string;
  /** What is built and served (e.g. HNSW, FLAT). */
  readonly resolvedType: string;
  readonly metricType: string;
  /** Validated build parameters with defaults filled in. */
  readonly params: Readonly<Record<string, string>>;
  readonly createTime: Timestamp;
}

export type NewIndexDefinition = Omit<IndexDefinition, "indexId" | "createTime">;

/**
 * States of one segment's index build, Milvus' IndexState names: Unissued (waiting for an index
 * node), InProgress (handed to `nodeId`), Finished (the file is written and recorded), Failed (given
 * up: bad data or parameters, or too many failed attempts; the segment stays served by a scan).
 */
export type BuildState = "Unissued" | "InProgress" | "Finished" | "Failed";

/** The build of one index on one flushed segment (persisted; survives restarts). */
export interface SegmentIndexBuild {
  readonly buildId: bigint;
  readonly indexId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly fieldId: number;
  /** Rows indexed (the flushed segment's rows). */
  readonly rows: number;
  readonly state: BuildState;
  /** Attempt number (0 before the first hand-out); each attempt writes its own file. */
  readonly version: number;
  /** Index node of the current attempt (0 when none). */
  readonly nodeId: number;
  /** Object key of the index file (Finished), else "". */
  readonly fileKey: string;
  readonly fileSize: number;
  readonly failReason: string;
  /** Failed attempts so far. */
  readonly failures: number;
}

export interface IndexBuildsDescription {
  readonly builds: readonly SegmentIndexBuild[];
  /** Flushed segments with fewer rows get no build (a scan serves them). */
  readonly minRows: number;
}

/** A finished index of one segment: what a query node loads instead of the raw vectors. */
export interface SegmentIndexFile {
  readonly segmentId: bigint;
  readonly fieldId: number;
  readonly indexId: bigint;
  readonly buildId: bigint;
  /** The resolved type built (HNSW, IVF_FLAT, …). */
  readonly indexType: string;
  readonly metricType: string;
  readonly fileKey: string;
  readonly fileSize: number;
  readonly rows: number;
}

/** Statistics a data node reports for a channel after each time tick it processed. */
export interface ChannelTickReport {
  readonly nodeId: number;
  readonly channel: string;
  readonly collectionId: bigint;
  /** Everything with timestamp ≤ this has been consumed from the channel. */
  readonly timestamp: Timestamp;
  readonly seq: number;
  /** Current row count (persisted + buffered) of every segment that has rows on this channel. */
  readonly segments: readonly { readonly segmentId: bigint; readonly numRows: number }[];
}

/**
 * The Data Service of the seeds (`Client` interface), plus the calls the data node and root
 * coordinator need (`saveBinlogPaths`, `getVChannelInfo`, `watchChannels`, `dropCollection`).
 *
 * Only the dataservice writes segment meta. Segment states move GROWING → SEALED → FLUSHING →
 * FLUSHED (or DROPPED) and never back.
 */
export interface DataService {
  start(): Promise<void>;
  close(): Promise<void>;

  /** A data node joins; channels without a live node are assigned to it. Idempotent per nodeId. */
  registerNode(req: NodeInfo): Promise<InitParams>;

  /**
   * Assigns rows to GROWING segments per (channel, partition), opening new segments as needed,
   * each assignment valid until its `expireTime` (now + assignment expiration).
   * @throws StrataError CollectionNotFound, ChannelNotFound, ParameterInvalid (count ≤ 0).
   */
  assignSegmentID(req: AssignSegIDRequest): Promise<AssignSegIDResponse>;

  /**
   * Seals every GROWING segment of the collection. Sealed segments are flushed once the channel's
   * time tick passes their last assignment's expiry; poll `getSegmentStates`.
   */
  flush(req: FlushRequest): Promise<FlushResponse>;

  /** Segments of one partition (every state except NONE/NOT_EXIST; DROPPED excluded). */
  showSegments(req: ShowSegmentRequest): Promise<ShowSegmentResponse>;

  /** State of one segment; NOT_EXIST for an unknown ID. */
  getSegmentStates(req: SegmentStatesRequest): Promise<SegmentStatesResponse>;

  /** @throws StrataError SegmentNotFound */
  getInsertBinlogPaths(req: InsertBinlogPathRequest): Promise<InsertBinlogPathsResponse>;

  /** DML channels of the collection. @throws StrataError CollectionNotFound */
  getInsertChannels(req: InsertChannelRequest): Promise<string[]>;

  /** Channel on which data nodes report their per-channel time ticks (`ChannelTickReport`). */
  getTimeTickChannel(): Promise<string>;

  /** Channel on which data nodes publish segment statistics. */
  getStatsChannel(): Promise<string>;

  // --- beyond the seeds ---

  /** Full segment info (for recovery, the query service and tests). @throws StrataError SegmentNotFound */
  getSegmentInfo(segmentId: bigint): Promise<SegmentInfo>;

  /**
   * Commits one sync of a data node: the new binlog paths, the segment's persisted position and
   * the channel checkpoint, in one meta transaction. Idempotent for a retried identical request.
   *
   * A FLUSHED segment accepts only a delta-only save (deletes of its rows that arrived after the
   * flush): no field binlogs, no stats logs, `flushed=false`, `persistedRows` equal to the final
   * row count, at least one delta log, and `persistedSeq` past the committed one. It appends the
   * delta logs and advances `persistedSeq` and the checkpoint (forward only) together; the segment
   * stays FLUSHED.
   * @throws StrataError SegmentNotFound; ParameterInvalid when the segment is DROPPED, the request
   *   is anything but a delta-only save on a FLUSHED segment, a position or row count goes
   *   backwards, or the node does not own the channel.
   */
  saveBinlogPaths(req: SaveBinlogPathsRequest): Promise<void>;

  /** Where a data node must resume `channel`. @throws StrataError ChannelNotFound */
  getVChannelInfo(channel: string): Promise<VChannelInfo>;

  /** Rootcoord announces a new collection's channels; the dataservice assigns them to data nodes. */
  watchChannels(collectionId: bigint, channels: readonly string[]): Promise<void>;

  /** Marks every segment of the collection DROPPED, releases its channels and drops its indexes. */
  dropCollection(collectionId: bigint): Promise<void>;

  /**
   * Records an index definition (validated by the caller). Idempotent: an identical definition
   * returns the existing one.
   * @throws StrataError ParameterInvalid when the field already has a different index or the name
   *   is taken; CollectionNotFound.
   */
  createIndex(def: NewIndexDefinition): Promise<IndexDefinition>;
  /** Index definitions of a collection (empty when none). */
  describeIndexes(collectionId: bigint): Promise<IndexDefinition[]>;
  /** @throws StrataError IndexNotFound */
  dropIndex(collectionId: bigint, indexName: string): Promise<void>;
  /**
   * Index builds of a collection's segments (every state), for describeIndex progress. Segments
   * too small to index (below the build threshold) have none and are served by a scan.
   */
  describeIndexBuilds(collectionId: bigint): Promise<IndexBuildsDescription>;
  /**
   * Finished index files of the given segments (one per segment and indexed field). Segments
   * without a finished index are absent. Unknown segment IDs are ignored.
   */
  getSegmentIndexes(segmentIds: readonly bigint[]): Promise<SegmentIndexFile[]>;
  /**
   * A reader found the finished index file `fileKey` of build `buildId` unusable (failed its
   * checksum): the file is deleted and the build handed out again. Ignored unless that file is
   * still the build's finished file, so repeated or late reports are harmless.
   */
  reportIndexFault(buildId: bigint, fileKey: string, reason: string): Promise<void>;
  /** Segments of a collection (every state but DROPPED), for statistics and index progress. */
  listSegments(collectionId: bigint): Promise<SegmentInfo[]>;
}

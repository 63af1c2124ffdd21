import type { DataType } from "../common/types.ts";

/** One index build of one segment's vector field, as the dataservice hands it out. */
export interface BuildJob {
  readonly buildId: bigint;
  /** Attempt number: a job re-issued after a failure or a lost node gets the next one. */
  readonly version: number;
  readonly collectionId: bigint;
  readonly segmentId: bigint;
  readonly fieldId: number;
  readonly dataType: DataType;
  /** Vector dimension (bits for binary vectors). */
  readonly dim: number;
  /** The type to build (resolved: HNSW, IVF_FLAT, IVF_SQ8, HNSW_SQ). */
  readonly indexType: string;
  readonly metricType: string;
  /** Validated build parameters. */
  readonly params: Readonly<Record<string, string>>;
  /** The field's binlog keys in write order; row i of their concatenation gets offset i. */
  readonly binlogs: readonly string[];
  /** Rows the binlogs must hold together. */
  readonly rows: number;
  /** Object key the finished index file is written to (one put, after the build succeeded). */
  readonly fileKey: string;
}

export type JobState = "Queued" | "InProgress" | "Finished" | "Failed" | "Unknown";

export interface JobStatus {
  readonly buildId: bigint;
  readonly version: number;
  /** Unknown: the node has no such job (it restarted, or the job was dropped). */
  readonly state: JobState;
  /** Bytes of the written index file (Finished). */
  readonly fileSize: number;
  /** Why it failed (Failed). */
  readonly failReason: string;
  /** False when retrying cannot help (bad data, bad parameters). */
  readonly retriable: boolean;
}

/**
 * An index node: builds vector indexes of flushed segments off the event loop (one worker thread
 * per build) and writes them to the object store. It keeps no durable state: the dataservice owns
 * the task records and re-issues whatever a restarted node no longer knows.
 */
export interface IndexNode {
  start(): Promise<void>;
  /** Aborts running builds (their workers are terminated) and forgets every job. Idempotent. */
  close(): Promise<void>;
  readonly nodeId: number;
  /**
   * Queues a build. Idempotent per (buildId, version); a newer version of a known build replaces
   * the older one (which is aborted). Returns once queued, not built.
   * @throws StrataError ParameterInvalid for a malformed job; Closed after close().
   */
  createJob(job: BuildJob): Promise<void>;
  /** States of the given builds (Unknown for a build this node does not have). */
  queryJobs(buildIds: readonly bigint[]): Promise<JobStatus[]>;
  /** Aborts and forgets the builds. Files already written stay (the dataservice deletes them). Idempotent. */
  dropJobs(buildIds: readonly bigint[]): Promise<void>;
  /** Builds running and waiting, and how many may run at once. */
  stats(): { readonly running: number; readonly queued: number; readonly slots: number };
}

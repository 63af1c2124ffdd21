import { StrataError } from "../common/errors.ts";

export interface DataServiceOptions {
  /** A segment is sealed once its reported rows reach segmentMaxBytes / estimated row bytes. Default 512 MiB. */
  readonly segmentMaxBytes?: number;
  /** How long an assignment stays valid after it was handed out. Default 2000 ms. */
  readonly assignmentExpirationMs?: number;
  /** A GROWING segment older than this is sealed. Default 24 h. */
  readonly segmentMaxLifetimeMs?: number;
  /** A GROWING segment with rows and no new assignment for this long is sealed. Default 10 min. */
  readonly segmentMaxIdleMs?: number;
  /** Period of the background pass: seal policies, node liveness, channel watches, row-count persistence. Default 1000 ms. */
  readonly sealCheckIntervalMs?: number;
  /** TTL of a data node's session lease. Default 10 s. */
  readonly nodeSessionTtlSeconds?: number;
  /** Least time between two `flush` calls to a node for a segment stuck in FLUSHING. Default 1000 ms. */
  readonly flushRetryIntervalMs?: number;
  /** Channel on which data nodes report per-channel ticks. Default "datanode_tt". */
  readonly timeTickChannel?: string;
  /** Channel on which data nodes publish statistics. Default "datanode_stats". */
  readonly statsChannel?: string;
  /** Name of the durable consumer checkpoint on the tick channel. Default "dataservice". */
  readonly consumerName?: string;
  /** Flushed segments with fewer rows get no index build (a scan serves them). Default 1024. */
  readonly indexMinRows?: number;
  /** How often index builds are handed out and polled. Default 500 ms. */
  readonly indexPollMs?: number;
}

export type ResolvedOptions = Required<DataServiceOptions>;

export const DEFAULT_OPTIONS: ResolvedOptions = {
  segmentMaxBytes: 512 * 1024 * 1024,
  assignmentExpirationMs: 2000,
  segmentMaxLifetimeMs: 24 * 3600 * 1000,
  segmentMaxIdleMs: 10 * 60 * 1000,
  sealCheckIntervalMs: 1000,
  nodeSessionTtlSeconds: 10,
  flushRetryIntervalMs: 1000,
  timeTickChannel: "datanode_tt",
  statsChannel: "datanode_stats",
  consumerName: "dataservice",
  indexMinRows: 1024,
  indexPollMs: 500,
};

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new StrataError("ConfigInvalid", `dataservice option ${name} must be a positive integer, got ${v}`);
  }
  return v;
}

function channelName(name: string, v: string): string {
  if (typeof v !== "string" || !/^[A-Za-z0-9_-]{1,200}$/.test(v)) {
    throw new StrataError(
      "ConfigInvalid",
      `dataservice option ${name} needs 1..200 chars of [A-Za-z0-9_-]: ${v}`,
    );
  }
  return v;
}

/** @throws StrataError ConfigInvalid naming the bad option. */
export function resolveOptions(o: DataServiceOptions): ResolvedOptions {
  const r = { ...DEFAULT_OPTIONS, ...o };
  positiveInt("segmentMaxBytes", r.segmentMaxBytes);
  positiveInt("assignmentExpirationMs", r.assignmentExpirationMs);
  positiveInt("segmentMaxLifetimeMs", r.segmentMaxLifetimeMs);
  positiveInt("segmentMaxIdleMs", r.segmentMaxIdleMs);
  positiveInt("sealCheckIntervalMs", r.sealCheckIntervalMs);
  positiveInt("nodeSessionTtlSeconds", r.nodeSessionTtlSeconds);
  positiveInt("flushRetryIntervalMs", r.flushRetryIntervalMs);
  positiveInt("indexMinRows", r.indexMinRows);
  positiveInt("indexPollMs", r.indexPollMs);
  channelName("timeTickChannel", r.timeTickChannel);
  channelName("statsChannel", r.statsChannel);
  if (r.timeTickChannel === r.statsChannel) {
    throw new StrataError("ConfigInvalid", "dataservice timeTickChannel and statsChannel must differ");
  }
  channelName("consumerName", r.consumerName);
  return r;
}

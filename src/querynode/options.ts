import { availableParallelism } from "node:os";
import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { DataService } from "../dataservice/types.ts";
import type { SearchPool } from "../index/index.ts";
import type { MessageQueue } from "../mq/types.ts";
import type { ObjectStore } from "../objectstore/types.ts";
import type { QueryService } from "../queryservice/types.ts";
import type { RootCoord } from "../rootcoord/types.ts";
import type { SegmentSearch } from "./search.ts";

export interface QueryNodeDeps {
  readonly nodeId: number;
  readonly mq: MessageQueue;
  readonly objects: ObjectStore;
  readonly dataservice: Pick<
    DataService,
    "getVChannelInfo" | "getSegmentInfo" | "showSegments" | "getSegmentIndexes" | "reportIndexFault"
  >;
  readonly rootcoord: Pick<RootCoord, "describeCollection">;
  /** Late-bound: when given, `start()` registers the node and serves the query channels it is given. */
  readonly queryservice?: () => Pick<QueryService, "registerNode">;
  readonly logger: Logger;
}

export interface QueryNodeOptions {
  /** Object reads in flight per segment field. Default 8. */
  readonly maxFilesInFlight?: number;
  /** Attempts for retriable object-store and dataservice failures. Default 5. */
  readonly retryAttempts?: number;
  /** First retry delay, doubled per attempt. Default 100 ms. */
  readonly retryBaseMs?: number;
  /** Packs read ahead of the stages per channel. Default 4. */
  readonly queueCapacity?: number;
  /** How often a channel drops buffered deletes already in delta logs. Default 5000 ms. */
  readonly deleteBufferPruneMs?: number;
  /** Per-segment exact top-k; default: the `src/index` kernels (through the search pool). */
  readonly segmentSearch?: SegmentSearch;
  /** A search worker pool shared with others; the node uses it and does not close it. */
  readonly searchPool?: SearchPool;
  /**
   * Without `searchPool`: worker threads of the node's own pool, started at the first large scan
   * and closed by `close()`. 0 = every scan on the event loop. Default: os.availableParallelism().
   */
  readonly searchWorkers?: number;
  /**
   * Directory for index files copied from an object store that has no local files (they are
   * memory-mapped from there); wiped at start. Undefined: such files are read into memory.
   */
  readonly indexCacheDir?: string;
  /** How often loaded segments look for indexes built since they were loaded. Default 1000 ms. */
  readonly indexRefreshMs?: number;
  /**
   * Bytes of sealed-segment filter results kept for filters that repeat (one byte per row per
   * segment and filter, least recently used dropped first). 0 = evaluate every filter afresh.
   * Default 64 MiB.
   */
  readonly filterCacheBytes?: number;
}

export interface ResolvedOptions {
  readonly maxFilesInFlight: number;
  readonly retryAttempts: number;
  readonly retryBaseMs: number;
  readonly queueCapacity: number;
  readonly deleteBufferPruneMs: number;
  readonly searchWorkers: number;
  readonly indexRefreshMs: number;
  readonly filterCacheBytes: number;
}

function int(v: number | undefined, dflt: number, what: string, min: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new StrataError("ParameterInvalid", `${what} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** @throws StrataError ParameterInvalid for an out-of-range option. */
export function resolveOptions(o: QueryNodeOptions): ResolvedOptions {
  return {
    maxFilesInFlight: int(o.maxFilesInFlight, 8, "maxFilesInFlight", 1),
    retryAttempts: int(o.retryAttempts, 5, "retryAttempts", 1),
    retryBaseMs: int(o.retryBaseMs, 100, "retryBaseMs", 0),
    queueCapacity: int(o.queueCapacity, 4, "queueCapacity", 1),
    deleteBufferPruneMs: int(o.deleteBufferPruneMs, 5000, "deleteBufferPruneMs", 1),
    searchWorkers: int(o.searchWorkers, availableParallelism(), "searchWorkers", 0),
    indexRefreshMs: int(o.indexRefreshMs, 1000, "indexRefreshMs", 1),
    filterCacheBytes: int(o.filterCacheBytes, 64 * 1024 * 1024, "filterCacheBytes", 0),
  };
}

import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { DataService } from "../dataservice/types.ts";
import type { MessageQueue } from "../mq/types.ts";
import type { ObjectStore } from "../objectstore/types.ts";
import type { RootCoord } from "../rootcoord/types.ts";

export interface DataNodeDeps {
  readonly nodeId: number;
  readonly mq: MessageQueue;
  readonly objects: ObjectStore;
  readonly dataservice: DataService;
  readonly rootcoord: Pick<RootCoord, "describeCollection" | "allocID">;
  readonly logger: Logger;
}

export interface DataNodeOptions {
  /** A segment's buffer is synced at the next tick once it holds this many bytes. Default 16 MiB. */
  readonly insertBufBytes?: number;
  /** A segment's buffer is synced at the first tick this long (in tick time) after its first buffered row. Default 10 min. */
  readonly syncPeriodMs?: number;
  /** Object puts/gets running at once per channel. Default 8. */
  readonly maxFilesInFlight?: number;
  /** Packs read ahead of the stages per channel. Default 4. */
  readonly queueCapacity?: number;
  /** Attempts for object puts and `saveBinlogPaths` on retriable errors. Default 5. */
  readonly retryAttempts?: number;
  /** First retry delay, doubled each attempt. Default 100 ms. */
  readonly retryBaseMs?: number;
  /** Bloom filter false-positive rate of the stats logs. Default 0.01. */
  readonly bloomFpr?: number;
  /** Least time between two segment-statistics messages per channel. Default 1 s. */
  readonly statsIntervalMs?: number;
  /** When set, `start()` also watches this DD channel. */
  readonly ddChannel?: string;
}

export interface ResolvedOptions {
  readonly insertBufBytes: number;
  readonly syncPeriodMs: number;
  readonly maxFilesInFlight: number;
  readonly queueCapacity: number;
  readonly retryAttempts: number;
  readonly retryBaseMs: number;
  readonly bloomFpr: number;
  readonly statsIntervalMs: number;
  readonly ddChannel: string | undefined;
}

function int(v: number | undefined, dflt: number, what: string, min: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new StrataError("ParameterInvalid", `${what} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** @throws StrataError ParameterInvalid for an out-of-range option. */
export function resolveOptions(o: DataNodeOptions): ResolvedOptions {
  const fpr = o.bloomFpr ?? 0.01;
  if (!(fpr > 0 && fpr < 1))
    throw new StrataError("ParameterInvalid", `bloomFpr must be in (0, 1), got ${fpr}`);
  return {
    insertBufBytes: int(o.insertBufBytes, 16 * 1024 * 1024, "insertBufBytes", 1),
    syncPeriodMs: int(o.syncPeriodMs, 600_000, "syncPeriodMs", 0),
    maxFilesInFlight: int(o.maxFilesInFlight, 8, "maxFilesInFlight", 1),
    queueCapacity: int(o.queueCapacity, 4, "queueCapacity", 1),
    retryAttempts: int(o.retryAttempts, 5, "retryAttempts", 1),
    retryBaseMs: int(o.retryBaseMs, 100, "retryBaseMs", 0),
    bloomFpr: fpr,
    statsIntervalMs: int(o.statsIntervalMs, 1000, "statsIntervalMs", 0),
    ddChannel: o.ddChannel,
  };
}

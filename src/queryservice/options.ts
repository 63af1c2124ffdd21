import { StrataError } from "../common/errors.ts";

export interface QueryServiceOptions {
  /** Period of the handoff / placement pass. Default 200 ms. */
  readonly handoffIntervalMs?: number;
  /**
   * A registered node the `queryNodes` resolver does not return is dropped once it has been
   * registered (or adopted) this long: the grace covers wiring that adds a node after it starts.
   * Default 10 000 ms.
   */
  readonly resolveGraceMs?: number;
  /**
   * How often a node holding work is probed with a cheap call (`describePartition` of one of its
   * collections, no partitions), so a node that closed is noticed even when nothing else calls it.
   * Default 1000 ms.
   */
  readonly probeIntervalMs?: number;
  /** Longest wait before a failed node call is retried (backoff doubles from handoffIntervalMs). Default 5000 ms. */
  readonly maxRetryDelayMs?: number;
  /** Channel on which query nodes report their time ticks (seeds' GetTimeTickChannel). Default "querynode_tt". */
  readonly timeTickChannel?: string;
  /** Channel on which query nodes publish statistics. Default "querynode_stats". */
  readonly statsChannel?: string;
  /** Prefix of the request/result channel names made by `createQueryChannel`. Default "query". */
  readonly queryChannelPrefix?: string;
  /** How often sealed rows per node are checked for a rebalance. Default 2000 ms. */
  readonly rebalanceIntervalMs?: number;
  /** Segments moved per rebalance round (0 turns rebalancing off). Default 8. */
  readonly rebalanceMaxMoves?: number;
  /**
   * How long a moved segment's old copy stays loaded after reads switched to the new one, so
   * reads routed before the switch still find it. Default 5000 ms.
   */
  readonly rebalanceReleaseDelayMs?: number;
}

export type ResolvedOptions = Required<QueryServiceOptions>;

export const DEFAULT_OPTIONS: ResolvedOptions = {
  handoffIntervalMs: 200,
  resolveGraceMs: 10_000,
  probeIntervalMs: 1000,
  maxRetryDelayMs: 5000,
  timeTickChannel: "querynode_tt",
  statsChannel: "querynode_stats",
  queryChannelPrefix: "query",
  rebalanceIntervalMs: 2000,
  rebalanceMaxMoves: 8,
  rebalanceReleaseDelayMs: 5000,
};

function positiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new StrataError(
      "ConfigInvalid",
      `queryservice option ${name} must be a positive integer, got ${v}`,
    );
  }
}

function nonNegativeInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new StrataError(
      "ConfigInvalid",
      `queryservice option ${name} must be a non-negative integer, got ${v}`,
    );
  }
}

/** `maxLen` leaves room for the suffixes added to a prefix. */
function channelName(name: string, v: string, maxLen = 200): void {
  if (typeof v !== "string" || v.length > maxLen || !/^[A-Za-z0-9_-]+$/.test(v)) {
    throw new StrataError(
      "ConfigInvalid",
      `queryservice option ${name} needs 1..${maxLen} chars of [A-Za-z0-9_-]: ${String(v)}`,
    );
  }
}

/** @throws StrataError ConfigInvalid naming the bad option. */
export function resolveOptions(o: QueryServiceOptions): ResolvedOptions {
  const r = { ...DEFAULT_OPTIONS, ...o };
  positiveInt("handoffIntervalMs", r.handoffIntervalMs);
  nonNegativeInt("resolveGraceMs", r.resolveGraceMs);
  positiveInt("probeIntervalMs", r.probeIntervalMs);
  positiveInt("maxRetryDelayMs", r.maxRetryDelayMs);
  positiveInt("rebalanceIntervalMs", r.rebalanceIntervalMs);
  nonNegativeInt("rebalanceMaxMoves", r.rebalanceMaxMoves);
  nonNegativeInt("rebalanceReleaseDelayMs", r.rebalanceReleaseDelayMs);
  channelName("timeTickChannel", r.timeTickChannel);
  channelName("statsChannel", r.statsChannel);
  channelName("queryChannelPrefix", r.queryChannelPrefix, 150);
  if (r.timeTickChannel === r.statsChannel) {
    throw new StrataError("ConfigInvalid", "queryservice timeTickChannel and statsChannel must differ");
  }
  return r;
}

/**
 * The Data Service (DESIGN.md §5, seeds §8): segment allocation with expiry, segment states and
 * sealing, flush decisions on data-node ticks, the binlog registry and channel → data node
 * assignment. Decisions shared with the other write-path roles: docs/write-path.md.
 *
 * What is persisted where (all meta writes are kv transactions, applied in memory only after the
 * store accepted them, under one service-wide lock):
 * - `dataservice/segment/<collection>/<segment>`: `SegmentInfo` plus the live allocations and the
 *   last allocation time. Written before an assignment is returned, so a restarted service knows
 *   every expiry it handed out (`lastExpireTime`) and every row it promised. Reported row counts
 *   are soft state, written on the periodic pass and on close.
 * - `dataservice/channel/<channel>`: owner node, checkpoint (forward only, committed in the same
 *   transaction as the sync's files), and the tick-channel seq of the latest watch (older reports
 *   are ignored).
 * - `session/datanode/<nodeId>`: NodeInfo on a lease.
 * - the tick channel's durable consumer checkpoint (`consumerName`) in the message queue.
 *
 * Data-node liveness: `registerNode` grants a lease and writes the session; the dataservice keeps
 * the lease alive for as long as it considers the node alive. A node is gone when it is
 * unregistered (`unregisterNode`), when a call to it fails with `Closed`, or when the `dataNodes`
 * resolver stops returning it (after a grace of one session TTL from registration). Its session
 * is revoked and its channels go to the least loaded live node, which resumes from the checkpoint;
 * with no live node they wait, unassigned, for the next registration. Registering a live node
 * again is taken as a restart: its channels are sent again. A restarted dataservice adopts the
 * nodes the resolver still returns.
 */
import type { DataServiceOptions } from "./options.ts";
import { type DataServiceDeps, DataServiceImpl, type ManagedDataService } from "./service.ts";

export type { DataServiceOptions } from "./options.ts";
export { DEFAULT_OPTIONS } from "./options.ts";
export { estimateRowBytes, maxRowsFor } from "./row-size.ts";
export type { DataNodeStatus, DataServiceDeps, ManagedDataService } from "./service.ts";
export type * from "./types.ts";
export { SegmentState } from "./types.ts";

/** Builds a data service; call `start()` before use. Options not given take the defaults in `DEFAULT_OPTIONS`. */
export function createDataService(
  deps: DataServiceDeps,
  options: DataServiceOptions = {},
): ManagedDataService {
  return new DataServiceImpl(deps, options);
}

/**
 * The Query Service (DESIGN.md §6, seeds §8): query-node registry and states, load/release of
 * partitions with their states, segment → node placement, handoff of newly flushed segments, and
 * the query channels. Decisions shared with the other read-path roles: docs/read-path.md.
 *
 * - **Load**: a collection's DML channels are each placed on one node (fewest channels, then least
 *   memory) and followed with `watchDmChannels`; every FLUSHED segment of the loaded partitions is
 *   placed on the node with the least memory (measured + not yet loaded placements) and loaded with
 *   `loadSegments` (all fields). The placement is persisted before `loadPartitions` returns.
 * - **States**: NOT_PRESENT → ON_DISK (placement decided) → PARTIAL_IN_MEMORY (a first call
 *   answered) → IN_MEMORY (every channel followed, every segment loaded, and a segment listing
 *   taken after the channels were followed found nothing missing). Never backwards while loading;
 *   only a lost node (or a failed re-send) takes IN_MEMORY back to PARTIAL_IN_MEMORY, and release
 *   to NOT_PRESENT.
 * - **Handoff**: every `handoffIntervalMs` each loaded partition's segments are listed; a newly
 *   FLUSHED one is placed and loaded and joins the distribution's `sealed` list only once its
 *   load resolved (the proxy then excludes its growing copy). DROPPED ones are released. The
 *   growing copy is never released by the query service: freeing it is the node's business.
 * - **Routing**: `getDistribution` lists the IN_MEMORY partitions with the ready channels and
 *   sealed segments; CollectionNotLoaded when nothing is loaded (or nothing reached IN_MEMORY yet),
 *   ServiceUnavailable while a partition that was IN_MEMORY recovers from a node failure.
 * - **Nodes**: INITIALIZING at registration, HEALTHY after the first call that succeeds, ABNORMAL
 *   while calls fail (retried with backoff). A node whose call throws Closed, or that the resolver
 *   no longer returns after `resolveGraceMs`, is ABNORMAL and then dropped; its work is placed on
 *   the others. Registering again is taken as a restart: everything placed on it is sent again.
 *   Nodes holding work are probed every `probeIntervalMs` with a cheap `describePartition`.
 * - **Ordering per node**: an answer for a placement that moved or was released meanwhile makes
 *   the node free it again, and nothing is (re)sent to a node while a release of the same segment
 *   or channel on it is under way, so a release can never overtake a later load there.
 * - **Restart**: the persisted placement is read back, nodes recorded and still resolvable are
 *   adopted, and every placement is sent again; states start from ON_DISK.
 */
import type { QueryServiceOptions } from "./options.ts";
import { type ManagedQueryService, type QueryServiceDeps, QueryServiceImpl } from "./service.ts";

export type { QueryNodeStatus } from "./describe.ts";
export type { NodeStateChange, PartitionStateChange, QueryServiceEvent } from "./events.ts";
export type { QueryServiceOptions } from "./options.ts";
export { DEFAULT_OPTIONS } from "./options.ts";
export type { ManagedQueryService, QueryServiceDeps } from "./service.ts";
export type * from "./types.ts";
export { NodeState, PartitionState } from "./types.ts";

/** Builds a query service; call `start()` before use. Options not given take the defaults in `DEFAULT_OPTIONS`. */
export function createQueryService(
  deps: QueryServiceDeps,
  options: QueryServiceOptions = {},
): ManagedQueryService {
  return new QueryServiceImpl(deps, options);
}

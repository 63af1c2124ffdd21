/** The read-only views: `describeService`, `describeNodes` and the per-partition resource costs. */
import type { LoadedCollection } from "./collections.ts";
import type { NodeEntry } from "./nodes.ts";
import type {
  CollectionDescription,
  DbDescription,
  NodeState,
  PartitionDescriptions,
  QueryNodeDescription,
  ResourceCost,
  ServiceDescription,
} from "./types.ts";

const byBigint = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

export interface QueryNodeStatus {
  readonly nodeId: number;
  readonly address: string;
  readonly state: NodeState;
  /** DML channels placed on the node (loaded collections), sorted. */
  readonly channels: readonly string[];
  /** Sealed segments placed on the node, sorted. */
  readonly segmentIds: readonly bigint[];
}

/** Per node its state and own measure; per database (0 always present) the loaded partitions. */
export function serviceDescription(
  nodes: readonly NodeEntry[],
  collections: Iterable<LoadedCollection>,
  measured: (nodeId: number) => ResourceCost,
): ServiceDescription {
  const nodeDescriptions = new Map<number, QueryNodeDescription>();
  for (const n of nodes) {
    nodeDescriptions.set(n.info.nodeId, { nodeState: n.state, resourceCost: measured(n.info.nodeId) });
  }
  const byDb = new Map<bigint, CollectionDescription[]>([[0n, []]]);
  const colls = [...collections].sort((a, b) => byBigint(a.collectionId, b.collectionId));
  for (const c of colls) {
    const list = byDb.get(c.dbId) ?? [];
    list.push({ collectionId: c.collectionId, partitionIds: [...c.partitions.keys()].sort(byBigint) });
    byDb.set(c.dbId, list);
  }
  const dbDescriptions = new Map<bigint, DbDescription>();
  for (const [db, list] of byDb) dbDescriptions.set(db, { collectionDescriptions: list });
  return { dbDescriptions, nodeDescriptions };
}

export function nodeStatuses(
  nodes: readonly NodeEntry[],
  collections: Iterable<LoadedCollection>,
): QueryNodeStatus[] {
  const colls = [...collections];
  return nodes.map((n) => {
    const id = n.info.nodeId;
    const channels: string[] = [];
    const segmentIds: bigint[] = [];
    for (const c of colls) {
      for (const ch of c.channels.values()) if (ch.nodeId === id) channels.push(ch.channel);
      for (const s of c.segments.values()) if (s.nodeId === id) segmentIds.push(s.segmentId);
    }
    return {
      nodeId: id,
      address: n.info.address,
      state: n.state,
      channels: channels.sort(),
      segmentIds: segmentIds.sort(byBigint),
    };
  });
}

export interface CostSources {
  /** Registered nodes holding any channel or segment of the collection. */
  readonly holders: readonly number[];
  /** The node's own per-partition answer, or undefined when it could not give one. */
  readonly ask: (nodeId: number) => Promise<PartitionDescriptions | undefined>;
  readonly measured: (nodeId: number) => ResourceCost;
  /** Every loaded collection as it is now (for the row-count fallback). */
  readonly collections: () => Iterable<LoadedCollection>;
}

/**
 * Memory and CPU per partition, summed over the nodes holding any of the collection, as each node
 * reports it (`describePartition`: the memory its data of the partition holds). A node that cannot
 * answer is apportioned: its measured memory and CPU split by the rows of the loaded segments it
 * holds (over all collections), which leaves out its growing data.
 */
export async function partitionCosts(
  collectionId: bigint,
  partitionIds: readonly bigint[],
  src: CostSources,
): Promise<Map<bigint, ResourceCost>> {
  const sum = new Map<bigint, { memUsage: number; cpuUsage: number }>();
  const add = (id: bigint, mem: number, cpu: number): void => {
    const cur = sum.get(id) ?? { memUsage: 0, cpuUsage: 0 };
    cur.memUsage += mem;
    cur.cpuUsage += cpu;
    sum.set(id, cur);
  };
  const want = new Set(partitionIds);
  await Promise.all(
    src.holders.map(async (nodeId) => {
      const answer = await src.ask(nodeId);
      if (answer !== undefined) {
        for (const d of answer.partitionDescriptions) {
          if (want.has(d.id)) add(d.id, d.resourceCost.memUsage, d.resourceCost.cpuUsage);
        }
        return;
      }
      const rows = new Map<bigint, number>();
      let total = 0;
      for (const c of src.collections()) {
        for (const s of c.segments.values()) {
          if (s.nodeId !== nodeId || !s.ready) continue;
          total += s.numRows;
          if (c.collectionId === collectionId && want.has(s.partitionId)) {
            rows.set(s.partitionId, (rows.get(s.partitionId) ?? 0) + s.numRows);
          }
        }
      }
      if (total === 0) return;
      const m = src.measured(nodeId);
      for (const [id, r] of rows) add(id, Math.round((m.memUsage * r) / total), (m.cpuUsage * r) / total);
    }),
  );
  return sum;
}

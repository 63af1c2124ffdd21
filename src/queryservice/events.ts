import type { NodeState, PartitionState } from "./types.ts";

/** A partition moved from one state to another (every transition is reported, in order). */
export interface PartitionStateChange {
  readonly kind: "partition";
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly from: PartitionState;
  readonly to: PartitionState;
  /** Why: "load", "placed", "release", "node down", "recovered", ... */
  readonly reason: string;
}

/** A query node's state changed; `null` means not registered (before registration, after it was dropped). */
export interface NodeStateChange {
  readonly kind: "node";
  readonly nodeId: number;
  readonly from: NodeState | null;
  readonly to: NodeState | null;
  readonly reason: string;
}

export type QueryServiceEvent = PartitionStateChange | NodeStateChange;

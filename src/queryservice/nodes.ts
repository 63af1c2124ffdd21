import type { NodeInfo } from "../dataservice/types.ts";
import type { MetaKv } from "../kv/types.ts";
import type { NodeStateChange } from "./events.ts";
import { decodeNode, encodeRecord, NODE_PREFIX, nodeKey } from "./records.ts";
import { NodeState } from "./types.ts";

export interface NodeEntry {
  info: NodeInfo;
  state: NodeState;
  /** Wall-clock ms of registration (or adoption after a restart): start of the resolver grace. */
  readonly registeredAt: number;
  /** Query channel pairs (by number) not yet delivered with `addQueryChannel`. */
  readonly pendingQueryChannels: Set<number>;
  queryChannelsInflight: boolean;
  queryChannelFailures: number;
  queryChannelRetryAt: number;
}

/**
 * Registered query nodes and their states (seeds: INITIALIZING at registration, HEALTHY after the
 * first call that succeeded, ABNORMAL while calls fail). Each is recorded at
 * `queryservice/node/<id>` so a restarted service can adopt the nodes it still reaches.
 * Not locked itself: the service serialises changes.
 */
export class NodeRegistry {
  readonly #kv: MetaKv;
  readonly #emit: (e: NodeStateChange) => void;
  readonly #nodes = new Map<number, NodeEntry>();

  constructor(kv: MetaKv, emit: (e: NodeStateChange) => void) {
    this.#kv = kv;
    this.#emit = emit;
  }

  get(nodeId: number): NodeEntry | undefined {
    return this.#nodes.get(nodeId);
  }

  has(nodeId: number): boolean {
    return this.#nodes.has(nodeId);
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** Sorted by node ID. */
  values(): NodeEntry[] {
    return [...this.#nodes.values()].sort((a, b) => a.info.nodeId - b.info.nodeId);
  }

  /** After a restart: recorded nodes that `reachable` still returns are adopted; the others are forgotten. */
  async recover(reachable: (nodeId: number) => boolean, queryChannels: readonly number[]): Promise<void> {
    for (const e of await this.#kv.getPrefix(NODE_PREFIX)) {
      const info = decodeNode(e.key, e.value);
      if (reachable(info.nodeId)) this.#add(info, queryChannels, "adopted after restart");
      else await this.#kv.delete(e.key);
    }
  }

  /** Registers a new node (persisted first). */
  async add(info: NodeInfo, queryChannels: readonly number[]): Promise<NodeEntry> {
    await this.#kv.put(nodeKey(info.nodeId), encodeRecord(info));
    return this.#add(info, queryChannels, "registered");
  }

  #add(info: NodeInfo, queryChannels: readonly number[], reason: string): NodeEntry {
    const entry: NodeEntry = {
      info,
      state: NodeState.INITIALIZING,
      registeredAt: Date.now(),
      pendingQueryChannels: new Set(queryChannels),
      queryChannelsInflight: false,
      queryChannelFailures: 0,
      queryChannelRetryAt: 0,
    };
    this.#nodes.set(info.nodeId, entry);
    this.#emit({ kind: "node", nodeId: info.nodeId, from: null, to: NodeState.INITIALIZING, reason });
    return entry;
  }

  async updateAddress(info: NodeInfo): Promise<void> {
    const n = this.#nodes.get(info.nodeId);
    if (n === undefined || n.info.address === info.address) return;
    await this.#kv.put(nodeKey(info.nodeId), encodeRecord(info));
    n.info = info;
  }

  setState(nodeId: number, state: NodeState, reason: string): void {
    const n = this.#nodes.get(nodeId);
    if (n === undefined || n.state === state) return;
    const from = n.state;
    n.state = state;
    this.#emit({ kind: "node", nodeId, from, to: state, reason });
  }

  /** The node is ABNORMAL, then dropped (its record deleted first). */
  async remove(nodeId: number, reason: string): Promise<void> {
    if (!this.#nodes.has(nodeId)) return;
    await this.#kv.delete(nodeKey(nodeId));
    this.setState(nodeId, NodeState.ABNORMAL, reason);
    this.#nodes.delete(nodeId);
    this.#emit({ kind: "node", nodeId, from: NodeState.ABNORMAL, to: null, reason });
  }
}

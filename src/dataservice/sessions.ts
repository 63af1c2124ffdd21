import { isStrataError } from "../common/errors.ts";
import { decodeJsonBytes } from "../common/json.ts";
import type { Logger } from "../common/log.ts";
import type { LeaseId, MetaKv } from "../kv/types.ts";
import { encodeRecord, SESSION_PREFIX, sessionKey } from "./records.ts";
import type { NodeInfo } from "./types.ts";

export interface LiveNode {
  readonly info: NodeInfo;
  readonly lease: LeaseId;
  /** Wall-clock ms of registration (or adoption after a restart): start of the resolver grace. */
  readonly registeredAt: number;
}

/**
 * Data-node sessions: `session/datanode/<nodeId>` → NodeInfo, attached to a lease. The dataservice
 * grants each lease and keeps it alive for as long as it considers the node alive, so the key is
 * the cluster-visible record of "this node is live"; it vanishes when the node leaves or when the
 * dataservice itself stops renewing (crash), and a restarted dataservice re-adopts the nodes it
 * can still reach.
 */
export class NodeSessions {
  readonly #kv: MetaKv;
  readonly #ttl: number;
  readonly #log: Logger;
  readonly #nodes = new Map<number, LiveNode>();

  constructor(kv: MetaKv, ttlSeconds: number, log: Logger) {
    this.#kv = kv;
    this.#ttl = ttlSeconds;
    this.#log = log;
  }

  get(nodeId: number): LiveNode | undefined {
    return this.#nodes.get(nodeId);
  }

  has(nodeId: number): boolean {
    return this.#nodes.has(nodeId);
  }

  ids(): number[] {
    return [...this.#nodes.keys()];
  }

  get size(): number {
    return this.#nodes.size;
  }

  values(): LiveNode[] {
    return [...this.#nodes.values()];
  }

  /**
   * After a restart: every node with a session key or owning a channel is adopted if `reachable`
   * says so (its lease renewed, or a new one granted when it lapsed); the others' sessions end.
   */
  async recover(channelOwners: Iterable<number>, reachable: (nodeId: number) => boolean): Promise<void> {
    const candidates = new Map<number, { info: NodeInfo; lease: LeaseId | undefined }>();
    for (const e of await this.#kv.getPrefix(SESSION_PREFIX)) {
      const nodeId = Number(e.key.slice(SESSION_PREFIX.length));
      if (!Number.isSafeInteger(nodeId)) continue;
      const stored = decodeJsonBytes<Partial<NodeInfo> | null>(e.value, `session ${e.key}`);
      const address = typeof stored?.address === "string" ? stored.address : "";
      candidates.set(nodeId, { info: { nodeId, address }, lease: e.lease });
    }
    for (const nodeId of channelOwners) {
      if (!candidates.has(nodeId))
        candidates.set(nodeId, { info: { nodeId, address: "" }, lease: undefined });
    }
    for (const [nodeId, c] of candidates) {
      if (!reachable(nodeId)) {
        if (c.lease !== undefined) await this.#kv.revokeLease(c.lease);
        else await this.#kv.delete(sessionKey(nodeId));
        continue;
      }
      let lease = c.lease;
      if (lease !== undefined) {
        try {
          await this.#kv.keepAlive(lease);
        } catch (e) {
          if (!isStrataError(e, "LeaseExpired")) throw e;
          lease = undefined;
        }
      }
      lease ??= await this.#grant(c.info);
      this.#nodes.set(nodeId, { info: c.info, lease, registeredAt: Date.now() });
    }
  }

  async #grant(info: NodeInfo): Promise<LeaseId> {
    const lease = await this.#kv.grantLease(this.#ttl);
    await this.#kv.put(sessionKey(info.nodeId), encodeRecord(info), { lease });
    return lease;
  }

  /** A new node: grants its lease and writes its session. */
  async open(info: NodeInfo): Promise<void> {
    const lease = await this.#grant(info);
    this.#nodes.set(info.nodeId, { info, lease, registeredAt: Date.now() });
  }

  /** A live node registered again, maybe with a new address. */
  async refresh(info: NodeInfo): Promise<void> {
    const live = this.#nodes.get(info.nodeId);
    if (live === undefined || live.info.address === info.address) return;
    await this.#kv.put(sessionKey(info.nodeId), encodeRecord(info), { lease: live.lease });
    this.#nodes.set(info.nodeId, { ...live, info });
  }

  /** Ends the node's session (best effort on the store). Returns false when it was not live. */
  async end(nodeId: number): Promise<boolean> {
    const n = this.#nodes.get(nodeId);
    if (n === undefined) return false;
    this.#nodes.delete(nodeId);
    try {
      await this.#kv.revokeLease(n.lease);
    } catch (e) {
      this.#log.warn({ err: e, nodeId }, "could not revoke a data node session");
    }
    return true;
  }

  /** Renews every live node's lease; one that lapsed (e.g. the process stalled) is granted anew. */
  async keepAlive(): Promise<void> {
    for (const n of [...this.#nodes.values()]) {
      try {
        await this.#kv.keepAlive(n.lease);
      } catch (e) {
        if (!isStrataError(e, "LeaseExpired")) {
          this.#log.warn({ err: e, nodeId: n.info.nodeId }, "data node session keep-alive failed");
          continue;
        }
        const lease = await this.#grant(n.info);
        if (this.#nodes.get(n.info.nodeId) === n) this.#nodes.set(n.info.nodeId, { ...n, lease });
        else await this.#kv.revokeLease(lease); // the node left meanwhile
      }
    }
  }
}

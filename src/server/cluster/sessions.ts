import { isStrataError, StrataError } from "../../common/errors.ts";
import { decodeJsonBytes, encodeJsonBytes } from "../../common/json.ts";
import type { Logger } from "../../common/log.ts";
import type { LeaseId, MetaKv, Watcher } from "../../kv/types.ts";

/** Every role a process can host in cluster mode. */
export type ClusterRole =
  | "rootcoord"
  | "proxy"
  | "dataservice"
  | "datanode"
  | "queryservice"
  | "querynode"
  | "indexnode";

export const CLUSTER_ROLES: readonly ClusterRole[] = [
  "rootcoord",
  "dataservice",
  "queryservice",
  "datanode",
  "querynode",
  "indexnode",
  "proxy",
];

export function isClusterRole(s: string): s is ClusterRole {
  return (CLUSTER_ROLES as readonly string[]).includes(s);
}

/** A live role instance as its session key records it. */
export interface SessionInfo {
  readonly role: ClusterRole;
  readonly nodeId: number;
  /** `host:port` of the process's internal RPC server. */
  readonly address: string;
  readonly pid: number;
  readonly startedAt: number;
}

const SESSION_PREFIX = "cluster/session/";
const NODE_ID_KEY = "cluster/nodeid";

const sessionKey = (role: ClusterRole, nodeId: number) => `${SESSION_PREFIX}${role}/${nodeId}`;

/**
 * A new node ID, unique across the cluster's history (one counter for every role, so a log line's
 * node ID names one process). Compare-and-swap on the counter key; safe under concurrent starts.
 */
export async function allocNodeId(kv: MetaKv): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const cur = await kv.get(NODE_ID_KEY);
    const last = cur === undefined ? 0 : Number(new TextDecoder().decode(cur.value));
    if (!Number.isSafeInteger(last) || last < 0)
      throw new StrataError("Corrupted", `${NODE_ID_KEY} is not a number`);
    const next = last + 1;
    const value = new TextEncoder().encode(String(next));
    const res = await kv.txn({
      compare:
        cur === undefined
          ? [{ key: NODE_ID_KEY, target: "version", op: "==", value: 0 }]
          : [{ key: NODE_ID_KEY, target: "modRevision", op: "==", value: cur.modRevision }],
      success: [{ type: "put", key: NODE_ID_KEY, value }],
      failure: [],
    });
    if (res.succeeded) return next;
  }
  throw new StrataError("TxnConflict", "could not allocate a node ID: too much contention");
}

/**
 * The session a process holds for one of its roles: a key under `cluster/session/<role>/<id>`
 * attached to a lease it renews every third of the TTL. Others take the key's disappearance as the
 * node's death. When renewal finds the lease gone (the process stalled past the TTL and its work
 * may already have moved), `onLost` runs: the holder must stop serving that role.
 */
export class Session {
  readonly info: SessionInfo;
  readonly #kv: MetaKv;
  readonly #lease: LeaseId;
  readonly #log: Logger;
  readonly #onLost: () => void;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(
    kv: MetaKv,
    info: SessionInfo,
    lease: LeaseId,
    ttlSeconds: number,
    log: Logger,
    onLost: () => void,
  ) {
    this.#kv = kv;
    this.info = info;
    this.#lease = lease;
    this.#log = log;
    this.#onLost = onLost;
    const every = Math.max(200, Math.floor((ttlSeconds * 1000) / 3));
    this.#timer = setInterval(() => void this.#renew(), every);
    this.#timer.unref();
  }

  static async open(
    kv: MetaKv,
    info: SessionInfo,
    opts: { readonly ttlSeconds: number; readonly logger: Logger; readonly onLost: () => void },
  ): Promise<Session> {
    const lease = await kv.grantLease(opts.ttlSeconds);
    await kv.put(sessionKey(info.role, info.nodeId), encodeJsonBytes(info), { lease });
    return new Session(kv, info, lease, opts.ttlSeconds, opts.logger, opts.onLost);
  }

  async #renew(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#kv.keepAlive(this.#lease);
    } catch (e) {
      if (this.#closed) return;
      if (isStrataError(e, "LeaseExpired")) {
        this.#log.error(
          { role: this.info.role, nodeId: this.info.nodeId },
          "session lease lapsed: leaving the cluster",
        );
        clearInterval(this.#timer);
        this.#onLost();
        return;
      }
      this.#log.warn({ err: e }, "session keep-alive failed; retrying");
    }
  }

  /** Revokes the lease (the key goes at once, so others react without waiting for the TTL). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    try {
      await this.#kv.revokeLease(this.#lease);
    } catch (e) {
      this.#log.warn({ err: e }, "could not revoke the session lease");
    }
  }
}

export type SessionChange = { readonly type: "up" | "down"; readonly info: SessionInfo };

/** Every live session of the cluster, kept current by a watch on the session prefix. */
export class SessionWatch {
  readonly #sessions = new Map<string, SessionInfo>();
  readonly #listeners = new Set<(c: SessionChange) => void>();
  readonly #log: Logger;
  #watcher: Watcher | undefined;

  private constructor(log: Logger) {
    this.#log = log;
  }

  static async open(kv: MetaKv, log: Logger): Promise<SessionWatch> {
    const w = new SessionWatch(log);
    const rev = await kv.revision();
    for (const e of await kv.getPrefix(SESSION_PREFIX)) w.#apply("put", e.key, e.value);
    w.#watcher = await kv.watch(
      SESSION_PREFIX,
      (events) => {
        for (const e of events) w.#apply(e.type, e.key, e.value);
      },
      {
        fromRevision: rev + 1,
        onError: (err) => log.error({ err }, "session watch failed"),
      },
    );
    return w;
  }

  #apply(type: "put" | "delete", key: string, value: Uint8Array): void {
    if (type === "delete") {
      const info = this.#sessions.get(key);
      if (info === undefined) return;
      this.#sessions.delete(key);
      this.#emit({ type: "down", info });
      return;
    }
    let info: SessionInfo;
    try {
      info = decodeJsonBytes<SessionInfo>(value, key);
    } catch (e) {
      this.#log.warn({ err: e, key }, "ignoring an unreadable session");
      return;
    }
    if (!isClusterRole(info.role) || !Number.isSafeInteger(info.nodeId)) return;
    const had = this.#sessions.get(key);
    this.#sessions.set(key, info);
    if (had === undefined || had.address !== info.address) this.#emit({ type: "up", info });
  }

  #emit(c: SessionChange): void {
    for (const l of this.#listeners) {
      try {
        l(c);
      } catch (e) {
        this.#log.warn({ err: e }, "session listener failed");
      }
    }
  }

  /** Calls `fn` on every later change; returns the unsubscribe function. */
  onChange(fn: (c: SessionChange) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  get(role: ClusterRole, nodeId: number): SessionInfo | undefined {
    return this.#sessions.get(sessionKey(role, nodeId));
  }

  /** Live sessions of a role, by node ID. */
  list(role: ClusterRole): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const s of this.#sessions.values()) if (s.role === role) out.push(s);
    return out.sort((a, b) => a.nodeId - b.nodeId);
  }

  /** Resolves with the first live session of `role` (a coordinator), waiting up to `timeoutMs`. */
  async waitFor(role: ClusterRole, timeoutMs: number): Promise<SessionInfo> {
    const now = this.list(role)[0];
    if (now !== undefined) return now;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new StrataError("ServiceUnavailable", `no ${role} joined the cluster within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onChange((c) => {
        if (c.type === "up" && c.info.role === role) {
          clearTimeout(timer);
          off();
          resolve(c.info);
        }
      });
    });
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#watcher?.close();
  }
}

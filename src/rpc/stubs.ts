import type { Timestamp } from "../common/timestamp.ts";
import type { DataNode } from "../datanode/types.ts";
import type { ManagedDataService } from "../dataservice/index.ts";
import type { IndexNode } from "../indexnode/types.ts";
import type { QueryNode } from "../querynode/types.ts";
import type { ManagedQueryService } from "../queryservice/index.ts";
import type { ResourceCost } from "../queryservice/types.ts";
import type { RootCoord } from "../rootcoord/types.ts";
import type { RpcClients } from "./client.ts";

/**
 * Remote roles: objects implementing a role's TypeScript interface whose methods are calls to the
 * process that hosts the role. `start`/`close` manage only the stub (the remote role's lifecycle is
 * its own process's business). Synchronous reads of an interface are served from the last answer
 * of the role's Snapshot rpc, polled in the background.
 */

const lifecycle = {
  start: async () => undefined,
  close: async () => undefined,
  drain: async () => undefined,
};

/** A fixed address, or a lookup asked at every call (coordinators). */
export type Target = string | (() => string);

export function remoteRootCoord(clients: RpcClients, address: Target): RootCoord {
  return { ...clients.methods("rootcoord", address), ...lifecycle } as unknown as RootCoord;
}

export function remoteDataService(clients: RpcClients, address: Target): ManagedDataService {
  return { ...clients.methods("dataservice", address), ...lifecycle } as unknown as ManagedDataService;
}

export function remoteDataNode(clients: RpcClients, address: string): DataNode {
  return { ...clients.methods("datanode", address), ...lifecycle } as unknown as DataNode;
}

export function remoteQueryService(clients: RpcClients, address: Target): ManagedQueryService {
  const waitDeadline = (args: readonly unknown[]) =>
    (typeof args[1] === "number" ? args[1] : 120_000) + 5_000;
  return {
    ...clients.methods("queryservice", address, { waitLoaded: waitDeadline }),
    ...lifecycle,
  } as unknown as ManagedQueryService;
}

/** What a query node's Snapshot rpc answers. */
export interface QueryNodeSnapshot {
  readonly tSafe: ReadonlyMap<string, Timestamp>;
  readonly resourceCost: ResourceCost;
  readonly segments: ReturnType<QueryNode["segments"]>;
}

/** The server side of a query node's Snapshot rpc: tSafe of the channels the caller asked about. */
export function queryNodeSnapshot(node: QueryNode): (channels?: unknown) => QueryNodeSnapshot {
  return (channels) => {
    const tSafe = new Map<string, Timestamp>();
    if (Array.isArray(channels))
      for (const c of channels) if (typeof c === "string") tSafe.set(c, node.tSafe(c));
    return { tSafe, resourceCost: node.resourceCost(), segments: node.segments() };
  };
}

export interface RemoteQueryNode extends QueryNode {
  /** Fetches a fresh snapshot now (the background poll does this every `pollMs`). */
  refresh(): Promise<void>;
}

/**
 * A remote query node. `tSafe` answers the last polled value (0 until a poll has seen the channel:
 * a reader then waits or reads an older snapshot, never a newer one than the node has applied).
 */
export function remoteQueryNode(clients: RpcClients, address: string, pollMs = 100): RemoteQueryNode {
  const m = clients.methods("querynode", address, {
    search: (a) => timeoutOf(a[0]) + 5_000,
    query: (a) => timeoutOf(a[0]) + 5_000,
    loadSegments: () => 600_000,
  });
  const asked = new Set<string>();
  let last: QueryNodeSnapshot = {
    tSafe: new Map(),
    resourceCost: { memUsage: 0, cpuUsage: 0 },
    segments: { sealed: [], growing: [] },
  };
  let inflight: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    inflight ??= (m.snapshot?.([...asked]) ?? Promise.resolve(undefined))
      .then((s) => {
        if (s !== undefined) last = s as QueryNodeSnapshot;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
  const stop = poll(refresh, pollMs);
  const stub = {
    ...m,
    start: async () => undefined,
    close: async () => stop(),
    refresh,
    tSafe: (channel: string): Timestamp => {
      asked.add(channel);
      return last.tSafe.get(channel) ?? 0n;
    },
    resourceCost: () => last.resourceCost,
    segments: () => last.segments,
  };
  return stub as unknown as RemoteQueryNode;
}

/** Runs `fn` every `ms` (after the previous run settled; failures ignored) until the returned stop is called. */
function poll(fn: () => Promise<void>, ms: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    timer = setTimeout(() => {
      fn()
        .catch(() => undefined)
        .finally(() => {
          if (!stopped) schedule();
        });
    }, ms);
    timer.unref();
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function timeoutOf(req: unknown): number {
  const t = (req as { timeoutMs?: unknown } | undefined)?.timeoutMs;
  return typeof t === "number" && Number.isFinite(t) ? t : 30_000;
}

/** What an index node's Snapshot rpc answers. */
export interface IndexNodeSnapshot {
  readonly nodeId: number;
  readonly stats: ReturnType<IndexNode["stats"]>;
}

export function indexNodeSnapshot(node: IndexNode): () => IndexNodeSnapshot {
  return () => ({ nodeId: node.nodeId, stats: node.stats() });
}

/** A remote index node; `stats` is the last polled value (free slots assumed until the first poll). */
export function remoteIndexNode(
  clients: RpcClients,
  address: string,
  nodeId: number,
  pollMs = 500,
): IndexNode {
  const m = clients.methods("indexnode", address);
  let stats: ReturnType<IndexNode["stats"]> = { running: 0, queued: 0, slots: 1 };
  const stop = poll(async () => {
    const s = await (m.snapshot?.() ?? Promise.resolve(undefined));
    if (s !== undefined) stats = (s as IndexNodeSnapshot).stats;
  }, pollMs);
  return {
    ...m,
    nodeId,
    start: async () => undefined,
    close: async () => stop(),
    stats: () => stats,
  } as unknown as IndexNode;
}

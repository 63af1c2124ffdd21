import { StrataError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { DataNode } from "../../datanode/types.ts";
import type { ManagedDataService } from "../../dataservice/index.ts";
import type { IndexNode } from "../../indexnode/types.ts";
import type { QueryNode } from "../../querynode/types.ts";
import type { ManagedQueryService } from "../../queryservice/index.ts";
import type { RootCoord } from "../../rootcoord/types.ts";
import type { RpcClients } from "../../rpc/client.ts";
import type { RpcRole } from "../../rpc/proto.ts";
import {
  remoteDataNode,
  remoteDataService,
  remoteIndexNode,
  remoteQueryNode,
  remoteQueryService,
  remoteRootCoord,
} from "../../rpc/stubs.ts";
import type { ClusterRole, SessionInfo, SessionWatch } from "./sessions.ts";

interface Cached<T> {
  readonly address: string;
  readonly stub: T;
}

/**
 * The other processes' roles as this process reaches them: stubs built from the live sessions.
 * Coordinator stubs look up the current session at every call (a restarted coordinator is found
 * at its new address); node stubs exist while the node's session does, so a node whose session
 * ended resolves to undefined — which is how the coordinators learn it is gone.
 */
export class PeerDirectory {
  readonly #watch: SessionWatch;
  readonly #clients: RpcClients;
  readonly #log: Logger;
  readonly #dataNodes = new Map<number, Cached<DataNode>>();
  readonly #queryNodes = new Map<number, Cached<QueryNode>>();
  readonly #indexNodes = new Map<number, Cached<IndexNode>>();
  readonly #off: () => void;
  #rootcoord: RootCoord | undefined;
  #dataservice: ManagedDataService | undefined;
  #queryservice: ManagedQueryService | undefined;
  readonly #downHandlers: { role: ClusterRole; fn: (nodeId: number) => Promise<void> | void }[] = [];

  constructor(watch: SessionWatch, clients: RpcClients, log: Logger) {
    this.#watch = watch;
    this.#clients = clients;
    this.#log = log;
    this.#off = watch.onChange((c) => {
      if (c.type === "down") this.#down(c.info);
    });
  }

  #coordinator(role: ClusterRole): () => string {
    return () => {
      let best: SessionInfo | undefined;
      for (const s of this.#watch.list(role))
        if (best === undefined || s.startedAt > best.startedAt) best = s;
      if (best === undefined)
        throw new StrataError("ServiceUnavailable", `no ${role} is running in the cluster`);
      return best.address;
    };
  }

  get rootcoord(): RootCoord {
    this.#rootcoord ??= remoteRootCoord(this.#clients, this.#coordinator("rootcoord"));
    return this.#rootcoord;
  }

  get dataservice(): ManagedDataService {
    this.#dataservice ??= remoteDataService(this.#clients, this.#coordinator("dataservice"));
    return this.#dataservice;
  }

  get queryservice(): ManagedQueryService {
    this.#queryservice ??= remoteQueryService(this.#clients, this.#coordinator("queryservice"));
    return this.#queryservice;
  }

  #node<T>(
    role: ClusterRole,
    cache: Map<number, Cached<T>>,
    nodeId: number,
    make: (address: string) => T,
  ): T | undefined {
    const s = this.#watch.get(role, nodeId);
    const hit = cache.get(nodeId);
    if (s === undefined) return undefined;
    if (hit !== undefined && hit.address === s.address) return hit.stub;
    const stub = make(s.address);
    cache.set(nodeId, { address: s.address, stub });
    return stub;
  }

  dataNode(nodeId: number): DataNode | undefined {
    return this.#node("datanode", this.#dataNodes, nodeId, (a) => remoteDataNode(this.#clients, a));
  }

  queryNode(nodeId: number): QueryNode | undefined {
    return this.#node("querynode", this.#queryNodes, nodeId, (a) => remoteQueryNode(this.#clients, a));
  }

  indexNodes(): IndexNode[] {
    const out: IndexNode[] = [];
    for (const s of this.#watch.list("indexnode")) {
      const n = this.#node("indexnode", this.#indexNodes, s.nodeId, (a) =>
        remoteIndexNode(this.#clients, a, s.nodeId),
      );
      if (n !== undefined) out.push(n);
    }
    return out;
  }

  /** Live sessions of a role (for describing the cluster). */
  sessions(role: ClusterRole): SessionInfo[] {
    return this.#watch.list(role);
  }

  /** Runs `fn` with the node ID whenever a session of `role` ends (failures are logged). */
  onDown(role: ClusterRole, fn: (nodeId: number) => Promise<void> | void): void {
    this.#downHandlers.push({ role, fn });
  }

  #down(info: SessionInfo): void {
    const caches: Partial<Record<ClusterRole, Map<number, Cached<{ close(): Promise<void> }>>>> = {
      datanode: this.#dataNodes,
      querynode: this.#queryNodes,
      indexnode: this.#indexNodes,
    };
    const cache = caches[info.role];
    const hit = cache?.get(info.nodeId);
    if (cache !== undefined && hit !== undefined && hit.address === info.address) {
      cache.delete(info.nodeId);
      void hit.stub.close();
      if (info.role !== "proxy") this.#clients.forget(info.role as RpcRole, info.address);
    }
    this.#log.warn({ peerRole: info.role, peer: info.nodeId, address: info.address }, "peer session ended");
    for (const h of this.#downHandlers) {
      if (h.role !== info.role) continue;
      Promise.resolve()
        .then(() => h.fn(info.nodeId))
        .catch((e: unknown) =>
          this.#log.warn({ err: e, peerRole: info.role, peer: info.nodeId }, "peer-down handler failed"),
        );
    }
  }

  close(): void {
    this.#off();
    for (const cache of [this.#dataNodes, this.#queryNodes, this.#indexNodes] as Map<
      number,
      Cached<{ close(): Promise<void> }>
    >[]) {
      for (const c of cache.values()) void c.stub.close();
      cache.clear();
    }
  }
}

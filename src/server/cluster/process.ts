import { mkdir } from "node:fs/promises";
import type { StrataConfig } from "../../common/config.ts";
import { isStrataError, StrataError } from "../../common/errors.ts";
import { IdAllocator } from "../../common/id-allocator.ts";
import type { Logger } from "../../common/log.ts";
import { TimestampOracle } from "../../common/tso.ts";
import { createDataNode } from "../../datanode/index.ts";
import type { DataNode } from "../../datanode/types.ts";
import { createDataService, type ManagedDataService } from "../../dataservice/index.ts";
import { createIndexNode, type IndexNode } from "../../indexnode/index.ts";
import { createProxy, type ProxyService } from "../../proxy/index.ts";
import { createQueryNode, type QueryNode } from "../../querynode/index.ts";
import { createQueryService, type ManagedQueryService } from "../../queryservice/index.ts";
import { createRootCoord } from "../../rootcoord/index.ts";
import type { RootCoord } from "../../rootcoord/types.ts";
import { RpcClients } from "../../rpc/client.ts";
import { loadRoleServices } from "../../rpc/proto.ts";
import { RpcServer } from "../../rpc/server.ts";
import { indexNodeSnapshot, queryNodeSnapshot } from "../../rpc/stubs.ts";
import { type Backends, openBackends } from "../backends.ts";
import { dataNodeOptions, dataServiceOptions, indexNodeOptions, queryNodeOptions } from "../role-options.ts";
import { ID_ALLOCATOR_KEY, TSO_KEY } from "../standalone.ts";
import { PeerDirectory } from "./peers.ts";
import { allocNodeId, CLUSTER_ROLES, type ClusterRole, Session, SessionWatch } from "./sessions.ts";

/** One process of a cluster: some roles local, the others reached over internal RPC. */
export interface ClusterProcess {
  readonly roles: readonly ClusterRole[];
  /** The node ID every role of this process registers with. */
  readonly nodeId: number;
  /** The internal RPC address recorded in this process's sessions. */
  readonly address: string;
  readonly backends: Backends;
  readonly peers: PeerDirectory;
  /** The local proxy, when this process hosts one (the front door serves it). */
  readonly proxy: ProxyService | undefined;
  /** The coordinators and query nodes as this process reaches them (local objects or stubs). */
  readonly rootcoord: RootCoord;
  readonly dataservice: ManagedDataService;
  readonly queryservice: ManagedQueryService;
  readonly queryNodes: (nodeId: number) => QueryNode | undefined;
  /** This process's roles and what they hold, for `GET /status`. */
  describe(): Promise<Record<string, unknown>>;
  /** Settles when a session of this process was lost: the process must exit (its work moved). */
  readonly lost: Promise<string>;
  /** Stops the roles (reverse start order), ends the sessions, closes RPC and backends. Idempotent. */
  close(): Promise<void>;
}

function checkRoles(roles: readonly string[], config: StrataConfig): ClusterRole[] {
  if (roles.length === 0)
    throw new StrataError("ConfigInvalid", `name at least one role: ${CLUSTER_ROLES.join(", ")}`);
  const out: ClusterRole[] = [];
  for (const r of roles) {
    if (!(CLUSTER_ROLES as readonly string[]).includes(r))
      throw new StrataError("ConfigInvalid", `unknown role "${r}"; roles are ${CLUSTER_ROLES.join(", ")}`);
    if (!out.includes(r as ClusterRole)) out.push(r as ClusterRole);
  }
  if (config.kv.backend !== "etcd" || config.mq.backend !== "nats") {
    throw new StrataError(
      "ConfigInvalid",
      "cluster mode needs shared backends: set kv.backend: etcd and mq.backend: nats (and objectstore.backend: s3 across machines)",
    );
  }
  return out;
}

/**
 * Starts the given roles in this process on the cluster's shared backends. Coordinators
 * (rootcoord, dataservice, queryservice) are found through their sessions in the meta store;
 * a role that needs one waits for it up to `cluster.joinTimeoutMs`. Start order inside the process
 * follows the standalone wiring; each node role publishes its session before it registers with its
 * coordinator (so the coordinator can resolve it), each coordinator after it started.
 */
export async function startClusterProcess(
  roleNames: readonly string[],
  config: StrataConfig,
  log: Logger,
): Promise<ClusterProcess> {
  const roles = checkRoles(roleNames, config);
  const has = (r: ClusterRole) => roles.includes(r);
  await mkdir(config.dataDir, { recursive: true });
  const backends = await openBackends(config, log);
  const cleanups: (() => Promise<void>)[] = [() => backends.close()];
  const closeAll = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        log.warn({ err: e }, "error while stopping");
      }
    }
  };
  let onLost: (why: string) => void = () => undefined;
  const lost = new Promise<string>((resolve) => {
    onLost = resolve;
  });
  try {
    const kv = backends.kv;
    const nodeId = config.cluster.nodeId > 0 ? config.cluster.nodeId : await allocNodeId(kv);
    const plog = log.child({ nodeId });
    const roleLog = (role: ClusterRole) => log.child({ role, nodeId });
    const services = loadRoleServices();
    const clients = new RpcClients(services);
    cleanups.push(async () => clients.close());
    const watch = await SessionWatch.open(kv, plog);
    cleanups.push(() => watch.close());
    const rpc = new RpcServer(services, plog);
    const peers = new PeerDirectory(watch, clients, plog);
    cleanups.push(async () => peers.close());
    const ttlSeconds = config.cluster.sessionTtlSeconds;
    const joinMs = config.cluster.joinTimeoutMs;
    const sessions: Session[] = [];
    const address = () => rpc.address;
    const openSession = async (role: ClusterRole) => {
      const s = await Session.open(
        kv,
        { role, nodeId, address: address(), pid: process.pid, startedAt: Date.now() },
        { ttlSeconds, logger: roleLog(role), onLost: () => onLost(`${role} session lost`) },
      );
      sessions.push(s);
      cleanups.push(() => s.close());
    };
    // A coordinator this process needs must have a session AND answer: after a whole-cluster
    // restart the dead processes' sessions linger until their leases lapse, and the first call of
    // a starting role (registerNode, registerProxy) must not go to one of them.
    const probes: Partial<Record<ClusterRole, () => Promise<unknown>>> = {
      rootcoord: () => peers.rootcoord.getDdChannel(),
      dataservice: () => peers.dataservice.getTimeTickChannel(),
      queryservice: () => peers.queryservice.getTimeTickChannel(),
    };
    const need = async (role: ClusterRole) => {
      if (has(role)) return;
      const deadline = Date.now() + joinMs;
      for (;;) {
        await watch.waitFor(role, Math.max(1, deadline - Date.now()));
        try {
          await probes[role]?.();
          return;
        } catch (e) {
          const retry = ["ServiceUnavailable", "ServiceNotReady", "Closed"] as const;
          if (!isStrataError(e) || !retry.includes(e.code as (typeof retry)[number])) throw e;
          if (Date.now() > deadline)
            throw new StrataError(
              "ServiceUnavailable",
              `no ${role} answered within ${joinMs} ms: ${e.message}`,
            );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    // ---- construct the local roles (remote ones are stubs from the peer directory)
    let rootcoord: RootCoord | undefined;
    let dataservice: ManagedDataService | undefined;
    let queryservice: ManagedQueryService | undefined;
    const rc = (): RootCoord => rootcoord ?? peers.rootcoord;
    const ds = (): ManagedDataService => dataservice ?? peers.dataservice;
    const qs = (): ManagedQueryService => queryservice ?? peers.queryservice;

    // Node roles of this process, once created; the resolvers below prefer them to a stub.
    let localData: DataNode | undefined;
    let localQuery: QueryNode | undefined;
    const dataNodeOf = (id: number): DataNode | undefined =>
      id === nodeId && localData !== undefined ? localData : peers.dataNode(id);
    const queryNodeOf = (id: number): QueryNode | undefined =>
      id === nodeId && localQuery !== undefined ? localQuery : peers.queryNode(id);

    let localRoot: (RootCoord & { loadCatalog(): Promise<void> }) | undefined;
    if (has("rootcoord")) {
      const l = roleLog("rootcoord");
      const tso = await TimestampOracle.open({
        kv,
        key: TSO_KEY,
        saveIntervalMs: config.tso.saveIntervalMs,
        logger: l,
      });
      cleanups.push(() => tso.close());
      const ids = await IdAllocator.open({
        kv,
        key: ID_ALLOCATOR_KEY,
        windowSize: config.idAllocator.windowSize,
        logger: l,
      });
      cleanups.push(() => ids.close());
      localRoot = createRootCoord(
        { kv, mq: backends.mq, tso, ids, dataservice: ds, logger: l },
        { timeTickIntervalMs: config.rootcoord.timeTickIntervalMs },
      );
      rootcoord = localRoot;
      rpc.add("rootcoord", localRoot);
    }
    let indexnode: IndexNode | undefined;
    if (has("indexnode")) {
      indexnode = createIndexNode(
        { nodeId, objects: backends.objects, logger: roleLog("indexnode") },
        indexNodeOptions(config, nodeId),
      );
      rpc.add("indexnode", indexnode, { snapshot: indexNodeSnapshot(indexnode) });
    }
    const localIndex = indexnode;
    if (has("dataservice")) {
      dataservice = createDataService(
        {
          kv,
          mq: backends.mq,
          objects: backends.objects,
          rootcoord: rc(),
          dataNodes: dataNodeOf,
          indexNodes: () =>
            localIndex === undefined ? peers.indexNodes() : [localIndex, ...peers.indexNodes()],
          logger: roleLog("dataservice"),
        },
        dataServiceOptions(config),
      );
      rpc.add("dataservice", dataservice);
    }
    if (has("queryservice")) {
      queryservice = createQueryService({
        kv,
        mq: backends.mq,
        dataservice: ds(),
        rootcoord: rc(),
        queryNodes: queryNodeOf,
        logger: roleLog("queryservice"),
      });
      rpc.add("queryservice", queryservice);
    }
    await rpc.listen(config.cluster.host, config.cluster.port);
    cleanups.push(() => rpc.close());
    plog.info({ roles, address: rpc.address }, "internal RPC listening");

    // ---- start, coordinators first (standalone order), each joining the directory when ready
    if (localRoot !== undefined) await localRoot.loadCatalog();
    if (indexnode !== undefined) {
      const n = indexnode;
      await n.start();
      cleanups.push(() => n.close());
      await openSession("indexnode");
    }
    // rootcoord answers catalogue calls once loaded: the dataservice needs that to start, and
    // rootcoord's own start (channel re-announcement) needs the dataservice.
    if (localRoot !== undefined) await openSession("rootcoord");
    if (dataservice !== undefined) {
      await need("rootcoord");
      const d = dataservice;
      await d.start();
      cleanups.push(() => d.close());
      await openSession("dataservice");
      peers.onDown("datanode", (id) => d.unregisterNode(id));
    }
    if (localRoot !== undefined) {
      await need("dataservice");
      const r = localRoot;
      await r.start();
      cleanups.push(() => r.close());
      peers.onDown("proxy", (id) => r.unregisterProxy(id));
    }
    if (has("datanode")) {
      await need("rootcoord");
      await need("dataservice");
      const l = roleLog("datanode");
      const dn = createDataNode(
        { nodeId, mq: backends.mq, objects: backends.objects, dataservice: ds(), rootcoord: rc(), logger: l },
        dataNodeOptions(config, await rc().getDdChannel()),
      );
      localData = dn;
      rpc.add("datanode", dn);
      await openSession("datanode");
      await dn.start();
      cleanups.push(async () => {
        await dn.drain();
        await dn.close();
      });
    }
    if (queryservice !== undefined) {
      await need("rootcoord");
      await need("dataservice");
      const q = queryservice;
      await q.start();
      cleanups.push(() => q.close());
      await openSession("queryservice");
      peers.onDown("querynode", (id) => q.unregisterNode(id));
    }
    if (has("querynode")) {
      await need("rootcoord");
      await need("dataservice");
      await need("queryservice");
      const qn = createQueryNode(
        {
          nodeId,
          mq: backends.mq,
          objects: backends.objects,
          dataservice: ds(),
          rootcoord: rc(),
          queryservice: qs,
          logger: roleLog("querynode"),
        },
        queryNodeOptions(config, nodeId),
      );
      localQuery = qn;
      rpc.add("querynode", qn, { snapshot: queryNodeSnapshot(qn) });
      await openSession("querynode");
      await qn.start();
      cleanups.push(() => qn.close());
    }
    let proxy: ProxyService | undefined;
    if (has("proxy")) {
      await need("rootcoord");
      await need("dataservice");
      await need("queryservice");
      const p = createProxy(
        {
          proxyId: nodeId,
          rootcoord: rc(),
          dataservice: ds(),
          mq: backends.mq,
          logger: roleLog("proxy"),
          read: {
            queryservice: qs(),
            queryNodes: queryNodeOf,
          },
        },
        { timeTickIntervalMs: config.rootcoord.timeTickIntervalMs },
      );
      await p.start();
      cleanups.push(() => p.close());
      await openSession("proxy");
      proxy = p;
    }
    plog.info({ roles, address: rpc.address }, "cluster roles ready");
    let closing: Promise<void> | undefined;
    return {
      roles,
      nodeId,
      address: rpc.address,
      backends,
      peers,
      proxy,
      rootcoord: rc(),
      dataservice: ds(),
      queryservice: qs(),
      queryNodes: queryNodeOf,
      lost,
      describe: async () => {
        const out: Record<string, unknown> = { roles, nodeId, address: rpc.address };
        if (localQuery !== undefined)
          out.querynode = { segments: localQuery.segments(), resourceCost: localQuery.resourceCost() };
        if (localData !== undefined) out.datanode = { nodeId };
        if (queryservice !== undefined) out.queryservice = { nodes: await queryservice.describeNodes() };
        if (dataservice !== undefined) out.dataservice = { nodes: await dataservice.describeNodes() };
        out.sessions = Object.fromEntries(
          CLUSTER_ROLES.map((r) => [r, peers.sessions(r).map((x) => x.nodeId)]),
        );
        return out;
      },
      close: () => {
        closing ??= closeAll();
        return closing;
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

import { mkdir } from "node:fs/promises";
import type { StrataConfig } from "../common/config.ts";
import { IdAllocator } from "../common/id-allocator.ts";
import type { Logger } from "../common/log.ts";
import { TimestampOracle } from "../common/tso.ts";
import { createDataNode } from "../datanode/index.ts";
import type { DataNode } from "../datanode/types.ts";
import { createDataService, type ManagedDataService } from "../dataservice/index.ts";
import { createIndexNode, type IndexNode } from "../indexnode/index.ts";
import { createProxy, type ProxyService } from "../proxy/index.ts";
import { createQueryNode, type QueryNode } from "../querynode/index.ts";
import { createQueryService, type ManagedQueryService } from "../queryservice/index.ts";
import { createRootCoord } from "../rootcoord/index.ts";
import type { RootCoord } from "../rootcoord/types.ts";
import { type Backends, openBackends } from "./backends.ts";
import { dataNodeOptions, dataServiceOptions, indexNodeOptions, queryNodeOptions } from "./role-options.ts";

/** Meta-store keys of the cluster-wide services (under the configured root path). */
export const TSO_KEY = "rootcoord/tso";
export const ID_ALLOCATOR_KEY = "rootcoord/idalloc";
const DATA_NODE_ID = 1;
/** The standalone query node's ID (every standalone role has ID 1). */
export const QUERY_NODE_ID = 1;
const INDEX_NODE_ID = 1;
const PROXY_ID = 1;

export interface Standalone {
  readonly config: StrataConfig;
  readonly backends: Backends;
  readonly tso: TimestampOracle;
  readonly ids: IdAllocator;
  readonly rootcoord: RootCoord;
  readonly dataservice: ManagedDataService;
  readonly datanode: DataNode;
  readonly queryservice: ManagedQueryService;
  readonly querynode: QueryNode;
  readonly indexnode: IndexNode;
  readonly proxy: ProxyService;
  /** Stops everything in reverse order of start. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts every role of one Strata process on the configured backends, wired by direct calls.
 * Holds no global state: several instances (on different data dirs and ports) can run in one
 * process, and an instance can be closed and started again on the same data dir.
 */
export async function startStandalone(config: StrataConfig, log: Logger): Promise<Standalone> {
  await mkdir(config.dataDir, { recursive: true });
  const backends = await openBackends(config, log);
  const cleanups: (() => Promise<void>)[] = [() => backends.close()];
  const closeAll = async () => {
    const list = cleanups.splice(0).reverse();
    for (const c of list) {
      try {
        await c();
      } catch (e) {
        log.warn({ err: e }, "error while stopping");
      }
    }
  };
  try {
    const rootLog = log.child({ role: "rootcoord", nodeId: 1 });
    const tso = await TimestampOracle.open({
      kv: backends.kv,
      key: TSO_KEY,
      saveIntervalMs: config.tso.saveIntervalMs,
      logger: rootLog,
    });
    cleanups.push(() => tso.close());
    const ids = await IdAllocator.open({
      kv: backends.kv,
      key: ID_ALLOCATOR_KEY,
      windowSize: config.idAllocator.windowSize,
      logger: rootLog,
    });
    cleanups.push(() => ids.close());

    let dataservice: ManagedDataService | undefined;
    const nodes = new Map<number, DataNode>();
    const rootcoord = createRootCoord(
      {
        kv: backends.kv,
        mq: backends.mq,
        tso,
        ids,
        dataservice: () => {
          if (dataservice === undefined) throw new Error("dataservice not wired");
          return dataservice;
        },
        logger: rootLog,
      },
      { timeTickIntervalMs: config.rootcoord.timeTickIntervalMs },
    );
    const indexnode = createIndexNode(
      {
        nodeId: INDEX_NODE_ID,
        objects: backends.objects,
        logger: log.child({ role: "indexnode", nodeId: INDEX_NODE_ID }),
      },
      indexNodeOptions(config, INDEX_NODE_ID),
    );
    const ds = createDataService(
      {
        kv: backends.kv,
        mq: backends.mq,
        objects: backends.objects,
        rootcoord,
        dataNodes: (id) => nodes.get(id),
        indexNodes: () => [indexnode],
        logger: log.child({ role: "dataservice", nodeId: 1 }),
      },
      dataServiceOptions(config),
    );
    dataservice = ds;
    const datanode = createDataNode(
      {
        nodeId: DATA_NODE_ID,
        mq: backends.mq,
        objects: backends.objects,
        dataservice: ds,
        rootcoord,
        logger: log.child({ role: "datanode", nodeId: DATA_NODE_ID }),
      },
      dataNodeOptions(config, await rootcoord.getDdChannel()),
    );
    nodes.set(DATA_NODE_ID, datanode);
    const queryNodes = new Map<number, QueryNode>();
    const qs = createQueryService({
      kv: backends.kv,
      mq: backends.mq,
      dataservice: ds,
      rootcoord,
      queryNodes: (id) => queryNodes.get(id),
      logger: log.child({ role: "queryservice", nodeId: 1 }),
    });
    const querynode = createQueryNode(
      {
        nodeId: QUERY_NODE_ID,
        mq: backends.mq,
        objects: backends.objects,
        dataservice: ds,
        rootcoord,
        queryservice: () => qs,
        logger: log.child({ role: "querynode", nodeId: QUERY_NODE_ID }),
      },
      queryNodeOptions(config, QUERY_NODE_ID),
    );
    queryNodes.set(QUERY_NODE_ID, querynode);
    const proxy = createProxy(
      {
        proxyId: PROXY_ID,
        rootcoord,
        dataservice: ds,
        mq: backends.mq,
        logger: log.child({ role: "proxy", nodeId: PROXY_ID }),
        read: { queryservice: qs, queryNodes: (id) => queryNodes.get(id) },
      },
      { timeTickIntervalMs: config.rootcoord.timeTickIntervalMs },
    );

    // Start order: rootcoord loads the catalogue (so anyone can describe collections), the
    // dataservice recovers its meta and re-sends channel watches, rootcoord starts ticking and
    // re-announces channels, the data node registers and is given its channels, then the proxy.
    await rootcoord.loadCatalog();
    await indexnode.start();
    cleanups.push(() => indexnode.close());
    await ds.start();
    cleanups.push(() => ds.close());
    await rootcoord.start();
    cleanups.push(() => rootcoord.close());
    await datanode.start();
    // Graceful stop: the proxy is closed by then, so draining persists every acknowledged row
    // received so far and a restart replays nothing needlessly.
    cleanups.push(async () => {
      await datanode.drain();
      await datanode.close();
    });
    await qs.start();
    cleanups.push(() => qs.close());
    await querynode.start();
    cleanups.push(() => querynode.close());
    await proxy.start();
    cleanups.push(() => proxy.close());

    log.info({ dataDir: config.dataDir }, "strata standalone ready");
    return {
      config,
      backends,
      tso,
      ids,
      rootcoord,
      dataservice: ds,
      datanode,
      queryservice: qs,
      querynode,
      indexnode,
      proxy,
      close: closeAll,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

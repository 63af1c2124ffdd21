import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { Server as GrpcServer } from "@grpc/grpc-js";
import { AuthService } from "../api/auth/index.ts";
import { addMilvusService, MILVUS_GRPC_SERVER_OPTIONS } from "../api/milvus/index.ts";
import { createRestHandler } from "../api/rest/index.ts";
import type { StrataConfig } from "../common/config.ts";
import type { Logger } from "../common/log.ts";
import type { Timestamp } from "../common/timestamp.ts";
import { type ManagedDataService, SegmentState } from "../dataservice/index.ts";
import type { MetaKv } from "../kv/types.ts";
import type { ProxyService } from "../proxy/index.ts";
import type { QueryNode } from "../querynode/types.ts";
import type { ManagedQueryService } from "../queryservice/index.ts";
import { NodeState } from "../queryservice/types.ts";
import type { RootCoord } from "../rootcoord/types.ts";
import { type Listener, startListener } from "./listener.ts";
import { StrataMetrics } from "./metrics.ts";
import { type OpsServer, type ServerPhase, startOpsServer } from "./ops.ts";
import { QUERY_NODE_ID, type Standalone, startStandalone } from "./standalone.ts";

export interface ServeOptions {
  /** Reported to clients (Connect, metrics); default: the version in package.json. */
  readonly version?: string;
  /** How long `close()` lets in-flight requests finish before cutting them (default 5000 ms). */
  readonly closeGraceMs?: number;
  /**
   * After start, how long to wait for every role to report healthy (a restarted query node
   * re-adopts its channels first) before declaring the server ready anyway, with a warning
   * (default 30 000 ms).
   */
  readonly readyTimeoutMs?: number;
}

/** A running Strata server: every role, the Milvus front door (gRPC + REST) and the ops endpoint. */
export interface StrataServer {
  readonly node: Standalone;
  readonly version: string;
  readonly host: string;
  /** The front door's bound port (gRPC and REST). */
  readonly port: number;
  /** The ops endpoint's bound port (health, metrics). */
  readonly metricsPort: number;
  readonly auth: AuthService;
  readonly metrics: StrataMetrics;
  /** Set when this start created `root` with a generated password (auth on, none configured). */
  readonly initialRootPassword: string | undefined;
  phase(): ServerPhase;
  /**
   * Graceful stop: `/readyz` turns 503, the front door stops accepting and drains in-flight
   * requests, then the roles close (buffers flushed) and the ops endpoint last. Idempotent.
   */
  close(): Promise<void>;
}

/** The version in Strata's package.json. */
export function strataVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version?: unknown;
  };
  return typeof pkg.version === "string" ? pkg.version : "0.0.0";
}

const STATE_NAMES: Readonly<Record<number, string>> = {
  [SegmentState.GROWING]: "growing",
  [SegmentState.SEALED]: "sealed",
  [SegmentState.FLUSHING]: "flushing",
  [SegmentState.FLUSHED]: "flushed",
  [SegmentState.DROPPED]: "dropped",
};

/** The roles the ops endpoint and the front door read, local or remote. */
export interface RolesView {
  readonly rootcoord: RootCoord;
  readonly dataservice: ManagedDataService;
  readonly queryservice: ManagedQueryService;
  readonly queryNodes: (nodeId: number) => QueryNode | undefined;
}

function standaloneView(node: Standalone): RolesView {
  return {
    rootcoord: node.rootcoord,
    dataservice: node.dataservice,
    queryservice: node.queryservice,
    queryNodes: (id) => (id === QUERY_NODE_ID ? node.querynode : undefined),
  };
}

/** Segments per state over every collection and partition, from the dataservice's seed calls. */
async function segmentStates(node: RolesView): Promise<ReadonlyMap<string, number>> {
  const counts = new Map<string, number>();
  for (const name of await node.rootcoord.showCollections()) {
    let info: Awaited<ReturnType<typeof node.rootcoord.describeCollection>>;
    try {
      info = await node.rootcoord.describeCollection(name);
    } catch {
      continue; // dropped meanwhile
    }
    for (const seg of await node.dataservice.listSegments(info.collectionId)) {
      const key = STATE_NAMES[seg.state];
      if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/** tSafe of every DML channel of every loaded collection, from the node that follows it. */
async function channelTSafe(node: RolesView): Promise<ReadonlyMap<string, Timestamp>> {
  const out = new Map<string, Timestamp>();
  const svc = await node.queryservice.describeService();
  for (const db of svc.dbDescriptions.values()) {
    for (const c of db.collectionDescriptions) {
      let dist: Awaited<ReturnType<typeof node.queryservice.getDistribution>>;
      try {
        dist = await node.queryservice.getDistribution(c.collectionId);
      } catch {
        continue; // released meanwhile
      }
      for (const { channel, nodeId } of dist.channels) {
        const qn = node.queryNodes(nodeId);
        if (qn !== undefined) out.set(channel, qn.tSafe(channel));
      }
    }
  }
  return out;
}

/** What makes `/healthz` fail while serving: roles that are not up. */
export async function problems(node: RolesView): Promise<string[]> {
  const found: string[] = [];
  const [dataNodes, query] = await Promise.allSettled([
    node.dataservice.describeNodes(),
    node.queryservice.describeService(),
  ]);
  if (dataNodes.status === "rejected") found.push(`dataservice: ${String(dataNodes.reason)}`);
  else if (dataNodes.value.length === 0) found.push("no data node is registered with the dataservice");
  if (query.status === "rejected") found.push(`queryservice: ${String(query.reason)}`);
  else {
    const nodes = [...query.value.nodeDescriptions];
    if (nodes.length === 0) found.push("no query node is registered with the queryservice");
    for (const [id, d] of nodes) {
      if (d.nodeState === NodeState.INITIALIZING) found.push(`query node ${id} is initializing`);
      else if (d.nodeState !== NodeState.HEALTHY) found.push(`query node ${id} is abnormal`);
    }
  }
  return found;
}

export async function untilHealthy(node: RolesView, timeoutMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await problems(node);
    if (found.length === 0) return;
    if (Date.now() >= deadline) {
      log.warn({ problems: found }, "roles not healthy after start; serving anyway (/healthz reports them)");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs stop steps in order; a failing step is logged and the next one still runs. */
export async function stopInOrder(
  log: Logger,
  steps: readonly [string, () => Promise<unknown>][],
): Promise<void> {
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (e) {
      log.warn({ err: e, what }, "error while stopping");
    }
  }
}

/** Prometheus metrics whose cluster-wide gauges read the roles through `view` (once started). */
export function viewMetrics(view: () => RolesView | undefined, version: string, log: Logger): StrataMetrics {
  return new StrataMetrics({
    logger: log.child({ component: "metrics" }),
    version,
    sources: {
      segmentStates: async () => {
        const v = view();
        return v === undefined ? new Map() : segmentStates(v);
      },
      channelTSafe: async () => {
        const v = view();
        return v === undefined ? new Map() : channelTSafe(v);
      },
    },
  });
}

/**
 * The Milvus front door over a proxy: authentication (users in the meta store), the Milvus gRPC
 * service and the REST API behind one listener on `config.server.port`.
 */
export async function startFrontDoor(
  config: StrataConfig,
  log: Logger,
  d: {
    readonly proxy: ProxyService;
    readonly kv: MetaKv;
    readonly metrics: StrataMetrics;
    readonly version: string;
  },
): Promise<{ auth: AuthService; listener: Listener }> {
  const auth = await AuthService.open({
    kv: d.kv,
    enabled: config.auth.enabled,
    rootPassword: config.auth.rootPassword,
    logger: log.child({ component: "auth" }),
  });
  const hooks = d.metrics.hooks();
  const frontLog = log.child({ component: "frontdoor" });
  const grpc = new GrpcServer(MILVUS_GRPC_SERVER_OPTIONS);
  const version = d.version;
  addMilvusService(grpc, { proxy: d.proxy, logger: frontLog, auth, hooks, version });
  const http = createHttpServer(
    createRestHandler({ proxy: d.proxy, logger: frontLog, auth, hooks, version }),
  );
  const listener = await startListener({
    host: config.server.host,
    port: config.server.port,
    grpc,
    http,
    logger: frontLog,
  });
  return { auth, listener };
}

/**
 * Starts a Strata server: the ops endpoint first (so `/livez` answers and `/readyz` says
 * "starting" during recovery), then every role, authentication, the Milvus gRPC service and the
 * REST API behind one listener on `config.server.port`. Several servers (on different data dirs
 * and ports) can run in one process.
 */
export async function startServer(
  config: StrataConfig,
  log: Logger,
  opts: ServeOptions = {},
): Promise<StrataServer> {
  const version = opts.version ?? strataVersion();
  const closeGraceMs = opts.closeGraceMs ?? 5000;
  let phase: ServerPhase = "starting";
  let node: Standalone | undefined;
  let view: RolesView | undefined;
  const metrics = viewMetrics(() => view, version, log);
  let ops: OpsServer | undefined;
  let listener: Listener | undefined;
  const stopAll = async () => {
    phase = "stopping";
    await stopInOrder(log, [
      ["front door", async () => listener?.close(closeGraceMs)],
      ["roles", async () => node?.close()],
      ["metrics", async () => metrics.close()],
    ]);
    phase = "stopped";
    await ops?.close();
  };

  try {
    ops = await startOpsServer({
      host: config.server.host,
      port: config.server.metricsPort,
      status: {
        phase: () => phase,
        problems: async () => (view === undefined ? ["roles are not started"] : problems(view)),
      },
      metrics,
      logger: log.child({ component: "ops" }),
    });
    node = await startStandalone(config, log);
    const started = node;
    view = standaloneView(started);
    const door = await startFrontDoor(config, log, {
      proxy: started.proxy,
      kv: started.backends.kv,
      metrics,
      version,
    });
    const auth = door.auth;
    listener = door.listener;
    await untilHealthy(view, opts.readyTimeoutMs ?? 30_000, log);
    phase = "serving";
    const front = door.listener;
    const opsServer = ops;
    log.info(
      { port: front.port, metricsPort: opsServer.port, version, auth: auth.enabled },
      "strata serving",
    );
    let closing: Promise<void> | undefined;
    return {
      node: started,
      version,
      host: config.server.host,
      port: front.port,
      metricsPort: opsServer.port,
      auth,
      metrics,
      initialRootPassword: auth.initialRootPassword,
      phase: () => phase,
      close: () => {
        closing ??= stopAll();
        return closing;
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

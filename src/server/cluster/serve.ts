import type { StrataConfig } from "../../common/config.ts";
import type { Logger } from "../../common/log.ts";
import type { Listener } from "../listener.ts";
import { type OpsServer, type ServerPhase, startOpsServer } from "../ops.ts";
import {
  problems,
  type RolesView,
  startFrontDoor,
  stopInOrder,
  untilHealthy,
  viewMetrics,
} from "../serve.ts";
import { type ClusterProcess, startClusterProcess } from "./process.ts";

/** A cluster process with its ops endpoint and, when it hosts a proxy, the Milvus front door. */
export interface ClusterServer {
  readonly process: ClusterProcess;
  readonly host: string;
  /** The front door's port; undefined without a proxy role. */
  readonly port: number | undefined;
  readonly metricsPort: number;
  phase(): ServerPhase;
  /** Settles when the process lost a session (it must exit: its work was moved). */
  readonly lost: Promise<string>;
  /** Graceful stop: front door, roles (buffers drained), sessions, ops. Idempotent. */
  close(): Promise<void>;
}

export interface ClusterServeOptions {
  readonly version: string;
  readonly closeGraceMs?: number;
  readonly readyTimeoutMs?: number;
}

/**
 * Starts `roles` as one process of a cluster. `/readyz` turns ready once the roles are started
 * (and, with a proxy, once the cluster looks healthy from it or `readyTimeoutMs` passed).
 */
export async function startClusterServer(
  roles: readonly string[],
  config: StrataConfig,
  log: Logger,
  opts: ClusterServeOptions,
): Promise<ClusterServer> {
  let phase: ServerPhase = "starting";
  let proc: ClusterProcess | undefined;
  let view: RolesView | undefined;
  const metrics = viewMetrics(() => view, opts.version, log);
  let ops: OpsServer | undefined;
  let listener: Listener | undefined;
  const stopAll = async () => {
    phase = "stopping";
    await stopInOrder(log, [
      ["front door", async () => listener?.close(opts.closeGraceMs ?? 5000)],
      ["roles", async () => proc?.close()],
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
        problems: async () => {
          if (proc === undefined) return ["roles are not started"];
          return proc.proxy === undefined || view === undefined ? [] : problems(view);
        },
        describe: async () => (proc === undefined ? { phase } : { phase, ...(await proc.describe()) }),
      },
      metrics,
      logger: log.child({ component: "ops" }),
    });
    proc = await startClusterProcess(roles, config, log);
    const p = proc;
    if (p.proxy !== undefined) {
      view = {
        rootcoord: p.rootcoord,
        dataservice: p.dataservice,
        queryservice: p.queryservice,
        queryNodes: p.queryNodes,
      };
      const door = await startFrontDoor(config, log, {
        proxy: p.proxy,
        kv: p.backends.kv,
        metrics,
        version: opts.version,
      });
      listener = door.listener;
      await untilHealthy(view, opts.readyTimeoutMs ?? 30_000, log);
    }
    phase = "serving";
    const opsPort = ops.port;
    let closing: Promise<void> | undefined;
    return {
      process: p,
      host: config.server.host,
      port: listener?.port,
      metricsPort: opsPort,
      phase: () => phase,
      lost: p.lost,
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

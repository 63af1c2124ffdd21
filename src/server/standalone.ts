import { mkdir } from "node:fs/promises";
import type { StrataConfig } from "../common/config.ts";
import { IdAllocator } from "../common/id-allocator.ts";
import type { Logger } from "../common/log.ts";
import { TimestampOracle } from "../common/tso.ts";
import { type Backends, openBackends } from "./backends.ts";
import { type HealthServer, startHealthServer } from "./health.ts";

/** Meta-store keys of the cluster-wide services (under the configured root path). */
export const TSO_KEY = "rootcoord/tso";
export const ID_ALLOCATOR_KEY = "rootcoord/idalloc";

export interface Standalone {
  readonly backends: Backends;
  readonly tso: TimestampOracle;
  readonly ids: IdAllocator;
  readonly health: HealthServer;
  /** Stops everything in reverse order. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts every role of one Strata process on the configured backends. Holds no global state:
 * several instances (on different data dirs and ports) can run in one process, and an instance
 * can be closed and started again on the same data dir.
 */
export async function startStandalone(config: StrataConfig, log: Logger): Promise<Standalone> {
  await mkdir(config.dataDir, { recursive: true });
  const backends = await openBackends(config, log);
  const cleanups: (() => Promise<void>)[] = [() => backends.close()];
  const closeAll = async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
  };
  try {
    const tso = await TimestampOracle.open({
      kv: backends.kv,
      key: TSO_KEY,
      saveIntervalMs: config.tso.saveIntervalMs,
      logger: log.child({ role: "rootcoord", component: "tso" }),
    });
    cleanups.push(() => tso.close());
    const ids = await IdAllocator.open({
      kv: backends.kv,
      key: ID_ALLOCATOR_KEY,
      windowSize: config.idAllocator.windowSize,
      logger: log.child({ role: "rootcoord", component: "idalloc" }),
    });
    cleanups.push(() => ids.close());
    let healthy = true;
    const health = await startHealthServer(config.server.host, config.server.metricsPort, () => healthy, log);
    cleanups.push(() => health.close());
    log.info({ dataDir: config.dataDir }, "strata standalone ready");
    return {
      backends,
      tso,
      ids,
      health,
      close: async () => {
        healthy = false;
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

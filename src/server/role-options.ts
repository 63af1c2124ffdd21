import { join } from "node:path";
import type { StrataConfig } from "../common/config.ts";
import type { DataServiceOptions } from "../dataservice/index.ts";

/**
 * Role options from config, shared by the standalone wiring and cluster processes so that both
 * run the roles the same way.
 */

export function dataServiceOptions(config: StrataConfig): DataServiceOptions {
  return {
    segmentMaxBytes: config.dataservice.segmentMaxBytes,
    assignmentExpirationMs: config.dataservice.assignmentExpirationMs,
    segmentMaxLifetimeMs: config.dataservice.segmentMaxLifetimeMs,
    segmentMaxIdleMs: config.dataservice.segmentMaxIdleMs,
    indexMinRows: config.dataservice.indexMinRows,
  };
}

export function indexNodeOptions(
  config: StrataConfig,
  nodeId: number,
): { tmpDir: string; buildThreads?: number } {
  return {
    tmpDir: join(config.dataDir, "cache", `indexnode-${nodeId}`),
    ...(config.indexnode.buildThreads > 0 ? { buildThreads: config.indexnode.buildThreads } : {}),
  };
}

export function dataNodeOptions(
  config: StrataConfig,
  ddChannel: string,
): { insertBufBytes: number; syncPeriodMs: number; ddChannel: string } {
  return {
    insertBufBytes: config.datanode.insertBufBytes,
    syncPeriodMs: config.datanode.syncPeriodMs,
    ddChannel,
  };
}

export function queryNodeOptions(
  config: StrataConfig,
  nodeId: number,
): { indexCacheDir: string; filterCacheBytes: number } {
  return {
    indexCacheDir: join(config.dataDir, "cache", `querynode-${nodeId}`),
    filterCacheBytes: config.querynode.filterCacheBytes,
  };
}

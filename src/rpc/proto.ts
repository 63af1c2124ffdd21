import { fileURLToPath } from "node:url";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

/** The roles whose interfaces are served over internal RPC (proto/strata/<role>.proto). */
export type RpcRole = "rootcoord" | "dataservice" | "datanode" | "queryservice" | "querynode" | "indexnode";

export const RPC_ROLES: readonly RpcRole[] = [
  "rootcoord",
  "dataservice",
  "datanode",
  "queryservice",
  "querynode",
  "indexnode",
];

const SERVICE_NAMES: Readonly<Record<RpcRole, string>> = {
  rootcoord: "strata.rootcoord.RootCoord",
  dataservice: "strata.dataservice.DataService",
  datanode: "strata.datanode.DataNode",
  queryservice: "strata.queryservice.QueryService",
  querynode: "strata.querynode.QueryNode",
  indexnode: "strata.indexnode.IndexNode",
};

export type RoleServices = Readonly<Record<RpcRole, ServiceDefinition>>;

/**
 * Loads our own `.proto` files (the repository's `proto/` folder) once per call; callers keep the
 * result (no module-level cache, so nothing outlives its owner).
 */
export function loadRoleServices(): RoleServices {
  const dir = fileURLToPath(new URL("../../proto/", import.meta.url));
  const files = RPC_ROLES.map((r) => `strata/${r}.proto`);
  const def = loadSync(files, { includeDirs: [dir], keepCase: true, defaults: true, bytes: Buffer });
  const out: Partial<Record<RpcRole, ServiceDefinition>> = {};
  for (const role of RPC_ROLES) {
    const svc = def[SERVICE_NAMES[role]];
    if (svc === undefined || "format" in svc) {
      throw new Error(`proto/strata/${role}.proto does not define ${SERVICE_NAMES[role]}`);
    }
    out[role] = svc as unknown as ServiceDefinition;
  }
  return out as RoleServices;
}

/** `AssignSegmentID` → `assignSegmentID`: rpc names are the interface's method names in PascalCase. */
export function methodName(rpc: string): string {
  return rpc.charAt(0).toLowerCase() + rpc.slice(1);
}

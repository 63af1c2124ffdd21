import { randomInt } from "node:crypto";
import type {
  Metadata,
  Server,
  ServerUnaryCall,
  sendUnaryData,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { StrataError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { ProxyService } from "../../proxy/index.ts";
import type { Authenticator, FrontDoorHooks } from "../hooks.ts";
import { type Handler, type Handlers, MilvusContext } from "./context.ts";
import { dataHandlers } from "./handlers-data.ts";
import { ddlHandlers } from "./handlers-ddl.ts";
import { loadMilvusProto } from "./proto.ts";
import { failure, OK, toStrataError } from "./status.ts";
import type { WireRequest } from "./wire.ts";

export interface MilvusServiceDeps {
  readonly proxy: ProxyService;
  readonly logger: Logger;
  readonly auth?: Authenticator;
  readonly hooks?: FrontDoorHooks;
  /** Strata's version, reported in Connect's server info. */
  readonly version: string;
}

/**
 * Server options the Milvus service needs: message size limits as Milvus' proxy, and no channelz
 * (grpc-js' per-call introspection counters, which nothing reads here, cost CPU on every call).
 */
export const MILVUS_GRPC_SERVER_OPTIONS = {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 256 * 1024 * 1024,
  "grpc.enable_channelz": 0,
} as const;

/** The Milvus API level this front door speaks (GetVersion); tools compare it against 2.x features. */
const MILVUS_API_VERSION = "v2.6.0";

/** RPCs that answer without credentials, so orchestrators can probe health. */
const NO_AUTH = new Set(["CheckHealth"]);

function sessionHandlers(ctx: MilvusContext): Handlers {
  return {
    async Connect() {
      return {
        server_info: {
          build_tags: `strata-${ctx.version}`,
          build_time: "",
          git_commit: "",
          go_version: `node-${process.version}`,
          deploy_mode: "STANDALONE",
          reserved: {},
        },
        // The SDK treats 0 as "server does not support Connect": any non-zero id will do.
        identifier: String(randomInt(1, 2 ** 47)),
      };
    },
    async GetVersion() {
      return { version: MILVUS_API_VERSION };
    },
    async CheckHealth() {
      return { isHealthy: true, reasons: [], quota_states: [] };
    },
  };
}

function metadataValue(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : typeof v === "string" ? v : v.toString("utf8");
}

/**
 * Registers `milvus.proto.milvus.MilvusService` on a grpc-js server. Every RPC answers in-band:
 * business errors travel in `status` (legacy `error_code` and Milvus `code` both set), never as
 * gRPC errors, because the SDK retries those and reads success from `error_code`. RPCs Strata does
 * not implement answer "not supported" the same way instead of UNIMPLEMENTED, which the SDK would
 * turn into an empty success.
 */
export function addMilvusService(server: Server, deps: MilvusServiceDeps): void {
  const proto = loadMilvusProto();
  const ctx = new MilvusContext(deps.proxy, proto, deps.logger, deps.version);
  const hooks = deps.hooks ?? {};
  const handlers: Handlers = { ...sessionHandlers(ctx), ...ddlHandlers(ctx), ...dataHandlers(ctx, hooks) };
  const impl: UntypedServiceImplementation = {};
  for (const [method, def] of Object.entries(proto.milvusService)) {
    const statusOnly =
      (def as unknown as { responseType?: { type?: { name?: string } } }).responseType?.type?.name ===
      "Status";
    const handler: Handler =
      handlers[method] ??
      (async () => {
        throw new StrataError("Unimplemented", `${method} is not supported by Strata`);
      });
    impl[method] = (call: ServerUnaryCall<WireRequest, unknown>, callback: sendUnaryData<unknown>) => {
      const started = performance.now();
      const run = async (): Promise<Record<string, unknown>> => {
        if (deps.auth?.enabled === true && !NO_AUTH.has(method)) {
          await deps.auth.authenticateGrpc(metadataValue(call.metadata, "authorization"));
        }
        const db = metadataValue(call.metadata, "dbname") ?? "";
        const reqDb = typeof call.request.db_name === "string" ? call.request.db_name : "";
        for (const d of [db, reqDb]) {
          if (d !== "" && d !== "default" && method !== "CreateDatabase" && method !== "DropDatabase") {
            throw ctx.noDatabase(d);
          }
        }
        return handler(call.request);
      };
      run().then(
        (res) => {
          hooks.onRequest?.("grpc", method, "Success", (performance.now() - started) / 1000);
          callback(null, statusOnly ? OK : { status: OK, ...res });
        },
        (e: unknown) => {
          const err = toStrataError(e);
          if (err.kind === "system" && err.code !== "Unimplemented") {
            deps.logger.warn({ err: e, method }, "rpc failed");
          }
          hooks.onRequest?.("grpc", method, err.code, (performance.now() - started) / 1000);
          const status = failure(err);
          callback(null, statusOnly ? status : { status });
        },
      );
    };
  }
  server.addService(proto.milvusService, impl);
}

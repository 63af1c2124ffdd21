import {
  type handleUnaryCall,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { decodeBody, type Envelope, encodeBody, toServiceError } from "./codec.ts";
import { methodName, type RoleServices, type RpcRole } from "./proto.ts";

/** Internal messages can be as large as a search over many segments; the front door's limits apply earlier. */
export const RPC_CHANNEL_OPTIONS = {
  "grpc.max_receive_message_length": 512 * 1024 * 1024,
  "grpc.max_send_message_length": 512 * 1024 * 1024,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
} as const;

/** Reads a role serves besides its interface's async methods (the Snapshot rpc). */
export interface RoleExtras {
  readonly snapshot?: (...args: unknown[]) => unknown;
}

type Method = (...args: unknown[]) => Promise<unknown>;

/**
 * One gRPC server per process carrying every local role's service. Methods are looked up on the
 * role object by name, so the role implementation is served as it is.
 */
export class RpcServer {
  readonly #server = new Server(RPC_CHANNEL_OPTIONS);
  readonly #services: RoleServices;
  readonly #log: Logger;
  #port = 0;
  #host = "";
  #closed = false;

  constructor(services: RoleServices, log: Logger) {
    this.#services = services;
    this.#log = log;
  }

  /** Adds a role before `listen`. Every rpc of its proto must exist on `impl` (or in `extras`). */
  add(role: RpcRole, impl: object, extras: RoleExtras = {}): void {
    const def: ServiceDefinition = this.#services[role];
    const handlers: UntypedServiceImplementation = {};
    for (const rpc of Object.keys(def)) {
      const name = methodName(rpc);
      const target = `${role}.${name}`;
      const fn: Method | undefined =
        name === "snapshot" && extras.snapshot !== undefined
          ? ((async (...a: unknown[]) => extras.snapshot?.(...a)) as Method)
          : (impl as Record<string, unknown>)[name] instanceof Function
            ? ((impl as Record<string, Method>)[name] as Method).bind(impl)
            : undefined;
      if (fn === undefined) throw new Error(`${role} does not implement ${rpc}`);
      const handler: handleUnaryCall<Envelope, Envelope> = (call, callback) => {
        let args: unknown;
        try {
          args = decodeBody(call.request, target);
        } catch (e) {
          callback(toServiceError(e));
          return;
        }
        const list = Array.isArray(args) ? args : [];
        fn(...list).then(
          (result) => {
            try {
              callback(null, encodeBody(result));
            } catch (e) {
              callback(toServiceError(new StrataError("ServiceInternal", `${target}: ${String(e)}`)));
            }
          },
          (e: unknown) => {
            if (!(e instanceof StrataError))
              this.#log.warn({ err: e, method: target }, "internal call failed");
            callback(toServiceError(e));
          },
        );
      };
      handlers[rpc] = handler;
    }
    this.#server.addService(def, handlers);
  }

  /** Binds `host:port` (0 picks a free port) and starts serving. */
  async listen(host: string, port: number): Promise<void> {
    this.#host = host;
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, bound) =>
        err === null
          ? resolve(bound)
          : reject(new StrataError("IoFailed", `cannot listen on ${host}:${port}: ${err.message}`)),
      );
    });
  }

  /** `host:port` other processes dial. */
  get address(): string {
    return `${this.#host}:${this.#port}`;
  }

  /** Stops accepting calls, lets running ones finish for `graceMs`, then cuts them. Idempotent. */
  async close(graceMs = 2000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

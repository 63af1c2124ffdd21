import { type Client, credentials, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { StrataError } from "../common/errors.ts";
import { decodeBody, type Envelope, encodeBody, fromServiceError } from "./codec.ts";
import { methodName, type RoleServices, type RpcRole } from "./proto.ts";
import { RPC_CHANNEL_OPTIONS } from "./server.ts";

/** Deadline of a call whose method sets none (ms): long enough for any control call. */
const DEFAULT_DEADLINE_MS = 120_000;

type UnaryMethod = (
  req: Envelope,
  options: { deadline: number },
  callback: (err: ServiceError | null, res?: Envelope) => void,
) => void;

/**
 * The gRPC clients of one process, one per (role, address), reused by every stub. Owned by the
 * process wiring; `close` ends them all.
 */
export class RpcClients {
  readonly #services: RoleServices;
  readonly #clients = new Map<string, Client>();
  #closed = false;

  constructor(services: RoleServices) {
    this.#services = services;
  }

  #client(role: RpcRole, address: string): Client {
    const key = `${role}@${address}`;
    let c = this.#clients.get(key);
    if (c === undefined) {
      if (this.#closed) throw new StrataError("Closed", "RPC clients are closed");
      const Ctor = makeGenericClientConstructor(this.#services[role], role);
      c = new Ctor(address, credentials.createInsecure(), RPC_CHANNEL_OPTIONS);
      this.#clients.set(key, c);
    }
    return c;
  }

  /**
   * Calls `rpc` of `role` at `address` with the argument list. Resolves with the method's result,
   * rejects with the StrataError it threw (or ServiceUnavailable when the peer cannot be reached).
   */
  call(
    role: RpcRole,
    address: string,
    rpc: string,
    args: readonly unknown[],
    deadlineMs?: number,
  ): Promise<unknown> {
    const target = `${role} at ${address}`;
    let method: UnaryMethod;
    try {
      const client = this.#client(role, address) as unknown as Record<string, UnaryMethod>;
      const m = client[rpc];
      if (m === undefined) throw new StrataError("Unimplemented", `${role} has no rpc ${rpc}`);
      method = m.bind(client);
    } catch (e) {
      return Promise.reject(e);
    }
    const req = encodeBody(args);
    return new Promise((resolve, reject) => {
      method(req, { deadline: Date.now() + (deadlineMs ?? DEFAULT_DEADLINE_MS) }, (err, res) => {
        if (err !== null) {
          reject(fromServiceError(err, `${target} (${methodName(rpc)})`));
          return;
        }
        try {
          resolve(decodeBody(res, `${target} (${methodName(rpc)})`));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /**
   * Every rpc of `role` as an async method named as in the interface (`AssignSegmentID` →
   * `assignSegmentID`). A function `address` is asked at every call (a coordinator that restarted
   * elsewhere is followed); it throws when there is no one to call.
   */
  methods(
    role: RpcRole,
    address: string | (() => string),
    deadlines: Readonly<Record<string, (args: readonly unknown[]) => number>> = {},
  ): Record<string, (...args: unknown[]) => Promise<unknown>> {
    const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const rpc of Object.keys(this.#services[role])) {
      const name = methodName(rpc);
      const deadline = deadlines[name];
      out[name] = (...args: unknown[]) => {
        let at: string;
        try {
          at = typeof address === "string" ? address : address();
        } catch (e) {
          return Promise.reject(e);
        }
        return this.call(role, at, rpc, args, deadline?.(args));
      };
    }
    return out;
  }

  /** Closes the connection to one role at one address (it left). */
  forget(role: RpcRole, address: string): void {
    const key = `${role}@${address}`;
    this.#clients.get(key)?.close();
    this.#clients.delete(key);
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}

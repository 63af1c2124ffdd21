import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { Logger } from "../../common/log.ts";
import type { ProxyService } from "../../proxy/index.ts";
import type { Authenticator, FrontDoorHooks } from "../hooks.ts";
import { BodyTooLarge, MAX_REST_BODY_BYTES, readBody } from "./body.ts";
import { COLLECTION_ROUTES } from "./collections.ts";
import type { RestBody, RouteHandler } from "./context.ts";
import { ENTITY_ROUTES } from "./entities.ts";
import { badFormat, failureOf, RestError, unsupported } from "./errors.ts";
import { INDEX_ROUTES } from "./indexes.ts";
import { parseJson, stringifyJson } from "./json.ts";
import { isPlainObject, Params } from "./params.ts";
import { PARTITION_ROUTES } from "./partitions.ts";
import { Int64Out } from "./values.ts";

export interface RestDeps {
  readonly proxy: ProxyService;
  readonly logger: Logger;
  readonly auth?: Authenticator;
  readonly hooks?: FrontDoorHooks;
  /** The server's version (kept for parity with the gRPC front door; REST v2 has no version call). */
  readonly version: string;
  /** Largest request body; default 64 MiB, as Milvus. */
  readonly maxBodyBytes?: number;
}

const PREFIX = "/v2/vectordb/";
const DEFAULT_DB = "default";

const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Credentials": "true",
  "Access-Control-Allow-Headers":
    "Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, accept, origin, Cache-Control, X-Requested-With, Accept-Type-Allow-Int64, DB-Name, Request-Timeout",
  "Access-Control-Allow-Methods": "POST, OPTIONS",
} as const;

function send(res: ServerResponse, status: number, body: unknown, close = false): void {
  if (res.headersSent || res.destroyed) return;
  const text = stringifyJson(body);
  res.writeHead(status, {
    ...CORS,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    ...(close ? { Connection: "close" } : {}),
  });
  res.end(text);
}

function checkDatabase(p: Params, req: IncomingMessage): void {
  const header = req.headers["db-name"];
  const db = p.str("dbName") || (typeof header === "string" ? header : "");
  if (db !== "" && db !== DEFAULT_DB)
    throw new RestError("DatabaseNotFound", `database=${db}: Strata has one database, "${DEFAULT_DB}"`);
}

function parseBody(buf: Buffer): Params {
  const text = buf.toString("utf8");
  if (text.trim() === "") throw badFormat("the request body should be nil, however {} is valid");
  let v: unknown;
  try {
    v = parseJson(text);
  } catch (e) {
    throw badFormat(`the body is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(v)) throw badFormat("the request body must be a JSON object");
  return new Params(v);
}

/**
 * The Milvus RESTful v2 API (`POST /v2/vectordb/<resource>/<action>`, JSON bodies) as a Node
 * request handler. Business errors are HTTP 200 with `{code, message}` (the Milvus error code),
 * as Milvus answers them; authentication failures are 401, oversized bodies 413, paths outside
 * `/v2/vectordb/` 404. Every request is reported to `hooks.onRequest`.
 */
export function createRestHandler(deps: RestDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const routes = new Map<string, RouteHandler>(
    Object.entries({ ...COLLECTION_ROUTES, ...ENTITY_ROUTES, ...INDEX_ROUTES, ...PARTITION_ROUTES }),
  );
  const limit = deps.maxBodyBytes ?? MAX_REST_BODY_BYTES;

  async function answer(req: IncomingMessage, route: string): Promise<RestBody> {
    if (deps.auth?.enabled) {
      try {
        await deps.auth.authenticateHttp(req.headers.authorization);
      } catch (e) {
        throw new RestError("NeedAuthenticate", e instanceof Error ? e.message : "", 401);
      }
    }
    const handler = routes.get(route);
    if (handler === undefined) throw unsupported(`${PREFIX}${route}`);
    const p = parseBody(await readBody(req, limit));
    checkDatabase(p, req);
    const int64 = Int64Out.fromHeader(req.headers["accept-type-allow-int64"]);
    return handler({ proxy: deps.proxy, p, int64, hooks: deps.hooks, logger: deps.logger });
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (req.method === "OPTIONS") {
      // CORS preflight: answered, not counted as a request.
      res.writeHead(204, CORS).end();
      req.resume();
      return;
    }
    let method = "unknown";
    let codeName = "Success";
    try {
      if (!path.startsWith(PREFIX)) {
        codeName = "NotFound";
        send(res, 404, { code: 404, message: `path ${path} not found: the REST API is under ${PREFIX}` });
        return;
      }
      const route = path.slice(PREFIX.length).replace(/\/+$/, "");
      // Labels stay bounded: unknown actions share one name.
      method = routes.has(route) ? route : "unsupported";
      if (req.method !== "POST") {
        codeName = "MethodNotAllowed";
        res.setHeader("Allow", "POST, OPTIONS");
        send(res, 405, { code: 405, message: `${req.method} ${path}: only POST is supported` });
        return;
      }
      send(res, 200, await answer(req, route));
    } catch (e) {
      const f = failureOf(e);
      codeName = f.codeName;
      if (f.codeName === "ServiceInternal" && !(e instanceof RestError))
        deps.logger.warn({ err: e, path }, "rest: request failed");
      else deps.logger.debug({ path, code: f.code, message: f.message }, "rest: request refused");
      send(
        res,
        e instanceof BodyTooLarge ? 413 : f.status,
        { code: f.code, message: f.message },
        e instanceof BodyTooLarge,
      );
    } finally {
      try {
        deps.hooks?.onRequest?.("rest", method, codeName, (performance.now() - t0) / 1000);
      } catch (e) {
        deps.logger.warn({ err: e }, "rest: onRequest hook failed");
      }
    }
  }

  return (req, res) => {
    serve(req, res).catch((e: unknown) => deps.logger.error({ err: e }, "rest: handler crashed"));
  };
}

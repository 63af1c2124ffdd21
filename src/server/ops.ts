import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";

/** Where a server is in its life. */
export type ServerPhase = "starting" | "serving" | "stopping" | "stopped";

export interface OpsStatus {
  phase(): ServerPhase;
  /**
   * What is wrong right now (a role down, ...), one line each; empty when healthy. Asked only
   * while serving, on every `/healthz`.
   */
  problems(): Promise<readonly string[]>;
  /** What `GET /status` shows (this process's roles and what they hold); 404 without it. */
  describe?(): Promise<unknown>;
}

/** What `/metrics` serves (`StrataMetrics` fits). */
export interface MetricsRenderer {
  readonly contentType: string;
  render(): Promise<string>;
}

export interface OpsServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly status: OpsStatus;
  readonly metrics?: MetricsRenderer;
  readonly logger: Logger;
  /** `/healthz` reports unavailable when the checks take longer (default 2000 ms). */
  readonly checkTimeoutMs?: number;
}

export interface OpsServer {
  readonly host: string;
  readonly port: number;
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>;
}

const JSON_TYPE = "application/json";

/** Bigints as decimal strings, maps as objects: what a JSON reader of `/status` can take. */
function plainJson(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), plainJson(x)]));
  if (Array.isArray(v)) return v.map(plainJson);
  if (ArrayBuffer.isView(v)) return `<${v.byteLength} bytes>`;
  if (typeof v === "object" && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainJson(x)]));
  return v;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": JSON_TYPE, "cache-control": "no-store" });
  res.end(text);
}

/**
 * The operations endpoint (Milvus serves the same on 9091):
 * - `GET /livez`: 200 while the process runs;
 * - `GET /readyz`: 200 once every role started and the front door listens, 503 before and while
 *   stopping (load balancers stop sending traffic);
 * - `GET /healthz` (and Milvus' `/api/v1/health`): 200 `{"status":"ok"}` while serving with no
 *   problem, else 503 with the reasons;
 * - `GET /metrics`: Prometheus text;
 * - `GET /status`: JSON description of the process's roles, when the server provides one.
 */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const log = opts.logger;
  const checkTimeoutMs = opts.checkTimeoutMs ?? 2000;

  const health = async (): Promise<readonly string[]> => {
    const phase = opts.status.phase();
    if (phase !== "serving") return [`server is ${phase}`];
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        opts.status.problems(),
        new Promise<readonly string[]>((resolve) => {
          timer = setTimeout(
            () => resolve([`health checks did not answer within ${checkTimeoutMs} ms`]),
            checkTimeoutMs,
          );
        }),
      ]);
    } catch (e) {
      return [`health check failed: ${e instanceof Error ? e.message : String(e)}`];
    } finally {
      clearTimeout(timer);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      send(res, 405, { error: `method ${req.method} not allowed` });
      return;
    }
    switch (path) {
      case "/livez":
        send(res, 200, { status: "ok" });
        return;
      case "/readyz": {
        const phase = opts.status.phase();
        send(res, phase === "serving" ? 200 : 503, { status: phase === "serving" ? "ready" : phase });
        return;
      }
      case "/healthz":
      case "/api/v1/health": {
        const problems = await health();
        if (problems.length === 0) send(res, 200, { status: "ok" });
        else send(res, 503, { status: "unavailable", reasons: problems });
        return;
      }
      case "/metrics": {
        if (opts.metrics === undefined) {
          send(res, 404, { error: "metrics are not enabled" });
          return;
        }
        const text = await opts.metrics.render();
        res.writeHead(200, { "content-type": opts.metrics.contentType, "cache-control": "no-store" });
        res.end(text);
        return;
      }
      case "/status": {
        const describe = opts.status.describe;
        if (describe === undefined) {
          send(res, 404, { error: "no status description on this server" });
          return;
        }
        send(res, 200, plainJson(await describe.call(opts.status)));
        return;
      }
      default:
        send(res, 404, { error: `no such endpoint ${path}; try /healthz, /livez, /readyz or /metrics` });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log.warn({ err: e, url: req.url }, "ops endpoint failed");
      if (!res.headersSent) send(res, 500, { error: e instanceof Error ? e.message : String(e) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) =>
      reject(
        new StrataError(
          "IoFailed",
          `cannot listen on ${opts.host}:${opts.port} (health/metrics): ${e.message}`,
          {
            cause: e,
          },
        ),
      );
    server.once("error", onError);
    server.listen(opts.port, opts.host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  server.on("error", (e: Error) => log.error({ err: e }, "ops endpoint error"));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;
  log.info({ host: opts.host, port }, "health and metrics endpoint listening");
  let closing: Promise<void> | undefined;
  return {
    host: opts.host,
    port,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../common/log.ts";

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /healthz` (as Milvus does on 9091): 200 `{"status":"ok"}` while `isHealthy()`
 * holds, else 503. Metrics and the web UI will join it on the same port.
 */
export async function startHealthServer(
  host: string,
  port: number,
  isHealthy: () => boolean,
  log: Logger,
): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && (req.url === "/healthz" || req.url === "/api/v1/health")) {
      const ok = isHealthy();
      res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: ok ? "ok" : "unavailable" }));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "not found" }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  log.info({ host, port: bound }, "health endpoint listening");
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

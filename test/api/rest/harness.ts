/** A real in-process Strata with the REST handler on an ephemeral 127.0.0.1 port. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Authenticator, FrontDoorHooks } from "../../../src/api/hooks.ts";
import { createRestHandler } from "../../../src/api/rest/index.ts";
import { loadConfig } from "../../../src/common/config.ts";
import { silentLogger } from "../../../src/common/log.ts";
import { type Standalone, startStandalone } from "../../../src/server/standalone.ts";
import { tempDir } from "../../helpers/env.ts";

export interface RestHarness {
  readonly url: string;
  readonly node: Standalone;
  /** Another server on the same Strata with other handler options. */
  extra(opts: HandlerOptions): Promise<string>;
  close(): Promise<void>;
}

export interface HandlerOptions {
  readonly auth?: Authenticator;
  readonly hooks?: FrontDoorHooks;
  readonly maxBodyBytes?: number;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** `config`: overrides for the Strata instance (e.g. the distributed backends). */
export async function startRest(
  opts: HandlerOptions = {},
  config: Readonly<Record<string, unknown>> = {},
): Promise<RestHarness> {
  const t = await tempDir("strata-rest-");
  const node = await startStandalone(
    loadConfig({ overrides: { ...config, dataDir: t.dir } }),
    silentLogger(),
  );
  const servers: Server[] = [];
  const serve = async (o: HandlerOptions) => {
    const server = createServer(
      createRestHandler({ proxy: node.proxy, logger: silentLogger(), version: "test", ...o }),
    );
    servers.push(server);
    return listen(server);
  };
  const url = await serve(opts);
  return {
    url,
    node,
    extra: serve,
    close: async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
      await node.close();
      await t.cleanup();
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly text: string;
  readonly body: unknown;
}

/** `v[p0][p1]…`, undefined when any step is missing. */
export function dig(v: unknown, ...path: readonly (string | number)[]): unknown {
  let cur = v;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/** The body's `data` as an array of rows (throws with the reply text when it is not). */
export function rowsOf(r: Reply): Record<string, unknown>[] {
  const d = dig(r.body, "data");
  if (!Array.isArray(d)) throw new Error(`no rows in reply: ${r.text.slice(0, 500)}`);
  return d as Record<string, unknown>[];
}

/** Asserts code 0 and returns `data`. */
export function okData(r: Reply): unknown {
  if (r.status !== 200 || dig(r.body, "code") !== 0)
    throw new Error(`expected success, got ${r.status} ${r.text.slice(0, 500)}`);
  return dig(r.body, "data");
}

/**
 * POSTs `body` (an object, serialised here, or raw text) to `/v2/vectordb/<route>`. Int64 values
 * come back as strings unless `int64` is given (the header is then sent as that value).
 */
export async function call(
  base: string,
  route: string,
  body: unknown,
  headers: Record<string, string> = { "Accept-Type-Allow-Int64": "false" },
): Promise<Reply> {
  const res = await fetch(`${base}/v2/vectordb/${route}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : jsonWithBigInts(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, text, body: parsed };
}

/** JSON text in which bigints are written as exact integer literals (as a non-JS client would). */
export function jsonWithBigInts(v: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x !== "bigint") return x;
    marks.push(x.toString());
    return `@@big${marks.length - 1}@@`;
  });
  return text.replace(/"@@big(\d+)@@"/g, (_m, i: string) => marks[Number(i)] as string);
}

/** Polls get_load_state until the collection reports LoadStateLoaded. */
export async function waitLoaded(base: string, collectionName: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(base, "collections/get_load_state", { collectionName });
    if (dig(r.body, "data", "loadState") === "LoadStateLoaded") return;
    if (dig(r.body, "code") !== 0) throw new Error(`get_load_state failed: ${r.text}`);
    if (Date.now() > deadline)
      throw new Error(`${collectionName} not loaded after ${timeoutMs} ms: ${r.text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

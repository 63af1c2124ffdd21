import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig, type StrataConfig } from "../common/config.ts";
import { isStrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { StrataServer } from "../server/serve.ts";
import { createCliLogger } from "./log-format.ts";

const USAGE = `usage: strata <command> [options]

commands:
  serve      start Strata standalone: every role in one process, embedded backends by default,
             the Milvus gRPC protocol and REST API on one port, health and metrics on another
  run <role...>
             start some roles of a cluster in this process (rootcoord, dataservice, queryservice,
             datanode, querynode, indexnode, proxy) on shared backends (etcd, NATS JetStream, S3);
             a proxy also serves the Milvus front door on --port
  version    print the version

options for serve:
  --config <file>        YAML config file (layers: defaults < file < STRATA_* env < flags)
  --data-dir <dir>       where embedded backends keep data (default ./strata-data)
  --host <addr>          address to listen on (default 127.0.0.1)
  --port <n>             Milvus gRPC + REST port (default 19530; 0 picks a free one)
  --metrics-port <n>     health/metrics port (default 9091; 0 picks a free one)
  --log-format <f>       json (default) or pretty, on stderr
  --log-level <l>        trace, debug, info (default), warn, error, fatal or silent

options for run (besides those of serve):
  --rpc-port <n>         internal RPC port (default 0: a free one, recorded in the session)
  --node-id <n>          fixed node ID for this process's roles (default: a new one)
`;

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function configFromArgs(argv: string[], cluster = false): { config: StrataConfig; positionals: string[] } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: cluster,
    options: {
      ...(cluster ? { "rpc-port": { type: "string" }, "node-id": { type: "string" } } : {}),
      config: { type: "string" },
      "data-dir": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "metrics-port": { type: "string" },
      "log-format": { type: "string" },
      "log-level": { type: "string" },
    },
    strict: true,
  });
  const overrides: Record<string, unknown> = {};
  if (values["data-dir"] !== undefined) overrides.dataDir = values["data-dir"];
  const server: Record<string, unknown> = {};
  if (values.host !== undefined) server.host = values.host;
  if (values.port !== undefined) server.port = values.port;
  if (values["metrics-port"] !== undefined) server.metricsPort = values["metrics-port"];
  if (Object.keys(server).length > 0) overrides.server = server;
  const log: Record<string, unknown> = {};
  if (values["log-format"] !== undefined) log.format = values["log-format"];
  if (values["log-level"] !== undefined) log.level = values["log-level"];
  if (Object.keys(log).length > 0) overrides.log = log;
  const clusterPatch: Record<string, unknown> = {};
  const rpcPort = (values as Record<string, unknown>)["rpc-port"];
  const nodeId = (values as Record<string, unknown>)["node-id"];
  if (typeof rpcPort === "string") clusterPatch.port = rpcPort;
  if (typeof nodeId === "string") clusterPatch.nodeId = nodeId;
  if (Object.keys(clusterPatch).length > 0) overrides.cluster = clusterPatch;
  const config = loadConfig({ ...(values.config === undefined ? {} : { file: values.config }), overrides });
  return { config, positionals };
}

/** The human-readable startup summary, on stdout (logs go to stderr). */
function banner(config: StrataConfig, s: StrataServer): string {
  const front = `${s.host}:${s.port}`;
  const ops = `http://${s.host}:${s.metricsPort}`;
  const auth = !s.auth.enabled
    ? "off"
    : s.initialRootPassword !== undefined
      ? `on; created user "root" with the generated password ${s.initialRootPassword} (shown only this once: keep it)`
      : `on (users in the meta store; "root" exists)`;
  const rows: [string, string][] = [
    ["Milvus gRPC + REST", `${front}   (REST: http://${front}/v2/vectordb/...)`],
    ["health & metrics", `${ops}/healthz   ${ops}/readyz   ${ops}/metrics`],
    ["data dir", resolve(config.dataDir)],
    ["backends", `mq=${config.mq.backend} kv=${config.kv.backend} objectstore=${config.objectstore.backend}`],
    ["auth", auth],
    ["logs", `${config.log.format} on stderr, level ${config.log.level}`],
  ];
  const lines = rows.map(([k, v]) => `  ${k.padEnd(20)}${v}`);
  return `Strata ${s.version} is ready\n${lines.join("\n")}\nStop with Ctrl+C (SIGINT) or SIGTERM.\n`;
}

async function serve(argv: string[]): Promise<void> {
  const { config } = configFromArgs(argv);
  const log = createCliLogger({ level: config.log.level, format: config.log.format });
  let server: StrataServer | undefined;
  let pending = false;
  onSignals(log, () => {
    if (server === undefined) {
      pending = true; // still starting: stop once started
      return undefined;
    }
    return server.close();
  });
  const { startServer } = await import("../server/serve.ts");
  server = await startServer(config, log, { version: readVersion() });
  if (pending) {
    await server.close();
    process.stdout.write("strata: stopped\n");
    process.exit(0);
  }
  process.stdout.write(banner(config, server));
}

/** Graceful stop on SIGINT/SIGTERM (a second signal forces); exits once `close` resolves. */
function onSignals(log: Logger, close: () => Promise<void> | undefined): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting without finishing the graceful shutdown");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down gracefully (send the signal again to force)");
    process.stdout.write(`strata: ${signal}, shutting down...\n`);
    const p = close();
    if (p === undefined) return;
    p.then(
      () => {
        process.stdout.write("strata: stopped\n");
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

async function run(argv: string[]): Promise<void> {
  const { config, positionals } = configFromArgs(argv, true);
  const log = createCliLogger({ level: config.log.level, format: config.log.format });
  const { startClusterServer } = await import("../server/cluster/serve.ts");
  let server: Awaited<ReturnType<typeof startClusterServer>> | undefined;
  let pending = false;
  onSignals(log, () => {
    if (server === undefined) {
      pending = true;
      return undefined;
    }
    return server.close();
  });
  server = await startClusterServer(positionals, config, log, { version: readVersion() });
  const s = server;
  if (pending) {
    await s.close();
    process.stdout.write("strata: stopped\n");
    process.exit(0);
  }
  s.lost.then(async (why) => {
    log.error({ why }, "this process lost its place in the cluster; stopping");
    await s.close().catch(() => undefined);
    process.exit(3);
  });
  const p = s.process;
  const rows: [string, string][] = [
    ["roles", p.roles.join(", ")],
    ["node id", String(p.nodeId)],
    ["internal RPC", p.address],
    ...(s.port === undefined
      ? []
      : ([
          ["Milvus gRPC + REST", `${s.host}:${s.port}   (REST: http://${s.host}:${s.port}/v2/vectordb/...)`],
        ] as [string, string][])),
    ["health & metrics", `http://${s.host}:${s.metricsPort}/healthz   /readyz   /metrics`],
    ["backends", `mq=${config.mq.backend} kv=${config.kv.backend} objectstore=${config.objectstore.backend}`],
  ];
  const lines = rows.map(([k, v]) => `  ${k.padEnd(20)}${v}`);
  process.stdout.write(`Strata ${readVersion()} cluster process is ready\n${lines.join("\n")}\n`);
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case "serve":
      await serve(rest);
      return;
    case "run":
      await run(rest);
      return;
    case "version":
      process.stdout.write(`${readVersion()}\n`);
      return;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`strata: unknown command "${cmd}"\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(
    `strata: ${isStrataError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.stack : String(e)}\n`,
  );
  process.exit(1);
});

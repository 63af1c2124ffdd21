import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "../common/config.ts";
import { isStrataError } from "../common/errors.ts";
import { createLogger } from "../common/log.ts";
import { startStandalone } from "../server/standalone.ts";

const USAGE = `usage: strata <command> [options]

commands:
  serve      start Strata standalone (all roles in one process, embedded backends by default)
  version    print the version

options for serve:
  --config <file>     YAML config file (defaults < file < STRATA_* env < flags)
  --data-dir <dir>    where embedded backends keep data (default ./strata-data)
  --host <addr>       address to listen on (default 127.0.0.1)
  --metrics-port <n>  health/metrics port (default 9091)
`;

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      "data-dir": { type: "string" },
      host: { type: "string" },
      "metrics-port": { type: "string" },
    },
    strict: true,
  });
  const overrides: Record<string, unknown> = {};
  if (values["data-dir"] !== undefined) overrides.dataDir = values["data-dir"];
  const server: Record<string, unknown> = {};
  if (values.host !== undefined) server.host = values.host;
  if (values["metrics-port"] !== undefined) server.metricsPort = values["metrics-port"];
  if (Object.keys(server).length > 0) overrides.server = server;
  const config = loadConfig({ ...(values.config === undefined ? {} : { file: values.config }), overrides });
  const log = createLogger({ level: config.log.level });
  const node = await startStandalone(config, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    node.close().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  console.log(
    `strata: ready (data ${config.dataDir}, health http://${config.server.host}:${node.health?.port}/healthz)`,
  );
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case "serve":
      await serve(rest);
      return;
    case "version": {
      const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
        version: string;
      };
      console.log(pkg.version);
      return;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return;
    default:
      console.error(`strata: unknown command "${cmd}"\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

main().catch((e: unknown) => {
  console.error(
    `strata: ${isStrataError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.stack : String(e)}`,
  );
  process.exit(1);
});

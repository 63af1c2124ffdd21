import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../../bin/strata.mjs", import.meta.url));

/** A free loopback port (bound then released; the tiny race is acceptable on 127.0.0.1). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface SpawnedStrata {
  readonly proc: ChildProcess;
  /** `127.0.0.1:<port>`: gRPC and REST. */
  readonly address: string;
  readonly metricsPort: number;
  /** stdout + stderr so far (for failure messages). */
  output(): string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

/**
 * Spawns `strata serve` on free ports in `dataDir` and resolves once `/readyz` answers 200.
 * `env` is added to the child's environment (e.g. `STRATA_AUTH__ENABLED`); `nodeArgs` go to the
 * child's node before the script (e.g. `--cpu-prof` for benchmarks).
 */
export async function spawnStrata(
  dataDir: string,
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 30_000,
  nodeArgs: readonly string[] = [],
): Promise<SpawnedStrata> {
  const port = await freePort();
  const metricsPort = await freePort();
  const proc = spawn(
    process.execPath,
    [
      ...nodeArgs,
      bin,
      "serve",
      "--data-dir",
      dataDir,
      "--port",
      String(port),
      "--metrics-port",
      String(metricsPort),
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, STRATA_LOG__LEVEL: "warn", ...env } },
  );
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) =>
    proc.on("exit", (c) => {
      exited = c;
      resolve(c);
    }),
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== undefined) throw new Error(`strata exited with ${exited} before ready:\n${out}`);
    try {
      const r = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`strata was not ready in ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    address: `127.0.0.1:${port}`,
    metricsPort,
    output: () => out,
    stop: async () => {
      if (exited === undefined) proc.kill("SIGTERM");
      return exit;
    },
    kill: async () => {
      if (exited === undefined) proc.kill("SIGKILL");
      await exit;
    },
  };
}

/**
 * A private set of the three engines — `nats-server -js`, `etcd`, s3rver — on free 127.0.0.1 ports
 * with their data in one directory, for tests that must kill and restart the engines themselves
 * (the shared test servers must never be touched). Flags follow .ci/run.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Engines } from "./harness.ts";
import { childEnv, freePort, sleep } from "./harness.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const GUARD = fileURLToPath(new URL("./orphan-guard.mjs", import.meta.url));

/** false when `nats-server` and `etcd` are installed, else why the suite is skipped. */
export function ownEnginesSkip(): string | false {
  for (const bin of ["nats-server", "etcd"]) {
    const r = spawnSync(bin, ["--version"], { stdio: "ignore" });
    if (r.error !== undefined) return `${bin} is not installed: cannot start private engines`;
  }
  return false;
}

export interface OwnEngines {
  readonly engines: Engines;
  /** SIGKILLs all three (their data stays). */
  kill(): Promise<void>;
  /** Starts all three again on the same ports and data. */
  start(): Promise<void>;
  /** The last lines of each engine's log. */
  logTails(lines?: number): string;
  /** Kills them (if running). The data dir is the caller's. */
  close(): Promise<void>;
}

interface Running {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** A shell that SIGKILLs the engine if this test process dies first (Go binaries take no preload). */
  readonly watchdog: ChildProcess | undefined;
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Starts private engines with data under `dir`. */
export async function startOwnEngines(dir: string): Promise<OwnEngines> {
  const [nats, etcdClient, etcdPeer, s3] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  mkdirSync(join(dir, "s3"), { recursive: true });
  const specs: { name: string; port: number; cmd: string; args: string[] }[] = [
    {
      name: "nats",
      port: nats,
      cmd: "nats-server",
      args: ["-js", "-a", "127.0.0.1", "-p", String(nats), "-sd", join(dir, "nats")],
    },
    {
      name: "etcd",
      port: etcdClient,
      cmd: "etcd",
      args: [
        "--name",
        "t",
        "--data-dir",
        join(dir, "etcd"),
        "--listen-client-urls",
        `http://127.0.0.1:${etcdClient}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${etcdClient}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${etcdPeer}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${etcdPeer}`,
        "--initial-cluster",
        `t=http://127.0.0.1:${etcdPeer}`,
      ],
    },
    {
      name: "s3",
      port: s3,
      cmd: process.execPath,
      args: [
        "--import",
        GUARD,
        "--openssl-legacy-provider",
        join(ROOT, "node_modules/s3rver/bin/s3rver.js"),
        "--directory",
        join(dir, "s3"),
        "--address",
        "127.0.0.1",
        "--port",
        String(s3),
        "--silent",
      ],
    },
  ];
  let running: Running[] = [];
  const logOf = (name: string) => join(dir, `${name}.log`);

  const startOne = async (spec: (typeof specs)[number]): Promise<Running> => {
    const fd = openSync(logOf(spec.name), "a");
    let child: ChildProcess;
    try {
      child = spawn(spec.cmd, spec.args, { cwd: ROOT, stdio: ["ignore", fd, fd], env: childEnv() });
    } finally {
      closeSync(fd);
    }
    let gone = false;
    const exited = new Promise<void>((resolve) =>
      child.on("exit", () => {
        gone = true;
        resolve();
      }),
    );
    const watchdog =
      spec.cmd === process.execPath
        ? undefined
        : spawn(
            "sh",
            [
              "-c",
              `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null`,
            ],
            { stdio: "ignore" },
          );
    const deadline = Date.now() + 30_000;
    while (!(await portOpen(spec.port))) {
      if (gone) throw new Error(`${spec.name} exited at start:\n${tail(logOf(spec.name), 30)}`);
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`${spec.name} did not open port ${spec.port}:\n${tail(logOf(spec.name), 30)}`);
      }
      await sleep(100);
    }
    if (spec.name === "etcd") {
      // The client port opens before the member has elected itself leader.
      while (!(await etcdHealthy(spec.port))) {
        if (gone || Date.now() > deadline)
          throw new Error(`etcd never became healthy:\n${tail(logOf("etcd"), 30)}`);
        await sleep(100);
      }
    }
    return { name: spec.name, child, exited, watchdog };
  };

  const kill = async () => {
    const now = running;
    running = [];
    for (const r of now) {
      r.child.kill("SIGKILL");
      r.watchdog?.kill("SIGKILL");
    }
    await Promise.all(now.map((r) => r.exited));
  };

  const start = async () => {
    const started = await Promise.allSettled(specs.map((s) => startOne(s)));
    running = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const bad = started.find((s) => s.status === "rejected");
    if (bad !== undefined) {
      await kill();
      throw (bad as PromiseRejectedResult).reason;
    }
  };

  const onExit = () => {
    for (const r of running) r.child.kill("SIGKILL");
  };
  process.on("exit", onExit);
  try {
    await start();
  } catch (e) {
    process.off("exit", onExit);
    throw e;
  }
  return {
    engines: {
      nats: [`nats://127.0.0.1:${nats}`],
      etcd: [`http://127.0.0.1:${etcdClient}`],
      s3: `http://127.0.0.1:${s3}`,
    },
    kill,
    start,
    logTails: (lines = 20) => specs.map((s) => `----- ${s.name}\n${tail(logOf(s.name), lines)}`).join("\n"),
    close: async () => {
      await kill();
      process.off("exit", onExit);
    },
  };
}

async function etcdHealthy(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200 && (await r.text()).includes("true");
  } catch {
    return false;
  }
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .slice(-lines - 1)
      .join("\n");
  } catch {
    return "(no log)";
  }
}

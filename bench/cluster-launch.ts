// Starts the engines (nats-server, etcd, s3rver) and Strata cluster processes for bench:cluster,
// all on 127.0.0.1 free ports under one temp dir. Not a test harness: no assertions, just handles.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/api/milvus/spawn.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process is gone. */
  readonly exited: Promise<number | null>;
}

function launch(name: string, cmd: string, args: readonly string[], env: Record<string, string> = {}): Proc {
  const child = spawn(cmd, args, {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  return { name, child, output: () => out, exited };
}

async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function portOpen(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/`);
    return true;
  } catch (e) {
    return !String((e as { cause?: unknown }).cause).includes("ECONNREFUSED");
  }
}

export interface Engines {
  readonly configFile: string;
  stop(): Promise<void>;
}

/** nats-server, etcd and s3rver on free ports, and a cluster YAML pointing at them. */
export async function startEngines(dir: string, sessionTtlSeconds: number): Promise<Engines> {
  const [nats, etcd, etcdPeer, s3] = [await freePort(), await freePort(), await freePort(), await freePort()];
  mkdirSync(join(dir, "s3"), { recursive: true });
  const procs = [
    launch("nats", "nats-server", ["-js", "-a", "127.0.0.1", "-p", String(nats), "-sd", join(dir, "nats")]),
    launch("etcd", "etcd", [
      "--name",
      "bench",
      "--data-dir",
      join(dir, "etcd"),
      "--listen-client-urls",
      `http://127.0.0.1:${etcd}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${etcd}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${etcdPeer}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${etcdPeer}`,
      "--initial-cluster",
      `bench=http://127.0.0.1:${etcdPeer}`,
    ]),
    launch("s3", process.execPath, [
      "--openssl-legacy-provider",
      "node_modules/s3rver/bin/s3rver.js",
      "--directory",
      join(dir, "s3"),
      "--address",
      "127.0.0.1",
      "--port",
      String(s3),
      "--silent",
    ]),
  ];
  for (const p of [nats, etcd, s3]) await waitFor(`port ${p}`, () => portOpen(p), 20_000);
  const configFile = join(dir, "cluster.yaml");
  writeFileSync(
    configFile,
    [
      "log: { level: warn, format: json }",
      `mq: { backend: nats, nats: { servers: ["nats://127.0.0.1:${nats}"], prefix: bench } }`,
      `kv: { backend: etcd, rootPath: bench, etcd: { endpoints: ["http://127.0.0.1:${etcd}"] } }`,
      `objectstore: { backend: s3, s3: { endpoint: "http://127.0.0.1:${s3}", bucket: bench, accessKeyId: S3RVER, secretAccessKey: S3RVER, forcePathStyle: true } }`,
      "server: { host: 127.0.0.1, metricsPort: 0 }",
      `cluster: { host: 127.0.0.1, port: 0, sessionTtlSeconds: ${sessionTtlSeconds} }`,
      "",
    ].join("\n"),
  );
  return {
    configFile,
    stop: async () => {
      for (const p of procs.reverse()) {
        p.child.kill("SIGKILL");
        await p.exited;
      }
    },
  };
}

export interface RoleProc extends Proc {
  /** The front door address for a proxy process. */
  readonly address: string | undefined;
}

/** Spawns `strata run <roles>` and resolves once its banner says it is ready. */
export async function startRoles(
  dir: string,
  configFile: string,
  name: string,
  roles: readonly string[],
  extra: readonly string[] = [],
): Promise<RoleProc> {
  const p = launch(name, process.execPath, [
    join(root, "bin/strata.mjs"),
    "run",
    ...roles,
    "--config",
    configFile,
    "--data-dir",
    join(dir, name),
    ...extra,
  ]);
  let gone = false;
  void p.exited.then(() => {
    gone = true;
  });
  await waitFor(
    `${name} to be ready`,
    () => {
      if (gone) throw new Error(`${name} exited:\n${p.output()}`);
      return p.output().includes("cluster process is ready");
    },
    60_000,
  );
  const m = /Milvus gRPC \+ REST\s+(127\.0\.0\.1:\d+)/.exec(p.output());
  return { ...p, address: m?.[1] };
}

/**
 * A Strata cluster of real OS processes for tests: one `strata run <roles...>` child per role group,
 * all on the same etcd / NATS JetStream / S3 under names unique to the cluster. Every child writes
 * stdout + stderr to its own file in the cluster's temp dir; `guard` prints their tails when a test
 * body fails. Children preload `orphan-guard.mjs`, and an `exit` hook SIGKILLs them, so none
 * outlives the test process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { openEtcdKv } from "../../src/kv/index.ts";
import type { ClusterRole } from "../../src/server/cluster/sessions.ts";
import { etcdServer, natsServer, s3Server, tempDir, uniqueName } from "../helpers/env.ts";

export type { ClusterRole };

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin/strata.mjs");
const GUARD = fileURLToPath(new URL("./orphan-guard.mjs", import.meta.url));

/** Where the three shared backends are. */
export interface Engines {
  readonly nats: readonly string[];
  readonly etcd: readonly string[];
  readonly s3: string;
}

/** The shared test servers (`STRATA_TEST_NATS/ETCD/S3`), or the reason to skip. */
export function sharedEngines(): { readonly engines: Engines | undefined; readonly skip: string | false } {
  const nats = natsServer();
  const etcd = etcdServer();
  const s3 = s3Server();
  const skip = nats.skip || etcd.skip || s3.skip;
  if (skip !== false || nats.value === undefined || etcd.value === undefined || s3.value === undefined)
    return { engines: undefined, skip: skip === false ? "distributed servers not configured" : skip };
  return { engines: { nats: nats.value, etcd: etcd.value, s3: s3.value }, skip: false };
}

/** The names that make one cluster's state: reuse them to restart the same cluster. */
export interface ClusterNames {
  readonly kvRoot: string;
  readonly natsPrefix: string;
  readonly bucket: string;
}

export function newClusterNames(label: string): ClusterNames {
  const name = uniqueName(`cl-${label}`).toLowerCase().replace(/_/g, "-");
  return {
    kvRoot: name,
    natsPrefix: name.replace(/-/g, "_").slice(0, 40),
    bucket: name.slice(0, 63).replace(/-+$/, ""),
  };
}

export interface ClusterOptions {
  /** Short word for names and the temp dir. */
  readonly label: string;
  /** Role groups started at once, one process each. */
  readonly groups: readonly (readonly ClusterRole[])[];
  /** Session TTL: a killed node's work moves after this (default 3 s). */
  readonly ttlSeconds?: number;
  /** Extra config keys, deep-merged into the generated file (e.g. `{ datanode: { insertBufBytes } }`). */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Default: the shared test servers. */
  readonly engines?: Engines;
  /** Default: new unique names. */
  readonly names?: ClusterNames;
  /** Delete the cluster's kv prefix, NATS streams and bucket in `closeAll` (default true). */
  readonly dropState?: boolean;
  /** How long a process may take to print its banner (default 90 s). */
  readonly readyTimeoutMs?: number;
  /** `log.level` of the children (default info). */
  readonly logLevel?: string;
}

/** One `strata run` child. */
export interface RoleProcess {
  /** `p<n>-<roles>`; also the name of its log file and data dir. */
  readonly name: string;
  readonly roles: readonly ClusterRole[];
  readonly pid: number;
  readonly nodeId: number;
  /** `http://127.0.0.1:<port>`: healthz, readyz, metrics, status. */
  readonly opsUrl: string;
  /** `127.0.0.1:<port>` of the Milvus front door (proxy processes only). */
  readonly address: string | undefined;
  readonly logFile: string;
  /** undefined while it runs. */
  exit(): { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
}

/** What `GET /status` shows (the parts the tests read). */
export interface ProcessStatus {
  readonly phase: string;
  readonly roles: readonly string[];
  readonly nodeId: number;
  readonly querynode?: {
    readonly segments: {
      readonly sealed: readonly string[];
      readonly growing: readonly string[];
      readonly rows?: Readonly<Record<string, number>>;
    };
  };
  readonly queryservice?: {
    readonly nodes: readonly {
      readonly nodeId: number;
      readonly state: number;
      readonly channels: readonly string[];
      readonly segmentIds: readonly string[];
    }[];
  };
  readonly dataservice?: {
    readonly nodes: readonly { readonly nodeId: number; readonly channels: readonly string[] }[];
  };
  readonly sessions: Readonly<Record<string, readonly number[]>>;
}

export interface Cluster {
  readonly dir: string;
  readonly names: ClusterNames;
  /** Processes started and not yet seen to exit, in start order. */
  running(): readonly RoleProcess[];
  /** Running processes hosting `role`. */
  withRole(role: ClusterRole): readonly RoleProcess[];
  /** Every process ever started, exited ones included. */
  all(): readonly RoleProcess[];
  /** Starts one more process with these roles and waits for its banner. */
  add(roles: readonly ClusterRole[]): Promise<RoleProcess>;
  /** Starts several processes at once. */
  addGroups(groups: readonly (readonly ClusterRole[])[]): Promise<RoleProcess[]>;
  /** Sends `signal` (default SIGKILL) and waits for the exit. */
  kill(p: RoleProcess, signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM and wait: the exit code (0 for a graceful stop; null when it had to be SIGKILLed after 30 s). */
  stop(p: RoleProcess): Promise<number | null>;
  /** SIGKILLs every running process (the state stays, for a restart). */
  killAll(): Promise<void>;
  status(p: RoleProcess): Promise<ProcessStatus>;
  /** The front door of the first running proxy. */
  proxyAddress(): string;
  /** The last lines of every child's log. */
  logTails(lines?: number): string;
  /** Processes that exited without `kill`/`stop`/`killAll` (crashed, or left after losing a session). */
  unexpectedExits(): readonly RoleProcess[];
  /**
   * Runs `fn`, then fails if a process exited on its own meanwhile. On failure prints every child's
   * log tail and keeps the temp dir (STRATA_TEST_KEEP_LOGS=1 keeps it always), then rethrows.
   */
  guard<T>(fn: () => Promise<T>): Promise<T>;
  /** Kills every process, drops the cluster's backend state (unless `dropState: false`), removes the dir. */
  closeAll(): Promise<void>;
}

/** A free loopback port (bound then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value other than undefined; throws `what` after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? "" : `; last error: ${String(last)}`}`,
      );
    await sleep(everyMs);
  }
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function deepMerge(base: Record<string, unknown>, patch: Readonly<Record<string, unknown>>): void {
  for (const [k, v] of Object.entries(patch)) {
    const cur = base[k];
    if (isPlain(cur) && isPlain(v)) deepMerge(cur, v);
    else base[k] = v;
  }
}

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return "(no log)";
  const all = readFileSync(file, "utf8").split("\n");
  // JSON log lines carry whole stacks: the start of each is what a reader needs here.
  return all
    .slice(-lines - 1)
    .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l))
    .join("\n");
}

interface Banner {
  readonly nodeId: number;
  readonly opsUrl: string;
  readonly address: string | undefined;
}

function parseBanner(text: string): Banner | undefined {
  const at = text.indexOf("cluster process is ready");
  if (at < 0) return undefined;
  const rest = text.slice(at);
  const ops = /health & metrics\s+(http:\/\/[^/\s]+)\/healthz/.exec(rest);
  const node = /node id\s+(\d+)/.exec(rest);
  if (ops === null || node === null) return undefined; // banner still being written
  const front = /Milvus gRPC \+ REST\s+(\S+)/.exec(rest);
  return { nodeId: Number(node[1]), opsUrl: ops[1] as string, address: front?.[1] };
}

/**
 * This process's environment for a child. NODE_TEST_CONTEXT is dropped: inherited from the test
 * runner, it would make a child `node --test` report to a parent that is not listening (and exit 0
 * having run nothing).
 */
export function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

function s3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: {
      accessKeyId: process.env.STRATA_TEST_S3_KEY ?? "S3RVER",
      secretAccessKey: process.env.STRATA_TEST_S3_SECRET ?? "S3RVER",
    },
  });
}

/** Starts a cluster; on a start failure everything started is killed and the error names the logs. */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const engines = opts.engines ?? sharedEngines().engines;
  if (engines === undefined) throw new Error("startCluster: no engines (distributed servers not configured)");
  const names = opts.names ?? newClusterNames(opts.label);
  const t = await tempDir(`strata-cluster-${opts.label}-`);
  const dir = t.dir;
  const config: Record<string, unknown> = {
    log: { level: opts.logLevel ?? "info", format: "json" },
    mq: { backend: "nats", nats: { servers: [...engines.nats], prefix: names.natsPrefix } },
    kv: { backend: "etcd", rootPath: names.kvRoot, etcd: { endpoints: [...engines.etcd] } },
    objectstore: {
      backend: "s3",
      s3: {
        endpoint: engines.s3,
        bucket: names.bucket,
        region: "us-east-1",
        accessKeyId: process.env.STRATA_TEST_S3_KEY ?? "S3RVER",
        secretAccessKey: process.env.STRATA_TEST_S3_SECRET ?? "S3RVER",
        forcePathStyle: true,
      },
    },
    server: { host: "127.0.0.1", port: 0, metricsPort: 0 },
    cluster: { host: "127.0.0.1", port: 0, sessionTtlSeconds: opts.ttlSeconds ?? 3 },
  };
  if (opts.config !== undefined) deepMerge(config, opts.config);
  const configFile = join(dir, "cluster.yaml");
  // YAML is a superset of JSON.
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);

  const procs: { p: RoleProcess; child: ChildProcess }[] = [];
  let seq = 0;
  let failed = false;
  // Every child spawned, started or not: the last resort if this process exits without cleanup.
  const children = new Set<ChildProcess>();
  const onExit = () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.on("exit", onExit);

  const spawnOne = async (roles: readonly ClusterRole[]): Promise<RoleProcess> => {
    seq += 1;
    const name = `p${seq}-${roles.join("+")}`;
    const logFile = join(dir, `${name}.log`);
    const dataDir = join(dir, name);
    await mkdir(dataDir, { recursive: true });
    const fd = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [
          "--import",
          GUARD,
          BIN,
          "run",
          ...roles,
          "--config",
          configFile,
          "--data-dir",
          dataDir,
          "--port",
          "0",
          "--metrics-port",
          "0",
          "--log-format",
          "json",
        ],
        { cwd: ROOT, stdio: ["ignore", fd, fd], env: childEnv() },
      );
    } finally {
      closeSync(fd);
    }
    children.add(child);
    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on("exit", (code, signal) => {
        exitInfo = { code, signal };
        resolve(exitInfo);
      });
    });
    const pid = child.pid ?? -1;
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
    let banner: Banner | undefined;
    for (;;) {
      banner = parseBanner(readFileSync(logFile, "utf8"));
      if (banner !== undefined) break;
      if (exitInfo !== undefined)
        throw new Error(
          `${name} exited (code ${exitInfo.code}, signal ${exitInfo.signal}) before ready; log ${logFile}:\n${tail(logFile, 40)}`,
        );
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`${name} printed no banner in time; log ${logFile}:\n${tail(logFile, 40)}`);
      }
      await sleep(100);
    }
    const p: RoleProcess = {
      name,
      roles: [...roles],
      pid,
      nodeId: banner.nodeId,
      opsUrl: banner.opsUrl,
      address: banner.address,
      logFile,
      exit: () => exitInfo,
      exited,
    };
    procs.push({ p, child });
    return p;
  };

  const childOf = (p: RoleProcess): ChildProcess => {
    const hit = procs.find((x) => x.p === p);
    if (hit === undefined) throw new Error(`${p.name} is not a process of this cluster`);
    return hit.child;
  };

  const running = () => procs.filter((x) => x.p.exit() === undefined).map((x) => x.p);

  // Processes the test stopped on purpose; any other exit is a crash the test must report.
  const stopped = new Set<RoleProcess>();
  const kill = async (p: RoleProcess, signal: NodeJS.Signals = "SIGKILL") => {
    stopped.add(p);
    if (p.exit() === undefined) childOf(p).kill(signal);
    await p.exited;
  };

  const dropState = async () => {
    const kv = await openEtcdKv({ endpoints: [...engines.etcd], prefix: `${names.kvRoot}/` });
    try {
      await kv.deletePrefix("");
    } finally {
      await kv.close();
    }
    const nc = await connect({ servers: [...engines.nats] });
    try {
      const jsm = await jetstreamManager(nc);
      const streams: string[] = [];
      for await (const n of jsm.streams.names()) if (n.startsWith(`${names.natsPrefix}_`)) streams.push(n);
      for (const n of streams) await jsm.streams.delete(n);
    } finally {
      await nc.close();
    }
    const s3 = s3Client(engines.s3);
    try {
      let token: string | undefined;
      do {
        const res = await s3.send(
          new ListObjectsV2Command({
            Bucket: names.bucket,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const o of res.Contents ?? [])
          if (o.Key !== undefined)
            await s3.send(new DeleteObjectCommand({ Bucket: names.bucket, Key: o.Key }));
        token = res.IsTruncated === true ? res.NextContinuationToken : undefined;
      } while (token !== undefined);
      await s3.send(new DeleteBucketCommand({ Bucket: names.bucket }));
    } catch (e) {
      if (!/NoSuchBucket|does not exist/i.test(String(e))) throw e;
    } finally {
      s3.destroy();
    }
  };

  const cluster: Cluster = {
    dir,
    names,
    running,
    withRole: (role) => running().filter((p) => p.roles.includes(role)),
    all: () => procs.map((x) => x.p),
    add: (roles) => spawnOne(roles),
    addGroups: async (groups) => {
      const started = await Promise.allSettled(groups.map((g) => spawnOne(g)));
      const bad = started.find((s) => s.status === "rejected");
      if (bad !== undefined) throw (bad as PromiseRejectedResult).reason;
      return started.map((s) => (s as PromiseFulfilledResult<RoleProcess>).value);
    },
    kill,
    stop: async (p) => {
      // A graceful stop that hangs must not hang the test: SIGKILL after 30 s (exit code null).
      const timer = setTimeout(() => childOf(p).kill("SIGKILL"), 30_000);
      try {
        await kill(p, "SIGTERM");
      } finally {
        clearTimeout(timer);
      }
      return p.exit()?.code ?? null;
    },
    killAll: async () => {
      await Promise.all(running().map((p) => kill(p, "SIGKILL")));
    },
    status: async (p) => {
      const r = await fetch(`${p.opsUrl}/status`, { signal: AbortSignal.timeout(5000) });
      if (r.status !== 200) throw new Error(`${p.name} /status answered ${r.status}: ${await r.text()}`);
      return (await r.json()) as ProcessStatus;
    },
    proxyAddress: () => {
      const p = running().find((x) => x.address !== undefined);
      if (p?.address === undefined) throw new Error("no proxy is running");
      return p.address;
    },
    logTails: (lines = 40) =>
      procs
        .map(({ p }) => {
          const ex = p.exit();
          const state = ex === undefined ? "running" : `exited code=${ex.code} signal=${ex.signal}`;
          return `----- ${p.name} (node ${p.nodeId}, pid ${p.pid}, ${state}) ${p.logFile}\n${tail(p.logFile, lines)}`;
        })
        .join("\n"),
    unexpectedExits: () =>
      procs.filter(({ p }) => p.exit() !== undefined && !stopped.has(p)).map(({ p }) => p),
    guard: async (fn) => {
      try {
        const out = await fn();
        const crashed = cluster.unexpectedExits();
        if (crashed.length > 0)
          throw new Error(
            `processes exited on their own during the test: ${crashed.map((p) => `${p.name} (node ${p.nodeId}) code=${p.exit()?.code} signal=${p.exit()?.signal}`).join(", ")}`,
          );
        return out;
      } catch (e) {
        failed = true;
        console.error(`\n===== cluster logs (kept in ${dir}) =====\n${cluster.logTails()}\n=====`);
        throw e;
      }
    },
    closeAll: async () => {
      await cluster.killAll();
      process.off("exit", onExit);
      if (opts.dropState !== false) {
        try {
          await dropState();
        } catch (e) {
          console.error(`cluster ${opts.label}: could not drop the backend state: ${String(e)}`);
        }
      }
      if (!failed && process.env.STRATA_TEST_KEEP_LOGS !== "1")
        await rm(dir, { recursive: true, force: true });
      else console.error(`cluster ${opts.label}: logs kept in ${dir}`);
    },
  };

  try {
    // No bucket is made beforehand: processes started together race to create it (each must win
    // or find it made).
    await cluster.addGroups(opts.groups);
  } catch (e) {
    failed = true;
    await cluster.closeAll();
    throw new Error(
      `cluster ${opts.label} did not start (logs in ${dir}): ${String(e)}\n${cluster.logTails()}`,
    );
  }
  return cluster;
}

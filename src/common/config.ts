import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { StrataError } from "./errors.ts";

/**
 * Strata's configuration. Layers, each overriding the one before: built-in defaults → a YAML or
 * JSON file → environment variables → explicit overrides. Environment variables are
 * `STRATA_` + the key path in upper snake case with `__` between levels, e.g.
 * `STRATA_DATA_DIR=/var/strata`, `STRATA_MQ__BACKEND=nats`, `STRATA_MQ__NATS__SERVERS=nats://a,nats://b`.
 */
export interface StrataConfig {
  /** Where the embedded backends keep their files. */
  dataDir: string;
  log: {
    level: string;
    /** `json`: one pino JSON object per line (for collectors); `pretty`: one readable line per entry. */
    format: "json" | "pretty";
  };
  mq: {
    backend: "embedded" | "nats";
    embedded: { segmentBytes: number };
    nats: { servers: string[]; prefix: string };
  };
  kv: {
    backend: "embedded" | "etcd";
    /** Root under which every Strata key lives (several clusters can share one etcd). */
    rootPath: string;
    etcd: { endpoints: string[] };
  };
  objectstore: {
    backend: "local" | "s3";
    s3: {
      endpoint: string;
      region: string;
      bucket: string;
      accessKeyId: string;
      secretAccessKey: string;
      forcePathStyle: boolean;
      prefix: string;
    };
  };
  tso: {
    /** How far ahead of issued timestamps the oracle persists its window, in ms. */
    saveIntervalMs: number;
  };
  idAllocator: {
    /** IDs reserved per meta-store write. */
    windowSize: number;
  };
  server: { host: string; port: number; metricsPort: number };
  auth: {
    /** When on, every Milvus gRPC and REST request must carry valid credentials. */
    enabled: boolean;
    /**
     * Password of the `root` user created at the first start with auth on (empty: a random one,
     * logged once). Later starts never reset an existing root password.
     */
    rootPassword: string;
  };
  rootcoord: {
    /** How often merged time ticks are written into DML channels. */
    timeTickIntervalMs: number;
  };
  dataservice: {
    segmentMaxBytes: number;
    /** How long a segment assignment stays usable (ms). */
    assignmentExpirationMs: number;
    segmentMaxLifetimeMs: number;
    segmentMaxIdleMs: number;
    /** Flushed segments with fewer rows get no index build: a scan serves them. */
    indexMinRows: number;
  };
  indexnode: {
    /** Native threads per index build (0 = one per core). */
    buildThreads: number;
  };
  querynode: {
    /**
     * Bytes of sealed-segment filter results kept for filters that repeat (least recently used
     * dropped first; 0 = none).
     */
    filterCacheBytes: number;
  };
  datanode: {
    /** A segment's buffer is synced to binlogs beyond this many bytes. */
    insertBufBytes: number;
    /** ... or when its oldest buffered row is older than this (ms). */
    syncPeriodMs: number;
  };
  /** Cluster mode (`strata run <roles>`): how a process joins the others. */
  cluster: {
    /** Address the internal RPC server binds and other processes dial. */
    host: string;
    /** Internal RPC port (0: a free one; the session records the one bound). */
    port: number;
    /** A role whose session key is not renewed for this long is dead: its work moves. */
    sessionTtlSeconds: number;
    /** How long a starting role waits for the coordinators it needs to join. */
    joinTimeoutMs: number;
    /** Fixed node ID for this process's roles (0: a new one from the cluster's counter). */
    nodeId: number;
  };
}

export function defaultConfig(): StrataConfig {
  return {
    dataDir: "./strata-data",
    log: { level: "info", format: "json" },
    mq: {
      backend: "embedded",
      embedded: { segmentBytes: 64 * 1024 * 1024 },
      nats: { servers: ["nats://127.0.0.1:4222"], prefix: "strata" },
    },
    kv: { backend: "embedded", rootPath: "strata", etcd: { endpoints: ["http://127.0.0.1:2379"] } },
    objectstore: {
      backend: "local",
      s3: {
        endpoint: "",
        region: "us-east-1",
        bucket: "strata",
        accessKeyId: "",
        secretAccessKey: "",
        forcePathStyle: true,
        prefix: "",
      },
    },
    tso: { saveIntervalMs: 3000 },
    idAllocator: { windowSize: 100_000 },
    server: { host: "127.0.0.1", port: 19530, metricsPort: 9091 },
    auth: { enabled: false, rootPassword: "" },
    rootcoord: { timeTickIntervalMs: 200 },
    dataservice: {
      segmentMaxBytes: 512 * 1024 * 1024,
      assignmentExpirationMs: 250,
      segmentMaxLifetimeMs: 24 * 3600 * 1000,
      segmentMaxIdleMs: 600_000,
      indexMinRows: 1024,
    },
    indexnode: { buildThreads: 0 },
    querynode: { filterCacheBytes: 64 * 1024 * 1024 },
    datanode: { insertBufBytes: 16 * 1024 * 1024, syncPeriodMs: 600_000 },
    cluster: { host: "127.0.0.1", port: 0, sessionTtlSeconds: 10, joinTimeoutMs: 60_000, nodeId: 0 },
  };
}

type Plain = Record<string, unknown>;

function isPlain(v: unknown): v is Plain {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fail(msg: string): never {
  throw new StrataError("ConfigInvalid", msg);
}

/** Converts `raw` to the type of `template`; strings from env are parsed. */
function coerce(path: string, template: unknown, raw: unknown): unknown {
  if (Array.isArray(template)) {
    if (typeof raw === "string")
      return raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    if (Array.isArray(raw) && raw.every((x) => typeof x === "string")) return raw;
    return fail(`${path}: expected a list of strings`);
  }
  switch (typeof template) {
    case "number": {
      const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
      if (typeof n !== "number" || !Number.isFinite(n))
        fail(`${path}: expected a number, got ${JSON.stringify(raw)}`);
      return n;
    }
    case "boolean":
      if (raw === true || raw === "true" || raw === "1") return true;
      if (raw === false || raw === "false" || raw === "0") return false;
      return fail(`${path}: expected true or false, got ${JSON.stringify(raw)}`);
    case "string":
      if (typeof raw === "string") return raw;
      if (typeof raw === "number") return String(raw);
      return fail(`${path}: expected a string`);
    default:
      return fail(`${path}: cannot be set`);
  }
}

function merge(path: string, target: Plain, patch: unknown): void {
  if (!isPlain(patch)) fail(`${path || "config"}: expected a mapping`);
  for (const [k, v] of Object.entries(patch)) {
    const p = path ? `${path}.${k}` : k;
    if (!(k in target)) fail(`unknown config key ${p}`);
    const cur = target[k];
    if (isPlain(cur)) merge(p, cur, v);
    else target[k] = coerce(p, cur, v);
  }
}

const norm = (s: string) => s.replaceAll("_", "").toLowerCase();

/** Builds a patch from STRATA_* variables; variables that name no config key are ignored (tests use some). */
function envPatch(env: NodeJS.ProcessEnv, defaults: StrataConfig): Plain {
  const patch: Plain = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("STRATA_") || value === undefined) continue;
    const segs = name.slice("STRATA_".length).split("__");
    let tmpl: unknown = defaults;
    let out: Plain = patch;
    const keys: string[] = [];
    for (const seg of segs) {
      if (!isPlain(tmpl)) break;
      const key = Object.keys(tmpl).find((k) => norm(k) === norm(seg));
      if (key === undefined) break;
      keys.push(key);
      tmpl = tmpl[key];
    }
    if (keys.length !== segs.length || isPlain(tmpl)) continue;
    for (const k of keys.slice(0, -1)) {
      let next = out[k];
      if (!isPlain(next)) {
        next = {};
        out[k] = next;
      }
      out = next as Plain;
    }
    out[keys[keys.length - 1] as string] = value;
  }
  return patch;
}

export interface LoadConfigOptions {
  /** A YAML (or JSON) file; missing file is an error. */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly overrides?: Readonly<Plain>;
}

/** @throws StrataError ConfigInvalid naming the offending key, for unknown keys and bad values. */
export function loadConfig(opts: LoadConfigOptions = {}): StrataConfig {
  const cfg = defaultConfig();
  const target = cfg as unknown as Plain;
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.file, "utf8");
    } catch (e) {
      return fail(`cannot read config file ${opts.file}: ${(e as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (e) {
      return fail(`config file ${opts.file} is not valid YAML: ${(e as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) merge("", target, parsed);
  }
  merge("", target, envPatch(opts.env ?? process.env, defaultConfig()));
  if (opts.overrides !== undefined) merge("", target, opts.overrides);
  validate(cfg);
  return cfg;
}

function validate(c: StrataConfig): void {
  const oneOf = (path: string, v: string, allowed: readonly string[]) => {
    if (!allowed.includes(v)) fail(`${path} must be one of ${allowed.join(", ")}, got "${v}"`);
  };
  oneOf("mq.backend", c.mq.backend, ["embedded", "nats"]);
  oneOf("kv.backend", c.kv.backend, ["embedded", "etcd"]);
  oneOf("objectstore.backend", c.objectstore.backend, ["local", "s3"]);
  oneOf("log.format", c.log.format, ["json", "pretty"]);
  oneOf("log.level", c.log.level, ["trace", "debug", "info", "warn", "error", "fatal", "silent"]);
  const port = (path: string, v: number) => {
    if (!Number.isInteger(v) || v < 0 || v > 65535) fail(`${path} must be a port number, got ${v}`);
  };
  port("server.port", c.server.port);
  port("server.metricsPort", c.server.metricsPort);
  port("cluster.port", c.cluster.port);
  if (!Number.isInteger(c.cluster.sessionTtlSeconds) || c.cluster.sessionTtlSeconds < 1)
    fail(`cluster.sessionTtlSeconds must be a positive integer, got ${c.cluster.sessionTtlSeconds}`);
  if (!Number.isSafeInteger(c.cluster.nodeId) || c.cluster.nodeId < 0)
    fail(`cluster.nodeId must be a non-negative integer, got ${c.cluster.nodeId}`);
  if (!(c.cluster.joinTimeoutMs > 0))
    fail(`cluster.joinTimeoutMs must be positive, got ${c.cluster.joinTimeoutMs}`);
  if (c.tso.saveIntervalMs < 50) fail("tso.saveIntervalMs must be at least 50");
  if (!Number.isInteger(c.idAllocator.windowSize) || c.idAllocator.windowSize < 1) {
    fail("idAllocator.windowSize must be a positive integer");
  }
  if (c.mq.embedded.segmentBytes < 1024 * 1024) fail("mq.embedded.segmentBytes must be at least 1 MiB");
  const positive = (path: string, v: number) => {
    if (!(v > 0)) fail(`${path} must be positive, got ${v}`);
  };
  positive("rootcoord.timeTickIntervalMs", c.rootcoord.timeTickIntervalMs);
  positive("dataservice.segmentMaxBytes", c.dataservice.segmentMaxBytes);
  positive("dataservice.assignmentExpirationMs", c.dataservice.assignmentExpirationMs);
  positive("dataservice.segmentMaxLifetimeMs", c.dataservice.segmentMaxLifetimeMs);
  positive("dataservice.segmentMaxIdleMs", c.dataservice.segmentMaxIdleMs);
  positive("dataservice.indexMinRows", c.dataservice.indexMinRows);
  if (
    !Number.isInteger(c.indexnode.buildThreads) ||
    c.indexnode.buildThreads < 0 ||
    c.indexnode.buildThreads > 1024
  )
    fail(`indexnode.buildThreads must be an integer in [0, 1024], got ${c.indexnode.buildThreads}`);
  if (!Number.isSafeInteger(c.querynode.filterCacheBytes) || c.querynode.filterCacheBytes < 0)
    fail(`querynode.filterCacheBytes must be a non-negative integer, got ${c.querynode.filterCacheBytes}`);
  positive("datanode.insertBufBytes", c.datanode.insertBufBytes);
  positive("datanode.syncPeriodMs", c.datanode.syncPeriodMs);
  const rootPw = c.auth.rootPassword;
  if (rootPw !== "" && (rootPw.length < 6 || rootPw.length > 256)) {
    fail(`auth.rootPassword must be 6 to 256 characters long, got ${rootPw.length}`);
  }
  if (c.objectstore.backend === "s3" && c.objectstore.s3.bucket === "")
    fail("objectstore.s3.bucket is required");
}

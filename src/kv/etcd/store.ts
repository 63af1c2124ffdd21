/**
 * The meta store on etcd v3, through etcd3's raw KV / Lease / Watch clients (not its builders),
 * so every call maps one-to-one onto an etcd RPC and nothing runs in the background: no lease
 * keeps itself alive, no request is silently retried.
 *
 * Every key lives under `prefix`, which is added on the way in and stripped on the way out.
 * Revisions and versions are etcd's own (store-wide across all prefixes). Lease IDs are etcd's
 * int64 IDs as decimal strings. etcd raises TTLs below its minimum (about 2 s with default
 * settings) to that minimum.
 */
import {
  CompareResult,
  CompareTarget,
  Etcd3,
  GRPCOutOfRangeError,
  type ICompare,
  type IOptions,
  type IRequestOp,
  type IResponseOp,
} from "etcd3";
import { StrataError } from "../../common/errors.ts";
import { type Logger, silentLogger } from "../../common/log.ts";
import type {
  Compare,
  KeyValue,
  LeaseId,
  MetaKv,
  PutOptions,
  TxnOp,
  TxnRequest,
  TxnResponse,
  WatchEvent,
  Watcher,
  WatchOptions,
} from "../types.ts";
import {
  checkKey,
  checkLeaseId,
  checkLimit,
  checkPrefix,
  checkRevision,
  checkTtl,
  checkTxn,
  checkValue,
} from "../validate.ts";
import { Keyspace, mapError, num, toBuffer, toKv, transient } from "./convert.ts";
import { EtcdWatch } from "./watch.ts";

export interface EtcdKvOptions {
  /** Client URLs, e.g. ["http://127.0.0.1:2379"]. */
  readonly endpoints: readonly string[];
  /** Namespace for every key (e.g. "strata/cluster1/"); stripped from returned keys. */
  readonly prefix?: string;
  readonly logger?: Logger;
  /** Deadline of each call in ms. Default 10 000. */
  readonly timeoutMs?: number;
}

/** etcd's default --max-request-bytes is 1.5 MiB; larger values could never be written. */
const MAX_VALUE_BYTES = 1536 * 1024;
/** Prefix scans are paged so no response nears gRPC's 4 MiB receive limit. */
const PAGE = 256;
const READ_ATTEMPTS = 4;

type GlobalPolicy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>;

/**
 * etcd3 retries "recoverable" errors of any call by default; for a txn whose reply was lost that
 * would apply it twice. We retry only idempotent reads ourselves.
 */
const noRetry = {
  execute: <T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> =>
    Promise.resolve().then(() => fn({ signal: new AbortController().signal })),
} as unknown as GlobalPolicy;

type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions["faultHandling"]>["host"]>>;

/** A host policy that runs every call (no circuit breaker). */
const passThrough = noRetry as unknown as HostPolicy;

const compareResult = {
  "==": CompareResult.Equal,
  "!=": CompareResult.NotEqual,
  "<": CompareResult.Less,
  ">": CompareResult.Greater,
} as const;

export class EtcdKv implements MetaKv {
  private readonly ks: Keyspace;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly watchers = new Set<EtcdWatch>();
  private closed = false;

  private constructor(
    private readonly client: Etcd3,
    opts: EtcdKvOptions,
  ) {
    this.ks = new Keyspace(opts.prefix ?? "");
    this.log = opts.logger ?? silentLogger();
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Connects and checks etcd answers; rejects with ServiceUnavailable when it does not. */
  static async open(opts: EtcdKvOptions): Promise<EtcdKv> {
    if (!Array.isArray(opts?.endpoints) || opts.endpoints.length === 0) {
      throw new StrataError("ParameterInvalid", "etcd meta store needs at least one endpoint");
    }
    if (opts.prefix !== undefined && typeof opts.prefix !== "string") {
      throw new StrataError("ParameterInvalid", "etcd prefix must be a string");
    }
    if (opts.timeoutMs !== undefined && (!Number.isSafeInteger(opts.timeoutMs) || opts.timeoutMs < 1)) {
      throw new StrataError("ParameterInvalid", "timeoutMs must be a positive integer");
    }
    const client = new Etcd3({
      hosts: [...opts.endpoints],
      // With one endpoint etcd3's per-host circuit breaker only turns a few slow calls (a loaded
      // machine) into seconds of refused calls for every role of the process; with several it
      // steers calls to healthy members, so it stays.
      faultHandling:
        opts.endpoints.length === 1 ? { global: noRetry, host: () => passThrough } : { global: noRetry },
    });
    const kv = new EtcdKv(client, opts);
    try {
      await kv.revision();
    } catch (e) {
      client.close();
      throw e;
    }
    return kv;
  }

  private opts(): { deadline: number } {
    return { deadline: Date.now() + this.timeoutMs };
  }

  private usable(): void {
    if (this.closed) throw new StrataError("Closed", "meta store is closed");
  }

  /** Runs an idempotent call, retrying connection failures with a short backoff. */
  private async read<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (this.closed || attempt >= READ_ATTEMPTS || !transient(e)) throw mapError(e, what);
        await new Promise((r) => setTimeout(r, 100 * 2 ** (attempt - 1)));
      }
    }
  }

  private async write<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw mapError(e, what);
    }
  }

  // ---- reads ----

  async get(key: string): Promise<KeyValue | undefined> {
    this.usable();
    checkKey(key);
    const res = await this.read("etcd get", () =>
      this.client.kv.range({ key: this.ks.key(key) }, this.opts()),
    );
    const kv = res.kvs[0];
    return kv === undefined ? undefined : toKv(this.ks, kv);
  }

  async getPrefix(prefix: string, opts?: { readonly limit?: number }): Promise<KeyValue[]> {
    this.usable();
    checkPrefix(prefix);
    const limit = checkLimit(opts?.limit);
    const { key, range_end } = this.ks.range(prefix);
    const out: KeyValue[] = [];
    let from = key;
    let revision = 0;
    // Every page reads at the first page's revision, so the result is one consistent snapshot.
    for (;;) {
      const want = limit === undefined ? PAGE : Math.min(PAGE, limit - out.length);
      const res = await this.read("etcd getPrefix", () =>
        this.client.kv.range({ key: from, range_end, limit: want, revision }, this.opts()),
      );
      if (revision === 0) revision = num(res.header.revision);
      for (const kv of res.kvs) out.push(toKv(this.ks, kv));
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || last === undefined || (limit !== undefined && out.length >= limit)) return out;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  async revision(): Promise<number> {
    this.usable();
    const { key } = this.ks.range("");
    const res = await this.read("etcd revision", () =>
      this.client.kv.range({ key, count_only: true }, this.opts()),
    );
    return num(res.header.revision);
  }

  // ---- writes ----

  async put(key: string, value: Uint8Array, opts?: PutOptions): Promise<number> {
    this.usable();
    checkKey(key);
    checkValue(value, MAX_VALUE_BYTES);
    const lease = opts?.lease === undefined ? undefined : checkLeaseId(opts.lease);
    const res = await this.write("etcd put", () =>
      this.client.kv.put(
        { key: this.ks.key(key), value: toBuffer(value), ...(lease === undefined ? {} : { lease }) },
        this.opts(),
      ),
    );
    return num(res.header.revision);
  }

  async delete(key: string): Promise<boolean> {
    this.usable();
    checkKey(key);
    const res = await this.write("etcd delete", () =>
      this.client.kv.deleteRange({ key: this.ks.key(key) }, this.opts()),
    );
    return num(res.deleted) > 0;
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.usable();
    checkPrefix(prefix);
    const res = await this.write("etcd deletePrefix", () =>
      this.client.kv.deleteRange(this.ks.range(prefix), this.opts()),
    );
    return num(res.deleted);
  }

  private compare(c: Compare): ICompare {
    const key = this.ks.key(c.key);
    const result = compareResult[c.op];
    switch (c.target) {
      case "value":
        return { key, result, target: CompareTarget.Value, value: toBuffer(c.value) };
      case "version":
        return { key, result, target: CompareTarget.Version, version: c.value };
      case "createRevision":
        return { key, result, target: CompareTarget.Create, create_revision: c.value };
      case "modRevision":
        return { key, result, target: CompareTarget.Mod, mod_revision: c.value };
    }
  }

  private op(op: TxnOp): IRequestOp {
    switch (op.type) {
      case "put":
        return {
          request_put: {
            key: this.ks.key(op.key),
            value: toBuffer(op.value),
            ...(op.lease === undefined ? {} : { lease: op.lease }),
          },
        };
      case "delete":
        return { request_delete_range: { key: this.ks.key(op.key) } };
      case "deletePrefix":
        return { request_delete_range: this.ks.range(op.prefix) };
      case "get":
        return { request_range: { key: this.ks.key(op.key) } };
    }
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    this.usable();
    checkTxn(req, MAX_VALUE_BYTES);
    const res = await this.write("etcd txn", () =>
      this.client.kv.txn(
        {
          compare: req.compare.map((c) => this.compare(c)),
          success: req.success.map((o) => this.op(o)),
          failure: (req.failure ?? []).map((o) => this.op(o)),
        },
        this.opts(),
      ),
    );
    const branch = res.succeeded ? req.success : (req.failure ?? []);
    const gets: (KeyValue | undefined)[] = [];
    branch.forEach((op, i) => {
      if (op.type !== "get") return;
      const r: Partial<IResponseOp> | undefined = res.responses[i];
      const kv = r?.response_range?.kvs[0];
      gets.push(kv === undefined ? undefined : toKv(this.ks, kv));
    });
    return { succeeded: res.succeeded, revision: num(res.header.revision), gets };
  }

  // ---- leases ----

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    this.usable();
    checkTtl(ttlSeconds);
    const res = await this.write("etcd grantLease", () =>
      this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }, this.opts()),
    );
    if (res.error) throw new StrataError("ServiceInternal", `etcd refused the lease: ${res.error}`);
    return String(res.ID);
  }

  /** One keep-alive round trip on a short-lived stream; nothing keeps renewing afterwards. */
  async keepAlive(lease: LeaseId): Promise<void> {
    this.usable();
    const id = checkLeaseId(lease);
    const ttl = await this.read("etcd keepAlive", () => this.keepAliveOnce(id));
    if (ttl <= 0) throw new StrataError("LeaseExpired", `lease ${id} has expired or was revoked`);
  }

  private async keepAliveOnce(id: string): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive();
    return new Promise<number>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | undefined, ttl = 0): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        stream.cancel();
        if (err === undefined) resolve(ttl);
        else reject(err);
      };
      const timer = setTimeout(
        () => finish(new StrataError("Timeout", `etcd keepAlive of lease ${id} timed out`)),
        this.timeoutMs,
      );
      stream.on("data", (res) => finish(undefined, num(res.TTL)));
      stream.on("error", (err) => finish(err));
      stream.on("end", () => finish(new Error("keepAlive stream ended without a reply")));
      stream.write({ ID: id });
    });
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    this.usable();
    const id = checkLeaseId(lease);
    try {
      await this.read("etcd revokeLease", () => this.client.leaseClient.leaseRevoke({ ID: id }, this.opts()));
    } catch (e) {
      // Revoking a lease that is already gone is a no-op.
      if (e instanceof StrataError && e.code === "LeaseExpired") return;
      throw e;
    }
  }

  // ---- watch ----

  /**
   * A `fromRevision` already compacted in etcd makes this call reject with StrataError
   * KeyNotFound. Later failures go to `onError`: compaction overtaking a watch that was
   * reconnecting (the watch then ends) or a throwing `onEvent` (the watch goes on). Lost
   * connections are retried in the background and resume where delivery stopped.
   */
  async watch(
    prefix: string,
    onEvent: (events: readonly WatchEvent[]) => void,
    opts?: WatchOptions & { readonly onError?: (err: Error) => void },
  ): Promise<Watcher> {
    this.usable();
    checkPrefix(prefix);
    if (typeof onEvent !== "function")
      throw new StrataError("ParameterInvalid", "onEvent must be a function");
    const from = opts?.fromRevision === undefined ? 0 : checkRevision(opts.fromRevision, "fromRevision");
    // etcd confirms the watch before noticing a compacted start, so ask first: a read at that
    // revision fails the same way. (A start in the future is fine for a watch.)
    if (from > 0) {
      try {
        await this.read("etcd watch", () =>
          this.client.kv.range({ ...this.ks.range(prefix), revision: from, count_only: true }, this.opts()),
        );
      } catch (e) {
        const cause = e instanceof StrataError ? e.cause : e;
        if (!(cause instanceof GRPCOutOfRangeError && cause.message.includes("future"))) throw e;
      }
    }
    const w = new EtcdWatch({
      client: this.client.watchClient,
      keyspace: this.ks,
      prefix,
      fromRevision: from,
      onEvent,
      onError: opts?.onError,
      logger: this.log,
      onClosed: (x) => this.watchers.delete(x),
    });
    this.watchers.add(w);
    try {
      await w.start();
    } catch (e) {
      await w.close();
      throw mapError(e, "etcd watch");
    }
    return w;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watchers].map((w) => w.close()));
    this.client.close();
  }
}

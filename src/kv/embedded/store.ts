/**
 * The embedded meta store: etcd semantics over an in-memory sorted state, made durable by a
 * write-ahead log with group commit.
 *
 * Every operation applies to memory synchronously (so compare-and-swap is atomic without locks)
 * and appends its record to the pending batch; one flush at a time writes the batch and fsyncs,
 * so concurrent writers share an fsync. Nothing is observable before it is durable: writes
 * resolve after their fsync, reads and failed compares wait until the state they saw is durable,
 * and watchers are handed events only once their batch is on disk. A crash therefore loses at
 * most writes that were never acknowledged, and never shows anything it may later forget.
 */
import { mkdir, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { asStrataError, StrataError } from "../../common/errors.ts";
import { type Logger, silentLogger } from "../../common/log.ts";
import type {
  Compare,
  KeyValue,
  LeaseId,
  MetaKv,
  PutOptions,
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
  compareKeys,
} from "../validate.ts";
import type { EventHistory } from "./history.ts";
import { DirLock } from "./lock.ts";
import { encodeGrant, encodeWrite, type WalOp } from "./records.ts";
import { recover } from "./recovery.ts";
import { type SnapshotImage, writeSnapshot } from "./snapshot.ts";
import type { Entry, KvState } from "./state.ts";
import { parseWalName, WalFile } from "./wal.ts";

export interface EmbeddedKvOptions {
  /** Data directory; created if missing. One process at a time (a pid lock file guards it). */
  readonly dir: string;
  readonly logger?: Logger;
  /** Start a new WAL generation and write a snapshot once the WAL passes this size. Default 64 MiB. */
  readonly compactWalBytes?: number;
  /** Watch history kept for resume: at most this many events (default 10 000) ... */
  readonly historyEvents?: number;
  /** ... and about this many bytes (default 64 MiB); whole revisions are dropped, oldest first. */
  readonly historyBytes?: number;
  /** Largest accepted value. Default 1.5 MiB, etcd's own limit, so the backends stay interchangeable. */
  readonly maxValueBytes?: number;
  /** How often lease deadlines are checked, in ms. Default 100. */
  readonly leaseCheckMs?: number;
}

interface Waiter {
  readonly lsn: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

interface Sub {
  readonly prefix: string;
  readonly onEvent: (events: readonly WatchEvent[]) => void;
  readonly onError: ((err: Error) => void) | undefined;
  /** The next revision this watcher has not been handed. */
  nextRev: number;
  closed: boolean;
}

const MiB = 1024 * 1024;

function toKv(key: string, e: Entry): KeyValue {
  const kv = {
    key,
    value: new Uint8Array(e.value),
    createRevision: e.createRevision,
    modRevision: e.modRevision,
    version: e.version,
  };
  return e.lease === undefined ? kv : { ...kv, lease: e.lease };
}

function holds(c: Compare, e: Entry | undefined): boolean {
  let cmp: number;
  if (c.target === "value") {
    // As in etcd, no value comparison holds for a missing key.
    if (e === undefined) return false;
    cmp = Buffer.compare(e.value, c.value);
  } else {
    const actual = e === undefined ? 0 : e[c.target];
    cmp = actual < c.value ? -1 : actual > c.value ? 1 : 0;
  }
  switch (c.op) {
    case "==":
      return cmp === 0;
    case "!=":
      return cmp !== 0;
    case "<":
      return cmp < 0;
    case ">":
      return cmp > 0;
  }
}

export class EmbeddedKv implements MetaKv {
  private readonly log: Logger;
  private readonly maxValueBytes: number;
  private readonly compactWalBytes: number;
  /** Sequence number of the last record applied to memory / made durable. */
  private appliedLsn: number;
  private durableLsn: number;
  /** Highest revision handed to watchers (= durable). */
  private deliveredRev: number;
  private pending: Buffer[] = [];
  private waiters: Waiter[] = [];
  private waitersHead = 0;
  private flushing: Promise<void> | undefined;
  private compaction: Promise<void> | undefined;
  private compactRequested = false;
  private rotateAt: number;
  private rotateError: unknown;
  private failure: StrataError | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly subs = new Set<Sub>();
  private readonly leaseTimer: NodeJS.Timeout;

  private constructor(
    private readonly dir: string,
    private readonly lock: DirLock,
    private readonly state: KvState,
    private readonly history: EventHistory,
    private wal: WalFile,
    lsn: number,
    opts: EmbeddedKvOptions,
    logger: Logger,
  ) {
    this.log = logger;
    this.maxValueBytes = opts.maxValueBytes ?? 1.5 * MiB;
    this.compactWalBytes = opts.compactWalBytes ?? 64 * MiB;
    this.rotateAt = this.compactWalBytes;
    this.appliedLsn = lsn;
    this.durableLsn = lsn;
    this.deliveredRev = state.revision;
    this.leaseTimer = setInterval(() => this.expireLeases(), opts.leaseCheckMs ?? 100);
    this.leaseTimer.unref();
  }

  static async open(opts: EmbeddedKvOptions): Promise<EmbeddedKv> {
    if (typeof opts?.dir !== "string" || opts.dir === "") {
      throw new StrataError("ParameterInvalid", "embedded meta store needs a dir");
    }
    for (const k of [
      "compactWalBytes",
      "historyEvents",
      "historyBytes",
      "maxValueBytes",
      "leaseCheckMs",
    ] as const) {
      const v = opts[k];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) {
        throw new StrataError("ParameterInvalid", `${k} must be a positive integer`);
      }
    }
    const logger = opts.logger ?? silentLogger();
    try {
      await mkdir(opts.dir, { recursive: true });
    } catch (e) {
      throw asStrataError(e, "IoFailed", `creating ${opts.dir}`);
    }
    const lock = await DirLock.acquire(opts.dir, logger);
    try {
      const limits = { events: opts.historyEvents ?? 10_000, bytes: opts.historyBytes ?? 64 * MiB };
      const r = await recover(opts.dir, limits, logger, performance.now());
      logger.debug(
        { dir: opts.dir, revision: r.state.revision, keys: r.state.map.size },
        "meta store opened",
      );
      return new EmbeddedKv(opts.dir, lock, r.state, r.history, r.wal, r.lsn, opts, logger);
    } catch (e) {
      await lock.release();
      throw asStrataError(e, "IoFailed", `opening meta store ${opts.dir}`);
    }
  }

  // ---- reads ----

  async get(key: string): Promise<KeyValue | undefined> {
    this.usable();
    checkKey(key);
    const e = this.state.map.get(key);
    const kv = e === undefined ? undefined : toKv(key, e);
    await this.settled();
    return kv;
  }

  async getPrefix(prefix: string, opts?: { readonly limit?: number }): Promise<KeyValue[]> {
    this.usable();
    checkPrefix(prefix);
    const limit = checkLimit(opts?.limit);
    const { from, to } = this.state.prefixRange(prefix);
    const end = limit === undefined ? to : Math.min(to, from + limit);
    const out: KeyValue[] = [];
    for (let i = from; i < end; i++) {
      const key = this.state.sorted[i]!;
      out.push(toKv(key, this.state.map.get(key)!));
    }
    await this.settled();
    return out;
  }

  async revision(): Promise<number> {
    this.usable();
    const rev = this.state.revision;
    await this.settled();
    return rev;
  }

  // ---- writes ----

  async put(key: string, value: Uint8Array, opts?: PutOptions): Promise<number> {
    this.usable();
    checkKey(key);
    checkValue(value, this.maxValueBytes);
    const lease = opts?.lease;
    if (lease !== undefined) this.liveLease(checkLeaseId(lease));
    const rev = this.state.revision + 1;
    // A copy: the caller may reuse its buffer (and Buffer#slice would only be a view).
    const v = new Uint8Array(value);
    const frame = encodeWrite(this.appliedLsn + 1, rev, [{ kind: "put", key, value: v, lease }], []);
    const ev = this.state.put(rev, key, v, lease);
    this.state.revision = rev;
    await this.append(frame, [ev]);
    return rev;
  }

  async delete(key: string): Promise<boolean> {
    this.usable();
    checkKey(key);
    if (!this.state.map.has(key)) {
      await this.settled();
      return false;
    }
    const rev = this.state.revision + 1;
    const frame = encodeWrite(this.appliedLsn + 1, rev, [{ kind: "del", key }], []);
    const ev = this.state.del(rev, key)!;
    this.state.revision = rev;
    await this.append(frame, [ev]);
    return true;
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.usable();
    checkPrefix(prefix);
    const rev = this.state.revision + 1;
    const events: WatchEvent[] = [];
    const keys = this.state.delPrefix(rev, prefix, events);
    if (keys.length === 0) {
      await this.settled();
      return 0;
    }
    this.state.revision = rev;
    const ops = keys.map((key): WalOp => ({ kind: "del", key }));
    await this.append(encodeWrite(this.appliedLsn + 1, rev, ops, []), events);
    return keys.length;
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    this.usable();
    checkTxn(req, this.maxValueBytes);
    const succeeded = req.compare.every((c) => holds(c, this.state.map.get(c.key)));
    const branch = succeeded ? req.success : (req.failure ?? []);
    // Everything that can refuse the txn is checked before anything is applied.
    for (const op of branch) if (op.type === "put" && op.lease !== undefined) this.liveLease(op.lease);
    const rev = this.state.revision + 1;
    const ops: WalOp[] = [];
    const events: WatchEvent[] = [];
    const gets: (KeyValue | undefined)[] = [];
    for (const op of branch) {
      switch (op.type) {
        case "put": {
          const value = new Uint8Array(op.value);
          events.push(this.state.put(rev, op.key, value, op.lease));
          ops.push({ kind: "put", key: op.key, value, lease: op.lease });
          break;
        }
        case "delete": {
          const ev = this.state.del(rev, op.key);
          if (ev !== undefined) {
            events.push(ev);
            ops.push({ kind: "del", key: op.key });
          }
          break;
        }
        case "deletePrefix":
          for (const key of this.state.delPrefix(rev, op.prefix, events)) ops.push({ kind: "del", key });
          break;
        case "get": {
          const e = this.state.map.get(op.key);
          gets.push(e === undefined ? undefined : toKv(op.key, e));
          break;
        }
      }
    }
    if (ops.length > 0) {
      this.state.revision = rev;
      await this.append(encodeWrite(this.appliedLsn + 1, rev, ops, []), events);
      return { succeeded, revision: rev, gets };
    }
    const revision = this.state.revision;
    await this.settled();
    return { succeeded, revision, gets };
  }

  // ---- leases ----

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    this.usable();
    checkTtl(ttlSeconds);
    const id = String(this.state.nextLeaseId);
    const frame = encodeGrant(this.appliedLsn + 1, id, ttlSeconds);
    this.state.grant(id, ttlSeconds, performance.now());
    await this.append(frame, []);
    return id;
  }

  async keepAlive(lease: LeaseId): Promise<void> {
    this.usable();
    const l = this.liveLease(checkLeaseId(lease));
    l.expiresAt = performance.now() + l.ttl * 1000;
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    this.usable();
    await this.endLease(checkLeaseId(lease));
  }

  /** The lease, if granted and not past its deadline; a lapsed one is ended on the spot. */
  private liveLease(id: string): { ttl: number; expiresAt: number } {
    const l = this.state.leases.get(id);
    if (l !== undefined && l.expiresAt > performance.now()) return l;
    if (l !== undefined) this.endLeaseInBackground(id);
    throw new StrataError("LeaseExpired", `lease ${id} has expired or was revoked`);
  }

  /** Deletes the lease's keys (one revision) and forgets the lease, durably. */
  private endLease(id: string): Promise<void> {
    const l = this.state.leases.get(id);
    if (l === undefined) return this.settled();
    const keys = [...l.keys].sort(compareKeys);
    const rev = keys.length > 0 ? this.state.revision + 1 : this.state.revision;
    const ops = keys.map((key): WalOp => ({ kind: "del", key }));
    const frame = encodeWrite(this.appliedLsn + 1, rev, ops, [id]);
    const events: WatchEvent[] = [];
    this.state.delMany(rev, keys, events);
    this.state.dropLease(id);
    this.state.revision = rev;
    return this.append(frame, events);
  }

  private endLeaseInBackground(id: string): void {
    this.endLease(id).catch((e: unknown) =>
      this.log.error({ err: e, lease: id }, "ending meta lease failed"),
    );
  }

  private expireLeases(): void {
    if (this.closed || this.failure !== undefined) return;
    const now = performance.now();
    for (const [id, l] of this.state.leases) if (l.expiresAt <= now) this.endLeaseInBackground(id);
  }

  // ---- watch ----

  /**
   * A `fromRevision` older than the kept history (and not in the future) makes this call reject
   * with StrataError KeyNotFound ("compacted"); nothing is registered then. `onError` receives
   * only failures after establishment: a throwing `onEvent` (the watch goes on) or the store
   * failing on I/O (the watch ends).
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
    let nextRev = this.deliveredRev + 1;
    if (opts?.fromRevision !== undefined) {
      const from = checkRevision(opts.fromRevision, "fromRevision");
      if (from < nextRev && from < this.history.start) {
        throw new StrataError(
          "KeyNotFound",
          `watch from revision ${from}: compacted, the oldest revision still held is ${this.history.start}`,
        );
      }
      nextRev = from;
    }
    const sub: Sub = { prefix, onEvent, onError: opts?.onError, nextRev, closed: false };
    this.subs.add(sub);
    // Replay after the caller has its Watcher; a flush in between delivers the same way, in order.
    if (nextRev <= this.deliveredRev) setImmediate(() => this.deliverTo(sub, this.deliveredRev));
    return {
      close: async () => {
        sub.closed = true;
        this.subs.delete(sub);
      },
    };
  }

  private deliverTo(sub: Sub, upTo: number): void {
    if (sub.closed || sub.nextRev > upTo) return;
    const evs = this.history.collect(sub.nextRev, upTo, sub.prefix);
    sub.nextRev = upTo + 1;
    if (evs.length === 0) return;
    const copies = evs.map((e) => ({
      type: e.type,
      key: e.key,
      value: new Uint8Array(e.value),
      modRevision: e.modRevision,
    }));
    try {
      sub.onEvent(copies);
    } catch (e) {
      this.log.error({ err: e }, "meta watch callback threw");
      try {
        sub.onError?.(e instanceof Error ? e : new Error(String(e)));
      } catch {
        // The error handler's own failure has nowhere left to go.
      }
    }
  }

  private deliver(rev: number): void {
    this.deliveredRev = rev;
    let keepFrom = rev + 1;
    for (const sub of this.subs) {
      this.deliverTo(sub, rev);
      if (sub.nextRev < keepFrom) keepFrom = sub.nextRev;
    }
    this.history.trim(keepFrom);
  }

  // ---- durability ----

  private usable(): void {
    if (this.closed) throw new StrataError("Closed", "meta store is closed");
    if (this.failure !== undefined) throw this.failure;
  }

  private append(frame: Buffer, events: readonly WatchEvent[]): Promise<void> {
    this.appliedLsn++;
    this.pending.push(frame);
    if (events.length > 0) this.history.append(events);
    this.kick();
    return this.waitDurable(this.appliedLsn);
  }

  /** Resolves once everything applied so far is durable. */
  private settled(): Promise<void> {
    return this.waitDurable(this.appliedLsn);
  }

  private waitDurable(lsn: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.durableLsn >= lsn) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ lsn, resolve, reject }));
  }

  private kick(): void {
    if (this.flushing !== undefined) return;
    // setImmediate, not a microtask: writers woken by the previous fsync get to enqueue first.
    this.flushing = new Promise<void>((r) => setImmediate(r)).then(() => this.flushLoop());
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.failure === undefined) {
        if (this.pending.length > 0) {
          const frames = this.pending;
          this.pending = [];
          const lsn = this.appliedLsn;
          const rev = this.state.revision;
          await this.wal.append(frames);
          this.durableLsn = lsn;
          this.deliver(rev);
          this.wakeWaiters();
        } else if (
          this.compaction === undefined &&
          (this.compactRequested || this.wal.size >= this.rotateAt)
        ) {
          this.compactRequested = false;
          await this.rotate();
        } else {
          break;
        }
      }
    } catch (e) {
      this.fail(asStrataError(e, "IoFailed", "meta WAL append failed"));
    } finally {
      this.flushing = undefined;
    }
  }

  private wakeWaiters(): void {
    const ws = this.waiters;
    let i = this.waitersHead;
    while (i < ws.length && ws[i]!.lsn <= this.durableLsn) ws[i++]!.resolve();
    if (i === ws.length) {
      this.waiters = [];
      this.waitersHead = 0;
    } else {
      this.waitersHead = i;
    }
  }

  /**
   * An fsync failure leaves memory ahead of disk with no way to tell what reached it, so the
   * instance stops: pending writes fail, watchers are told, and a reopen replays what is durable.
   */
  private fail(err: StrataError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.log.error({ err, dir: this.dir }, "meta store failed; reopen to recover");
    const ws = this.waiters.slice(this.waitersHead);
    this.waiters = [];
    this.waitersHead = 0;
    for (const w of ws) w.reject(err);
    for (const sub of this.subs) {
      sub.closed = true;
      try {
        sub.onError?.(err);
      } catch {
        // Nothing more to do for a watcher whose error handler throws.
      }
    }
    this.subs.clear();
  }

  // ---- compaction ----

  /**
   * Starts a new WAL generation, then writes a snapshot of the state as of that point in the
   * background; older generations are deleted once the snapshot is durable. Runs inside the
   * flush loop, so no append is in progress on the old file.
   */
  private async rotate(): Promise<void> {
    let next: WalFile;
    try {
      next = await WalFile.create(this.dir, this.wal.gen + 1);
    } catch (e) {
      // The current WAL still works; try again after it has grown by another threshold.
      this.rotateAt = this.wal.size + this.compactWalBytes;
      this.rotateError = e;
      this.log.error({ err: e, dir: this.dir }, "meta WAL rotation failed");
      return;
    }
    this.rotateError = undefined;
    const old = this.wal;
    this.wal = next;
    this.rotateAt = this.compactWalBytes;
    await old.close().catch((e: unknown) => this.log.warn({ err: e }, "closing old meta WAL failed"));
    // Captured at the current applied position: records still pending go to the new generation
    // and are skipped on replay, being inside the snapshot already.
    const s = this.state;
    const img: SnapshotImage = {
      lsn: this.appliedLsn,
      walGen: next.gen,
      revision: s.revision,
      nextLeaseId: s.nextLeaseId,
      leases: [...s.leases].map(([id, l]) => [id, l.ttl] as const),
      keys: s.sorted.slice(),
      map: new Map(s.map),
    };
    this.compaction = this.writeCompaction(img).finally(() => {
      this.compaction = undefined;
    });
    this.compaction.catch((e: unknown) => this.log.error({ err: e, dir: this.dir }, "meta snapshot failed"));
  }

  private async writeCompaction(img: SnapshotImage): Promise<void> {
    await writeSnapshot(this.dir, img);
    for (const name of await readdir(this.dir)) {
      const gen = parseWalName(name);
      if (gen !== undefined && gen < img.walGen) await unlink(join(this.dir, name));
    }
    this.log.debug({ dir: this.dir, revision: img.revision, keys: img.keys.length }, "meta snapshot written");
  }

  /**
   * Forces a compaction now (snapshot + fresh WAL) and resolves when the snapshot is durable.
   * Compaction also runs on its own when the WAL passes `compactWalBytes`.
   */
  async compact(): Promise<void> {
    this.usable();
    while (this.compaction !== undefined) await this.compaction.catch(() => undefined);
    this.compactRequested = true;
    this.rotateError = undefined;
    this.kick();
    while (this.flushing !== undefined) await this.flushing;
    this.usable();
    if (this.rotateError !== undefined)
      throw asStrataError(this.rotateError, "IoFailed", "meta WAL rotation");
    if (this.compaction !== undefined) await this.compaction;
  }

  // ---- lifecycle ----

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.leaseTimer);
    // Writes already accepted still become durable and resolve.
    while (this.flushing !== undefined) await this.flushing;
    while (this.compaction !== undefined) await this.compaction.catch(() => undefined);
    for (const sub of this.subs) sub.closed = true;
    this.subs.clear();
    await this.wal.close().catch((e: unknown) => this.log.warn({ err: e }, "closing meta WAL failed"));
    await this.lock.release();
  }
}

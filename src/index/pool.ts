import { availableParallelism } from "node:os";
import { type ResourceLimits, Worker } from "node:worker_threads";
import type { Column } from "../common/column.ts";
import { ERRORS, type ErrorCode, StrataError } from "../common/errors.ts";
import { type Logger, silentLogger } from "../common/log.ts";
import { type CheckedSearch, checkSearch, type PreparedSearchRequest, runChecked } from "./exact.ts";
import { largerIsBetter } from "./metric.ts";
import type { FromWorker, ToWorker } from "./pool-protocol.ts";
import type { PreparedQueries } from "./queries.ts";
import { type PreparedSegment, prepareSegment, rowCost, sharedAlloc, shareSegment } from "./segment.ts";
import { mergeOffsetResults, type SearchResult } from "./topk.ts";

export interface SearchPoolOptions {
  /** Worker threads; default os.availableParallelism(). */
  readonly size?: number;
  /**
   * Searches whose work (allowed rows x row cost x nq, row cost = dim for float vectors) is below
   * this run inline on the calling thread: a round trip to a worker would cost more than it saves.
   * Default 2^20 (about half a millisecond of scanning).
   */
  readonly inlineBelow?: number;
  /** A search is split across workers by row ranges into parts of at least this much work. Default 2^20. */
  readonly minPartWork?: number;
  readonly logger?: Logger;
  /** Heap limits for each worker thread. */
  readonly resourceLimits?: ResourceLimits;
}

/** A search by the pool: a registered segment's key, or a column to search once. */
export interface PoolSearchRequest extends PreparedSearchRequest {
  readonly segment: string | Column;
}

export interface SearchPoolStats {
  readonly workers: number;
  readonly busy: number;
  readonly queuedParts: number;
  readonly registered: number;
  /** Workers replaced after a crash since start. */
  readonly restarts: number;
}

interface Pending {
  readonly resolve: (r: SearchResult) => void;
  readonly reject: (e: unknown) => void;
  readonly parts: SearchResult[];
  readonly negate: boolean;
  remaining: number;
  done: boolean;
}

interface Part {
  readonly pending: Pending;
  readonly msg: Extract<ToWorker, { t: "search" }>;
}

interface Slot {
  readonly worker: Worker;
  ready: boolean;
  part: Part | undefined;
  lastError: Error | undefined;
}

/** Consecutive workers dying before they are ready after which the pool gives up. */
const MAX_STARTUP_FAILURES = 3;

/**
 * Worker threads that run exact searches off the event loop. Segments searched repeatedly are
 * registered once: their vectors are copied into SharedArrayBuffers (Float16/BFloat16 decoded,
 * COSINE norms computed), and every later search passes them to workers without copying. A large
 * search is split by row ranges across the workers and the partial top-k lists are merged; a small
 * one runs inline. A worker that crashes fails the searches it was running (ServiceInternal) and is
 * replaced. Create with SearchPool.start, release with close(); there is no shared default pool.
 */
export class SearchPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Part[] = [];
  private readonly segments = new Map<string, PreparedSegment>();
  private readonly log: Logger;
  private readonly size: number;
  private readonly inlineBelow: number;
  private readonly minPartWork: number;
  private readonly resourceLimits: ResourceLimits | undefined;
  private nextId = 1;
  private restarts = 0;
  private startupFailures = 0;
  private closed = false;
  private broken: StrataError | undefined;
  private readonly readyWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  private constructor(opts: SearchPoolOptions) {
    const size = opts.size ?? availableParallelism();
    if (!Number.isInteger(size) || size < 1) {
      throw new StrataError("ParameterInvalid", `search pool size must be a positive integer, got ${size}`);
    }
    this.size = size;
    this.inlineBelow = opts.inlineBelow ?? 1 << 20;
    this.minPartWork = Math.max(1, opts.minPartWork ?? 1 << 20);
    this.log = opts.logger ?? silentLogger();
    this.resourceLimits = opts.resourceLimits;
  }

  /** Starts the workers and waits until each has loaded; rejects if they cannot start. */
  static async start(opts: SearchPoolOptions = {}): Promise<SearchPool> {
    const pool = new SearchPool(opts);
    for (let i = 0; i < pool.size; i++) pool.spawn();
    try {
      await new Promise<void>((resolve, reject) => {
        pool.readyWaiters.push({ resolve, reject });
        pool.checkReady();
      });
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /**
   * Copies a segment's vectors into shared memory once; searches then name it by `key`. Throws
   * ParameterInvalid for a non-vector column or a key already registered.
   */
  register(key: string, vectors: Column): void {
    this.checkOpen();
    if (this.segments.has(key)) {
      throw new StrataError("ParameterInvalid", `segment ${JSON.stringify(key)} is already registered`);
    }
    this.segments.set(key, shareSegment(prepareSegment(vectors), true));
  }

  /**
   * Forgets a registered segment; its memory is freed once searches already running on it finish.
   * Returns false if the key was not registered.
   */
  unregister(key: string): boolean {
    return this.segments.delete(key);
  }

  has(key: string): boolean {
    return this.segments.has(key);
  }

  /**
   * Exact search, same contract as searchExact. Rejects with ParameterInvalid for a bad request,
   * SegmentNotFound for an unknown key, ServiceInternal if a worker crashed while running it,
   * Closed after close().
   */
  async search(req: PoolSearchRequest): Promise<SearchResult> {
    this.checkOpen();
    let seg: PreparedSegment;
    if (typeof req.segment === "string") {
      const found = this.segments.get(req.segment);
      if (found === undefined) {
        throw new StrataError("SegmentNotFound", `segment ${JSON.stringify(req.segment)} is not registered`);
      }
      seg = found;
    } else {
      seg = prepareSegment(req.segment);
    }
    const checked = checkSearch(seg, req);
    const allowed = checked.bitset === undefined ? seg.rows : countAllowed(checked.bitset);
    const work = allowed * rowCost(seg) * checked.queries.nq;
    if (work < this.inlineBelow || allowed === 0) return runChecked(seg, checked, 0, seg.rows);
    if (this.broken !== undefined) throw this.broken;

    const shared = typeof req.segment === "string" ? seg : shareSegment(seg, false);
    const search: CheckedSearch = {
      ...checked,
      queries: shareQueries(checked.queries),
      bitset: checked.bitset === undefined ? undefined : shareBytes(checked.bitset),
    };
    const nParts = Math.max(1, Math.min(this.slots.length, Math.floor(work / this.minPartWork)));
    const ranges = splitRows(seg.rows, nParts, search.bitset);
    return new Promise<SearchResult>((resolve, reject) => {
      const pending: Pending = {
        resolve,
        reject,
        parts: [],
        negate: largerIsBetter(search.metric),
        remaining: ranges.length,
        done: false,
      };
      for (const [r0, r1] of ranges) {
        this.queue.push({ pending, msg: { t: "search", id: this.nextId++, seg: shared, search, r0, r1 } });
      }
      this.pump();
    });
  }

  stats(): SearchPoolStats {
    return {
      workers: this.slots.length,
      busy: this.slots.filter((s) => s.part !== undefined).length,
      queuedParts: this.queue.length,
      registered: this.segments.size,
      restarts: this.restarts,
    };
  }

  /** Fault injection for tests: worker `index` crashes (uncaught exception) on its next search part. */
  debugCrashWorker(index: number): void {
    const slot = this.slots[index];
    if (slot === undefined) throw new StrataError("ParameterInvalid", `no worker ${index}`);
    const msg: ToWorker = { t: "crash-next" };
    slot.worker.postMessage(msg);
  }

  /** Stops the workers; queued and running searches reject with Closed. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new StrataError("Closed", "search pool is closed");
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
    for (const part of this.queue.splice(0)) fail(part.pending, err);
    const slots = this.slots.splice(0);
    for (const s of slots) if (s.part !== undefined) fail(s.part.pending, err);
    this.segments.clear();
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError("Closed", "search pool is closed");
  }

  private spawn(): void {
    const worker = new Worker(new URL("./search-worker.mjs", import.meta.url), {
      ...(this.resourceLimits === undefined ? {} : { resourceLimits: this.resourceLimits }),
    });
    // Idle workers do not keep the process alive; a worker with a part to run does.
    worker.unref();
    const slot: Slot = { worker, ready: false, part: undefined, lastError: undefined };
    this.slots.push(slot);
    worker.on("message", (m: FromWorker) => this.onMessage(slot, m));
    worker.on("error", (e) => {
      slot.lastError = e;
    });
    worker.on("exit", (code) => this.onExit(slot, code));
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    if (m.t === "ready") {
      slot.ready = true;
      this.startupFailures = 0;
      this.checkReady();
      return;
    }
    const part = slot.part;
    slot.part = undefined;
    slot.worker.unref();
    if (part !== undefined && part.msg.id === m.id) {
      const p = part.pending;
      if (m.t === "result") {
        p.parts.push({
          nq: part.msg.search.queries.nq,
          topk: part.msg.search.topk,
          offsets: m.offsets,
          scores: m.scores,
        });
        if (--p.remaining === 0 && !p.done) {
          p.done = true;
          p.resolve(mergeOffsetResults(p.parts, p.negate));
        }
      } else {
        fail(p, new StrataError(knownCode(m.code), `search worker: ${m.message}`));
      }
    }
    this.pump();
  }

  private onExit(slot: Slot, code: number): void {
    const i = this.slots.indexOf(slot);
    if (this.closed || i < 0) return;
    this.slots.splice(i, 1);
    const cause = slot.lastError?.message ?? `exit code ${code}`;
    this.log.error({ err: slot.lastError, code }, "search worker died");
    if (slot.part !== undefined) {
      fail(slot.part.pending, new StrataError("ServiceInternal", `search worker crashed: ${cause}`));
    }
    if (!slot.ready && ++this.startupFailures >= MAX_STARTUP_FAILURES) {
      this.broken = new StrataError("ServiceUnavailable", `search pool workers cannot start: ${cause}`);
      for (const part of this.queue.splice(0)) fail(part.pending, this.broken);
      for (const w of this.readyWaiters.splice(0)) w.reject(this.broken);
      return;
    }
    this.restarts++;
    this.spawn();
    this.pump();
  }

  private checkReady(): void {
    if (this.slots.length > 0 && this.slots.every((s) => s.ready)) {
      for (const w of this.readyWaiters.splice(0)) w.resolve();
    }
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.part !== undefined) continue;
      let part = this.queue.shift();
      // Parts of a search that already failed are dropped rather than run.
      while (part?.pending.done) part = this.queue.shift();
      if (part === undefined) return;
      slot.part = part;
      slot.worker.ref();
      slot.worker.postMessage(part.msg);
    }
  }
}

function fail(p: Pending, e: unknown): void {
  if (p.done) return;
  p.done = true;
  p.reject(e);
}

function knownCode(code: ErrorCode | undefined): ErrorCode {
  return code !== undefined && code in ERRORS ? code : "ServiceInternal";
}

function countAllowed(bitset: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bitset.length; i++) if (bitset[i] !== 0) n++;
  return n;
}

/** Splits [0, rows) into n ranges holding about the same number of allowed rows. */
export function splitRows(rows: number, n: number, bitset: Uint8Array | undefined): [number, number][] {
  const out: [number, number][] = [];
  if (bitset === undefined) {
    for (let i = 0; i < n; i++) {
      const a = Math.floor((rows * i) / n);
      const b = Math.floor((rows * (i + 1)) / n);
      if (b > a) out.push([a, b]);
    }
    return out;
  }
  const total = countAllowed(bitset);
  let start = 0;
  let seen = 0;
  let next = 1;
  for (let r = 0; r < rows && next < n; r++) {
    if (bitset[r] !== 0) seen++;
    if (seen >= Math.ceil((total * next) / n)) {
      out.push([start, r + 1]);
      start = r + 1;
      next++;
    }
  }
  if (start < rows) out.push([start, rows]);
  return out;
}

function shareBytes(a: Uint8Array): Uint8Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const out = new Uint8Array(sharedAlloc(a.length));
  out.set(a);
  return out;
}

function shareQueries(q: PreparedQueries): PreparedQueries {
  switch (q.kind) {
    case "float": {
      const data = new Float64Array(sharedAlloc(q.data.byteLength));
      data.set(q.data);
      return { ...q, data };
    }
    case "binary": {
      const words = new Uint32Array(sharedAlloc(q.words.byteLength));
      words.set(q.words);
      return { ...q, words };
    }
    case "sparse":
      return q;
  }
}

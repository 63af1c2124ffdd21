import type { MetaKv } from "../kv/types.ts";
import { StrataError } from "./errors.ts";
import { type Logger, silentLogger } from "./log.ts";
import { Mutex } from "./mutex.ts";

export interface IdAllocatorOptions {
  readonly kv: MetaKv;
  /** Meta-store key that holds the end of the reserved window. */
  readonly key: string;
  /** IDs reserved per meta-store write (default 100,000). */
  readonly windowSize?: number;
  readonly logger?: Logger;
}

/** A half-open range [start, end) of fresh IDs. */
export interface IdRange {
  readonly start: bigint;
  readonly end: bigint;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
/** IDs are int64 on the wire; 0 means "none", so the first ID is 1. */
const MAX_ID = (1n << 63n) - 1n;

/**
 * The global ID allocator (row IDs, segment IDs, log IDs, collection IDs…). IDs are unique for
 * the life of the meta store: a window of IDs is durably reserved before any ID in it is handed
 * out, and a restarted allocator starts after the last reserved window, so IDs lost in a crash
 * are skipped, never reused. Window updates are compare-and-swap, so two allocators on one key
 * cannot hand out the same IDs.
 */
export class IdAllocator {
  readonly #kv: MetaKv;
  readonly #key: string;
  readonly #window: bigint;
  readonly #log: Logger;
  readonly #mutex = new Mutex();
  #next = 1n;
  #reservedEnd = 1n;
  #modRevision = 0;
  #closed = false;

  private constructor(opts: IdAllocatorOptions) {
    this.#kv = opts.kv;
    this.#key = opts.key;
    this.#window = BigInt(opts.windowSize ?? 100_000);
    this.#log = opts.logger ?? silentLogger();
  }

  static async open(opts: IdAllocatorOptions): Promise<IdAllocator> {
    const a = new IdAllocator(opts);
    const saved = await opts.kv.get(opts.key);
    if (saved !== undefined) {
      const text = dec.decode(saved.value);
      if (!/^\d+$/.test(text))
        throw new StrataError("Corrupted", `ID allocator key ${opts.key} holds a bad value`);
      a.#next = BigInt(text);
      a.#reservedEnd = a.#next;
      a.#modRevision = saved.modRevision;
    }
    a.#log.info({ key: opts.key, next: a.#next.toString() }, "id allocator started");
    return a;
  }

  /**
   * Reserves `count` fresh IDs. Ranges from successive calls never overlap and increase.
   * @throws StrataError ParameterInvalid for a bad count, Closed after close().
   */
  allocate(count: number): Promise<IdRange> {
    if (!Number.isSafeInteger(count) || count < 1) {
      return Promise.reject(
        new StrataError("ParameterInvalid", `ID count must be a positive integer, got ${count}`),
      );
    }
    const n = BigInt(count);
    return this.#mutex.run(async () => {
      if (this.#closed) throw new StrataError("Closed", "ID allocator is closed");
      if (this.#next + n > this.#reservedEnd) {
        const end = this.#next + n + this.#window;
        if (end > MAX_ID) throw new StrataError("ServiceInternal", "ID space exhausted");
        const res = await this.#kv.txn({
          compare: [{ key: this.#key, target: "modRevision", op: "==", value: this.#modRevision }],
          success: [
            { type: "put", key: this.#key, value: enc.encode(end.toString()) },
            { type: "get", key: this.#key },
          ],
        });
        if (!res.succeeded) {
          this.#closed = true;
          throw new StrataError(
            "ServiceInternal",
            `ID allocator key ${this.#key} was changed by another allocator`,
          );
        }
        this.#modRevision = res.gets[0]?.modRevision ?? res.revision;
        this.#reservedEnd = end;
      }
      const start = this.#next;
      this.#next += n;
      return { start, end: this.#next };
    });
  }

  /** One fresh ID. */
  async allocateOne(): Promise<bigint> {
    return (await this.allocate(1)).start;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    await this.#mutex.run(() => {
      this.#closed = true;
    });
  }
}

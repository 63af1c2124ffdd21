import type { MetaKv } from "../kv/types.ts";
import { StrataError } from "./errors.ts";
import { type Logger, silentLogger } from "./log.ts";
import { Mutex } from "./mutex.ts";
import { composeTs, MAX_LOGICAL, type Timestamp } from "./timestamp.ts";

export interface TimestampOracleOptions {
  readonly kv: MetaKv;
  /** Meta-store key that holds the persisted window end. */
  readonly key: string;
  /** How far ahead of issued timestamps the window is persisted, in ms (default 3000). */
  readonly saveIntervalMs?: number;
  /** Wall clock in ms; injectable so tests can move it backwards. */
  readonly now?: () => number;
  readonly logger?: Logger;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The timestamp oracle (TSO). Issues hybrid timestamps that strictly increase for the life of
 * the data directory, across restarts and crashes and whatever the wall clock does: every issued
 * timestamp has a physical part below a window end that was durably saved in the meta store
 * before the timestamp was issued, and a restarted oracle starts at or above that saved end.
 *
 * Window updates are compare-and-swap on the key's revision, so a second oracle on the same key
 * (e.g. a deposed leader) fails with ServiceInternal instead of issuing overlapping timestamps.
 */
export class TimestampOracle {
  readonly #kv: MetaKv;
  readonly #key: string;
  readonly #interval: number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #mutex = new Mutex();
  #physical = 0;
  #logical = 0;
  #windowEnd = 0;
  #modRevision = 0;
  #closed = false;

  private constructor(opts: TimestampOracleOptions) {
    this.#kv = opts.kv;
    this.#key = opts.key;
    this.#interval = opts.saveIntervalMs ?? 3000;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.logger ?? silentLogger();
  }

  static async open(opts: TimestampOracleOptions): Promise<TimestampOracle> {
    const tso = new TimestampOracle(opts);
    const saved = await opts.kv.get(opts.key);
    let savedEnd = 0;
    if (saved !== undefined) {
      savedEnd = Number(dec.decode(saved.value));
      if (!Number.isSafeInteger(savedEnd) || savedEnd < 0) {
        throw new StrataError("Corrupted", `timestamp oracle key ${opts.key} holds a bad value`);
      }
      tso.#modRevision = saved.modRevision;
    }
    // Anything issued before had physical < savedEnd, so savedEnd at logical 0 is already newer.
    tso.#physical = Math.max(tso.#now(), savedEnd);
    tso.#logical = 0;
    await tso.#saveWindow(tso.#physical + tso.#interval);
    tso.#log.info({ key: opts.key, savedEnd, start: tso.#physical }, "timestamp oracle started");
    return tso;
  }

  async #saveWindow(end: number): Promise<void> {
    const res = await this.#kv.txn({
      compare: [{ key: this.#key, target: "modRevision", op: "==", value: this.#modRevision }],
      success: [
        { type: "put", key: this.#key, value: enc.encode(String(end)) },
        { type: "get", key: this.#key },
      ],
    });
    if (!res.succeeded) {
      this.#closed = true;
      throw new StrataError(
        "ServiceInternal",
        `timestamp oracle key ${this.#key} was changed by another oracle`,
      );
    }
    this.#modRevision = res.gets[0]?.modRevision ?? res.revision;
    this.#windowEnd = end;
  }

  /**
   * Reserves `count` consecutive timestamps (same physical part) and returns the first. Every
   * call returns a value greater than every value returned before, by this or any earlier
   * oracle on the same key.
   * @throws StrataError ParameterInvalid for a bad count, Closed after close().
   */
  allocate(count = 1): Promise<Timestamp> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_LOGICAL + 1) {
      return Promise.reject(
        new StrataError(
          "ParameterInvalid",
          `timestamp count must be in [1, ${MAX_LOGICAL + 1}], got ${count}`,
        ),
      );
    }
    return this.#mutex.run(async () => {
      if (this.#closed) throw new StrataError("Closed", "timestamp oracle is closed");
      const now = this.#now();
      if (now > this.#physical) {
        this.#physical = now;
        this.#logical = 0;
      }
      if (this.#logical + count > MAX_LOGICAL + 1) {
        // Logical space for this millisecond is used up: run ahead of the wall clock by 1 ms.
        this.#physical += 1;
        this.#logical = 0;
      }
      if (this.#physical + this.#interval / 2 >= this.#windowEnd) {
        await this.#saveWindow(this.#physical + this.#interval);
      }
      const ts = composeTs(this.#physical, this.#logical);
      this.#logical += count;
      return ts;
    });
  }

  /** Stops issuing. Idempotent; the saved window stays, so the next oracle starts above it. */
  async close(): Promise<void> {
    await this.#mutex.run(() => {
      this.#closed = true;
    });
  }
}

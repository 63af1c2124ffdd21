import type { ExprPlan } from "../expr/index.ts";
import { countPassing } from "../index/index.ts";

/** A filter's result over one sealed segment: one byte per row (read-only) and how many pass. */
export interface FilterBits {
  readonly bits: Uint8Array;
  readonly passing: number;
}

/** Plans with a longer canonical form (long `in` lists, id lookups) are evaluated, never kept. */
const MAX_KEY_CHARS = 4096;

/**
 * A canonical text of a plan: equal texts mean equal results over the same rows. Bigints and the
 * numbers JSON cannot spell (NaN, ±Infinity, −0) get tagged forms so they never collide with
 * strings or with each other. Undefined when the plan is too long to be worth keeping.
 */
export function planKey(plan: ExprPlan): string | undefined {
  const text = JSON.stringify(plan.root, (_k, v: unknown) => {
    if (typeof v === "bigint") return { $big: v.toString() };
    if (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))) {
      return { $num: Object.is(v, -0) ? "-0" : String(v) };
    }
    return v;
  });
  return text.length <= MAX_KEY_CHARS ? text : undefined;
}

interface Entry extends FilterBits {
  readonly segmentId: bigint;
  readonly bytes: number;
}

/**
 * Filter results of sealed segments, for filters that repeat (a tenant, a category): a sealed
 * segment's scalar columns never change, so its filter bitset depends only on the plan and can be
 * reused by every later read, whatever its timestamp (visibility and deletes are applied on top by
 * the caller, per read). A segment ID names the same rows in the same order wherever and whenever
 * it is loaded, so an entry stays right even across a release and reload. Least recently used
 * entries go first once `maxBytes` is reached; 0 keeps nothing.
 */
export class FilterCache {
  readonly #maxBytes: number;
  /** Insertion order = recency order (a hit re-inserts). */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** False for a zero budget: nothing is ever kept, so callers need not key their plans. */
  get keeps(): boolean {
    return this.#maxBytes > 0;
  }

  /**
   * The filter's bitset over a sealed segment of `rows` rows, from the cache or from `compute`
   * (called at most once, then kept when it fits). `key` undefined: computed and not kept. The
   * returned bits are shared: callers must not modify them.
   */
  get(segmentId: bigint, rows: number, key: string | undefined, compute: () => Uint8Array): FilterBits {
    if (key === undefined || !this.keeps) {
      const bits = compute();
      return { bits, passing: countPassing(bits) };
    }
    const k = `${segmentId}/${key}`;
    const hit = this.#entries.get(k);
    if (hit !== undefined && hit.bits.length === rows) {
      this.#hits++;
      this.#entries.delete(k);
      this.#entries.set(k, hit);
      return hit;
    }
    this.#misses++;
    const bits = compute();
    const entry: Entry = { segmentId, bits, passing: countPassing(bits), bytes: bits.length + 2 * k.length };
    if (hit !== undefined) this.#remove(k, hit);
    if (entry.bytes <= this.#maxBytes / 4) {
      this.#entries.set(k, entry);
      this.#bytes += entry.bytes;
      for (const [oldKey, old] of this.#entries) {
        if (this.#bytes <= this.#maxBytes) break;
        this.#remove(oldKey, old);
      }
    }
    return entry;
  }

  /** Drops a released segment's entries (they would stay right, but hold memory for nothing). */
  forget(segmentId: bigint): void {
    for (const [k, e] of this.#entries) if (e.segmentId === segmentId) this.#remove(k, e);
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  stats(): { entries: number; bytes: number; hits: number; misses: number } {
    return { entries: this.#entries.size, bytes: this.#bytes, hits: this.#hits, misses: this.#misses };
  }

  #remove(k: string, e: Entry): void {
    this.#entries.delete(k);
    this.#bytes -= e.bytes;
  }
}

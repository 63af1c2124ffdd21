/**
 * The in-memory state of the embedded store: keys in byte order, their etcd-style metadata and
 * the lease table. Both the live write path and WAL replay mutate it through the same methods,
 * so a replayed store is exactly the store that wrote the log.
 */
import { StrataError } from "../../common/errors.ts";
import type { WatchEvent } from "../types.ts";
import { compareKeys } from "../validate.ts";

/** Immutable: a write replaces the entry, so snapshots can share entries with the live map. */
export interface Entry {
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: string | undefined;
}

export interface LeaseState {
  readonly ttl: number;
  /** performance.now() deadline; not persisted (a reopened store grants a fresh full TTL). */
  expiresAt: number;
  readonly keys: Set<string>;
}

const EMPTY = new Uint8Array(0);

/** etcd starts an empty store at revision 1; the first write is revision 2. */
export const INITIAL_REVISION = 1;

export class KvState {
  readonly map = new Map<string, Entry>();
  /** Every key of `map`, sorted by compareKeys. */
  sorted: string[] = [];
  revision = INITIAL_REVISION;
  readonly leases = new Map<string, LeaseState>();
  nextLeaseId = 1;

  /** Index of the first key >= `key`. */
  lowerBound(key: string): number {
    const s = this.sorted;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(s[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Bounds [from, to) in `sorted` of the keys starting with `prefix`. */
  prefixRange(prefix: string): { from: number; to: number } {
    if (prefix === "") return { from: 0, to: this.sorted.length };
    const from = this.lowerBound(prefix);
    let to = from;
    const s = this.sorted;
    while (to < s.length && s[to]!.startsWith(prefix)) to++;
    return { from, to };
  }

  put(rev: number, key: string, value: Uint8Array, lease: string | undefined): WatchEvent {
    const old = this.map.get(key);
    if (old === undefined) {
      this.map.set(key, { value, createRevision: rev, modRevision: rev, version: 1, lease });
      const at = this.lowerBound(key);
      this.sorted.splice(at, 0, key);
    } else {
      this.map.set(key, {
        value,
        createRevision: old.createRevision,
        modRevision: rev,
        version: old.version + 1,
        lease,
      });
      if (old.lease !== undefined && old.lease !== lease) this.leases.get(old.lease)?.keys.delete(key);
    }
    if (lease !== undefined) {
      const l = this.leases.get(lease);
      if (l === undefined) throw new StrataError("Corrupted", `put of ${key} names unknown lease ${lease}`);
      l.keys.add(key);
    }
    return { type: "put", key, value, modRevision: rev };
  }

  /** Deletes one key; undefined when it did not exist. */
  del(rev: number, key: string): WatchEvent | undefined {
    const old = this.map.get(key);
    if (old === undefined) return undefined;
    this.map.delete(key);
    const at = this.lowerBound(key);
    this.sorted.splice(at, 1);
    if (old.lease !== undefined) this.leases.get(old.lease)?.keys.delete(key);
    return { type: "delete", key, value: EMPTY, modRevision: rev };
  }

  /**
   * Deletes keys known to exist (replay, lease expiry). Many deletions rebuild the sorted index in
   * one pass instead of one splice each.
   */
  delMany(rev: number, keys: readonly string[], out: WatchEvent[]): boolean {
    if (keys.length < 32) {
      for (const key of keys) {
        const ev = this.del(rev, key);
        if (ev === undefined) return false;
        out.push(ev);
      }
      return true;
    }
    for (const key of keys) {
      const old = this.map.get(key);
      if (old === undefined) return false;
      this.map.delete(key);
      if (old.lease !== undefined) this.leases.get(old.lease)?.keys.delete(key);
      out.push({ type: "delete", key, value: EMPTY, modRevision: rev });
    }
    this.sorted = this.sorted.filter((k) => this.map.has(k));
    return true;
  }

  /** Deletes every key with the prefix in one splice; returns the events in key order. */
  delPrefix(rev: number, prefix: string, out: WatchEvent[]): string[] {
    const { from, to } = this.prefixRange(prefix);
    if (from === to) return [];
    const keys = this.sorted.splice(from, to - from);
    for (const key of keys) {
      const old = this.map.get(key)!;
      this.map.delete(key);
      if (old.lease !== undefined) this.leases.get(old.lease)?.keys.delete(key);
      out.push({ type: "delete", key, value: EMPTY, modRevision: rev });
    }
    return keys;
  }

  grant(id: string, ttl: number, now: number): void {
    this.leases.set(id, { ttl, expiresAt: now + ttl * 1000, keys: new Set() });
    const n = Number(id);
    if (n >= this.nextLeaseId) this.nextLeaseId = n + 1;
  }

  dropLease(id: string): void {
    this.leases.delete(id);
  }
}

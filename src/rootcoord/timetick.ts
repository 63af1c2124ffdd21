import type { Timestamp } from "../common/timestamp.ts";
import type { ProxyTimeTickReport } from "./types.ts";

interface ProxyState {
  defaultTs: Timestamp;
  ticks: Map<string, Timestamp>;
  lastReportMs: number;
}

/**
 * Merges proxies' time-tick reports: a channel's tick is the minimum, over live proxies, of what
 * each has fully published to it. Pure bookkeeping; the root coordinator writes the result.
 */
export class TimeTickMerger {
  readonly #proxies = new Map<number, ProxyState>();

  register(proxyId: number, nowMs: number): void {
    if (!this.#proxies.has(proxyId)) {
      // Until its first report, a new proxy holds every channel back at 0.
      this.#proxies.set(proxyId, { defaultTs: 0n, ticks: new Map(), lastReportMs: nowMs });
    }
  }

  unregister(proxyId: number): void {
    this.#proxies.delete(proxyId);
  }

  get size(): number {
    return this.#proxies.size;
  }

  /** Reports only move forward; a stale (lower) value is ignored. Unknown proxies are registered. */
  report(r: ProxyTimeTickReport, nowMs: number): void {
    this.register(r.proxyId, nowMs);
    const p = this.#proxies.get(r.proxyId) as ProxyState;
    p.lastReportMs = nowMs;
    if (r.defaultTimestamp > p.defaultTs) p.defaultTs = r.defaultTimestamp;
    const listed = new Set<string>();
    for (const t of r.ticks) {
      listed.add(t.channel);
      p.ticks.set(t.channel, t.timestamp);
    }
    // Channels no longer in flight fall back to the default.
    for (const ch of [...p.ticks.keys()]) if (!listed.has(ch)) p.ticks.delete(ch);
  }

  /** Drops proxies silent for longer than `timeoutMs`; returns their IDs. */
  expire(nowMs: number, timeoutMs: number): number[] {
    const gone: number[] = [];
    for (const [id, p] of this.#proxies) {
      if (nowMs - p.lastReportMs > timeoutMs) {
        this.#proxies.delete(id);
        gone.push(id);
      }
    }
    return gone;
  }

  /** The mergeable tick for `channel`, or undefined when no proxy is registered. */
  tickFor(channel: string): Timestamp | undefined {
    let min: Timestamp | undefined;
    for (const p of this.#proxies.values()) {
      const t = p.ticks.get(channel) ?? p.defaultTs;
      if (min === undefined || t < min) min = t;
    }
    return min;
  }
}

import { Mutex } from "../common/mutex.ts";
import type { Timestamp } from "../common/timestamp.ts";
import type { ProxyTimeTickReport } from "../rootcoord/types.ts";

/**
 * Tracks batches being published, per channel, so the proxy never reports a time tick at or
 * above a batch that is not yet durable. Stamping a batch and taking a report's fresh timestamp
 * happen under one lock: a batch stamped after a report always gets a larger timestamp than
 * the report's default (docs/write-path.md, "Time ticks").
 */
export class InflightTracker {
  readonly #lock = new Mutex();
  readonly #inflight = new Map<string, Map<Timestamp, number>>();

  /** Allocates the batch's timestamp and marks it in flight on `channels`. */
  stamp(channels: readonly string[], allocate: () => Promise<Timestamp>): Promise<Timestamp> {
    return this.#lock.run(async () => {
      const ts = await allocate();
      for (const ch of channels) {
        let m = this.#inflight.get(ch);
        if (m === undefined) {
          m = new Map();
          this.#inflight.set(ch, m);
        }
        m.set(ts, (m.get(ts) ?? 0) + 1);
      }
      return ts;
    });
  }

  /** The batch is durable (or failed): it no longer holds ticks back. */
  release(ts: Timestamp, channels: readonly string[]): void {
    for (const ch of channels) {
      const m = this.#inflight.get(ch);
      if (m === undefined) continue;
      const n = (m.get(ts) ?? 1) - 1;
      if (n <= 0) m.delete(ts);
      else m.set(ts, n);
      if (m.size === 0) this.#inflight.delete(ch);
    }
  }

  report(proxyId: number, allocate: () => Promise<Timestamp>): Promise<ProxyTimeTickReport> {
    return this.#lock.run(async () => {
      const defaultTimestamp = await allocate();
      const ticks = [];
      for (const [channel, m] of this.#inflight) {
        let min: Timestamp | undefined;
        for (const ts of m.keys()) if (min === undefined || ts < min) min = ts;
        if (min !== undefined) ticks.push({ channel, timestamp: min - 1n });
      }
      return { proxyId, ticks, defaultTimestamp };
    });
  }
}

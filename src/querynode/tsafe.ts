import { StrataError } from "../common/errors.ts";
import { physicalOf, type Timestamp } from "../common/timestamp.ts";

interface Waiter {
  readonly channels: readonly string[];
  readonly ts: Timestamp;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

function describeTs(ts: Timestamp): string {
  return ts === 0n ? "0 (no tick yet)" : `${ts} (${new Date(physicalOf(ts)).toISOString()})`;
}

/**
 * tSafe per watched channel: the timestamp of the last time tick whose pack was fully applied.
 * Only moves forward. Requests wait here until every channel of their scope has passed their
 * guarantee timestamp.
 */
export class TSafe {
  private readonly values = new Map<string, Timestamp>();
  private readonly waiters = new Set<Waiter>();

  has(channel: string): boolean {
    return this.values.has(channel);
  }

  get(channel: string): Timestamp {
    return this.values.get(channel) ?? 0n;
  }

  /** Starts tracking a channel at 0. */
  add(channel: string): void {
    if (!this.values.has(channel)) this.values.set(channel, 0n);
  }

  /** Advances a channel and wakes the requests now satisfied. */
  advance(channel: string, ts: Timestamp): void {
    const cur = this.values.get(channel);
    if (cur === undefined || ts <= cur) return;
    this.values.set(channel, ts);
    for (const w of this.waiters) {
      if (w.channels.includes(channel) && this.satisfied(w.channels, w.ts)) this.settle(w);
    }
  }

  /** Stops tracking a channel; requests waiting on it fail with `reason`. */
  remove(channel: string, reason: StrataError): void {
    this.values.delete(channel);
    for (const w of this.waiters) {
      if (w.channels.includes(channel)) this.settle(w, reason);
    }
  }

  /** Fails every waiting request (node closing). */
  failAll(reason: StrataError): void {
    for (const w of this.waiters) this.settle(w, reason);
  }

  /**
   * Resolves once every channel has tSafe ≥ `ts` (at once when `ts` is 0 or already passed).
   * @throws StrataError Timeout after `timeoutMs`, naming the lagging channel.
   */
  wait(channels: readonly string[], ts: Timestamp, timeoutMs: number): Promise<void> {
    if (ts === 0n || this.satisfied(channels, ts)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const lagging = channels.filter((c) => this.get(c) < ts);
        const detail = lagging.map((c) => `${c} at ${describeTs(this.get(c))}`).join(", ");
        this.settle(
          w,
          new StrataError(
            "Timeout",
            `tSafe did not reach the guarantee timestamp ${describeTs(ts)} within ${timeoutMs} ms: ${detail}`,
          ),
        );
      }, timeoutMs);
      const w: Waiter = { channels, ts, resolve, reject, timer };
      this.waiters.add(w);
    });
  }

  private satisfied(channels: readonly string[], ts: Timestamp): boolean {
    for (const c of channels) if (this.get(c) < ts) return false;
    return true;
  }

  private settle(w: Waiter, error?: StrataError): void {
    if (!this.waiters.delete(w)) return;
    clearTimeout(w.timer);
    if (error === undefined) w.resolve();
    else w.reject(error);
  }
}

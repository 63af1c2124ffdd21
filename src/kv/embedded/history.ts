/**
 * The bounded in-memory event history behind watch resume. Events are appended in revision order
 * and trimmed from the front a whole revision at a time, so `start` is always the lowest revision
 * whose events are all still held.
 */
import type { WatchEvent } from "../types.ts";

/** Rough heap cost of one event beyond its key and value. */
const EVENT_OVERHEAD = 64;

export class EventHistory {
  private events: WatchEvent[] = [];
  private head = 0;
  private bytes = 0;
  /** Every event with modRevision >= start is held. */
  start: number;

  constructor(
    start: number,
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {
    this.start = start;
  }

  append(evs: readonly WatchEvent[]): void {
    for (const e of evs) {
      this.events.push(e);
      this.bytes += e.key.length * 2 + e.value.byteLength + EVENT_OVERHEAD;
    }
  }

  /** Index of the first held event with modRevision >= rev. */
  private lowerBound(rev: number): number {
    let lo = this.head;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.modRevision < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Held events with from <= modRevision <= to whose key starts with `prefix`. */
  collect(from: number, to: number, prefix: string): WatchEvent[] {
    const out: WatchEvent[] = [];
    const evs = this.events;
    for (let i = this.lowerBound(from); i < evs.length; i++) {
      const e = evs[i]!;
      if (e.modRevision > to) break;
      if (e.key.startsWith(prefix)) out.push(e);
    }
    return out;
  }

  /**
   * Drops the oldest revisions while over the bounds, never touching revision `keepFrom` or
   * later (events some watcher has not been handed yet).
   */
  trim(keepFrom: number): void {
    const evs = this.events;
    while (
      this.head < evs.length &&
      (evs.length - this.head > this.maxEvents || this.bytes > this.maxBytes)
    ) {
      const rev = evs[this.head]!.modRevision;
      if (rev >= keepFrom) break;
      while (this.head < evs.length && evs[this.head]!.modRevision === rev) {
        const e = evs[this.head]!;
        this.bytes -= e.key.length * 2 + e.value.byteLength + EVENT_OVERHEAD;
        this.head++;
      }
      this.start = rev + 1;
    }
    // Reclaim the dropped prefix now and then rather than shifting on every trim.
    if (this.head > 1024 && this.head * 2 > evs.length) {
      this.events = evs.slice(this.head);
      this.head = 0;
    }
  }
}

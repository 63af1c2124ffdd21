import type { Timestamp } from "../common/timestamp.ts";
import type { DataService } from "../dataservice/types.ts";

interface CachedAssignment {
  readonly segId: bigint;
  readonly expireTime: Timestamp;
  remaining: number;
}

export interface SegmentSlice {
  readonly segId: bigint;
  readonly count: number;
}

/**
 * Caches segment assignments per (channel, partition) and hands rows out of them. An assignment
 * is used only for a batch whose timestamp is ≤ its expireTime: after that the dataservice may
 * flush the segment, so rows written under it would be late.
 */
export class SegmentAssigner {
  readonly #ds: DataService;
  readonly #requestRows: number;
  readonly #cache = new Map<string, CachedAssignment[]>();

  constructor(ds: DataService, requestRows = 20_000) {
    this.#ds = ds;
    this.#requestRows = requestRows;
  }

  #take(list: CachedAssignment[], ts: Timestamp, count: number, out: SegmentSlice[]): number {
    let need = count;
    for (const a of list) {
      if (need === 0) break;
      if (a.expireTime < ts || a.remaining === 0) continue;
      const n = Math.min(a.remaining, need);
      a.remaining -= n;
      need -= n;
      const last = out.at(-1);
      if (last !== undefined && last.segId === a.segId)
        out[out.length - 1] = { segId: a.segId, count: last.count + n };
      else out.push({ segId: a.segId, count: n });
    }
    return need;
  }

  /** Splits `count` rows over segments; the slices are in order and sum to `count`. */
  async assign(
    collectionId: bigint,
    partitionId: bigint,
    channel: string,
    count: number,
    ts: Timestamp,
  ): Promise<SegmentSlice[]> {
    const key = `${channel}/${partitionId}`;
    let list = this.#cache.get(key) ?? [];
    list = list.filter((a) => a.remaining > 0 && a.expireTime >= ts);
    this.#cache.set(key, list);
    const out: SegmentSlice[] = [];
    let need = this.#take(list, ts, count, out);
    while (need > 0) {
      const res = await this.#ds.assignSegmentID({
        perChannelRequest: [
          { count: Math.max(need, this.#requestRows), channelName: channel, collectionId, partitionId },
        ],
      });
      const fresh = res.perChannelResponse.map((a) => ({
        segId: a.segId,
        expireTime: a.expireTime,
        remaining: a.count,
      }));
      const current = this.#cache.get(key) ?? [];
      current.push(...fresh);
      this.#cache.set(key, current);
      need = this.#take(fresh, ts, need, out);
      if (need > 0 && fresh.every((a) => a.expireTime < ts)) {
        // Cannot happen with a sane clock (assignments expire in the future); avoid a hot loop.
        throw new Error(`segment assignments for ${channel} expire before batch timestamp ${ts}`);
      }
    }
    return out;
  }

  /** Forgets assignments of a dropped collection's channels. */
  forgetChannels(channels: readonly string[]): void {
    for (const key of [...this.#cache.keys()]) {
      if (channels.some((c) => key.startsWith(`${c}/`))) this.#cache.delete(key);
    }
  }
}

/** What the proxy routes by (`getDistribution`) and waiting for a load to finish (`waitLoaded`). */
import { StrataError } from "../common/errors.ts";
import type { LoadedCollection } from "./collections.ts";
import { type Distribution, PartitionState } from "./types.ts";

const byBigint = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

export function stateName(s: PartitionState): string {
  for (const [k, v] of Object.entries(PartitionState)) if (v === s) return k;
  return String(s);
}

/**
 * The IN_MEMORY partitions with the channels and sealed segments their nodes have. A partition
 * still loading is left out (like a partition that is not loaded); one that was IN_MEMORY and lost
 * a node makes the whole collection unavailable until it is back, so no read silently misses data.
 * @throws StrataError CollectionNotLoaded (not loaded, or nothing IN_MEMORY yet), ServiceUnavailable.
 */
export function distributionOf(coll: LoadedCollection | undefined, collectionId: bigint): Distribution {
  if (coll === undefined) {
    throw new StrataError("CollectionNotLoaded", `collection ${collectionId} is not loaded`);
  }
  const parts = [...coll.partitions.values()];
  const recovering = parts.filter((p) => p.everInMemory && p.state !== PartitionState.IN_MEMORY);
  if (recovering.length > 0) {
    throw new StrataError(
      "ServiceUnavailable",
      `collection ${collectionId} is recovering from a query node failure (partitions ${recovering
        .map((p) => p.partitionId)
        .join(", ")}); retry shortly`,
    );
  }
  const inMemory = new Set(
    parts.filter((p) => p.state === PartitionState.IN_MEMORY).map((p) => p.partitionId),
  );
  if (inMemory.size === 0) {
    throw new StrataError(
      "CollectionNotLoaded",
      `collection ${collectionId} is still loading (${parts
        .map((p) => `${p.partitionId}: ${stateName(p.state)}`)
        .join(", ")})`,
    );
  }
  const channels = [...coll.channels.values()]
    .flatMap((c) => (c.ready && c.nodeId !== null ? [{ channel: c.channel, nodeId: c.nodeId }] : []))
    .sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
  const sealed = [...coll.segments.values()]
    .flatMap((s) =>
      s.ready && s.nodeId !== null && inMemory.has(s.partitionId)
        ? [{ segmentId: s.segmentId, partitionId: s.partitionId, nodeId: s.nodeId }]
        : [],
    )
    .sort((a, b) => byBigint(a.segmentId, b.segmentId));
  return { collectionId, partitionIds: [...inMemory].sort(byBigint), channels, sealed };
}

interface Waiter {
  readonly collectionId: bigint;
  readonly settle: (err?: StrataError) => void;
}

/** Callers of `waitLoaded`, woken whenever states change. */
export class LoadWaiters {
  readonly #lookup: (collectionId: bigint) => LoadedCollection | undefined;
  readonly #waiters = new Set<Waiter>();

  constructor(lookup: (collectionId: bigint) => LoadedCollection | undefined) {
    this.#lookup = lookup;
  }

  /** true: every loaded partition is IN_MEMORY; an error: it never will be (not loaded); false: wait. */
  #check(collectionId: bigint): boolean | StrataError {
    const c = this.#lookup(collectionId);
    if (c === undefined)
      return new StrataError("CollectionNotLoaded", `collection ${collectionId} is not loaded`);
    for (const p of c.partitions.values()) if (p.state !== PartitionState.IN_MEMORY) return false;
    return true;
  }

  wait(collectionId: bigint, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const now = this.#check(collectionId);
      if (now === true) return resolve();
      if (now instanceof StrataError) return reject(now);
      const timer = setTimeout(() => {
        const c = this.#lookup(collectionId);
        const states =
          c === undefined ? "released" : [...c.partitions.values()].map((p) => stateName(p.state)).join(", ");
        w.settle(
          new StrataError(
            "Timeout",
            `collection ${collectionId} not loaded after ${timeoutMs} ms (${states})`,
          ),
        );
      }, timeoutMs);
      const w: Waiter = {
        collectionId,
        settle: (err) => {
          clearTimeout(timer);
          this.#waiters.delete(w);
          if (err === undefined) resolve();
          else reject(err);
        },
      };
      this.#waiters.add(w);
    });
  }

  notify(): void {
    for (const w of [...this.#waiters]) {
      const r = this.#check(w.collectionId);
      if (r === true) w.settle();
      else if (r instanceof StrataError) w.settle(r);
    }
  }

  failAll(err: StrataError): void {
    for (const w of [...this.#waiters]) w.settle(err);
  }
}

import type { Logger } from "../common/log.ts";
import type { DataNode } from "../datanode/types.ts";

export interface WatchDeliveryDeps {
  /** Current channel → owner pairs whose owner is live. */
  readonly assigned: () => Iterable<{ readonly channel: string; readonly nodeId: number }>;
  /** The owner now, to discard a confirmation that arrives after the channel moved. */
  readonly ownerOf: (channel: string) => number | null | undefined;
  readonly resolve: (nodeId: number) => DataNode | undefined;
  readonly onError: (nodeId: number, e: unknown) => void;
  readonly running: () => boolean;
  readonly spawn: (p: Promise<unknown>) => void;
  readonly log: Logger;
}

/**
 * Delivers `watchDmChannels` to channel owners until each confirmed, outside the meta lock (the
 * node may call back into the dataservice). Level-triggered: every pass sends what is assigned
 * and not yet confirmed, so a failed call is simply sent again on the next pass.
 */
export class WatchDelivery {
  readonly #d: WatchDeliveryDeps;
  /** Channel → node that confirmed watching it (since this instance started). */
  readonly #confirmed = new Map<string, number>();
  readonly #inFlight = new Set<string>();
  #scheduled = false;
  #running = false;
  #again = false;

  constructor(deps: WatchDeliveryDeps) {
    this.#d = deps;
  }

  /** The channel moved or its owner restarted: it must be sent again. */
  forget(channel: string): void {
    this.#confirmed.delete(channel);
  }

  /** Runs a pass soon (coalesced). */
  schedule(): void {
    if (this.#scheduled || !this.#d.running()) return;
    this.#scheduled = true;
    const t = setTimeout(() => {
      this.#scheduled = false;
      this.#d.spawn(this.#pass());
    }, 0);
    t.unref();
  }

  async #pass(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        const byNode = new Map<number, string[]>();
        for (const { channel, nodeId } of this.#d.assigned()) {
          if (this.#confirmed.get(channel) === nodeId || this.#inFlight.has(channel)) continue;
          const list = byNode.get(nodeId) ?? [];
          list.push(channel);
          byNode.set(nodeId, list);
        }
        const calls: Promise<void>[] = [];
        for (const [nodeId, list] of byNode) {
          const node = this.#d.resolve(nodeId);
          if (node === undefined) continue;
          for (const ch of list) this.#inFlight.add(ch);
          calls.push(
            node.watchDmChannels(list).then(
              () => {
                for (const ch of list) {
                  this.#inFlight.delete(ch);
                  if (this.#d.ownerOf(ch) === nodeId) this.#confirmed.set(ch, nodeId);
                }
                this.#d.log.info({ nodeId, channels: list }, "data node watches channels");
              },
              (e: unknown) => {
                for (const ch of list) this.#inFlight.delete(ch);
                this.#d.onError(nodeId, e);
              },
            ),
          );
        }
        await Promise.all(calls);
      } while (this.#again && this.#d.running());
    } finally {
      this.#running = false;
    }
  }
}

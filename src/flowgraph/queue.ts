import { StrataError } from "../common/errors.ts";

/**
 * A FIFO of at most `capacity` items between one producer and one consumer. `put` waits while the
 * queue is full, which is what stops a graph's input from reading ahead of slow stages.
 */
export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private readonly capacity: number;
  private ended = false;
  private closed = false;
  private wakeTaker: (() => void) | undefined;
  private wakePutter: (() => void) | undefined;

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new StrataError("ParameterInvalid", `queue capacity must be an integer >= 1, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  get size(): number {
    return this.items.length;
  }

  /** Waits for room, then appends. False (item dropped) once the queue is closed or ended. */
  async put(item: T): Promise<boolean> {
    while (!this.closed && !this.ended && this.items.length >= this.capacity) {
      await new Promise<void>((resolve) => {
        this.wakePutter = resolve;
      });
    }
    if (this.closed || this.ended) return false;
    this.items.push(item);
    this.wake("taker");
    return true;
  }

  /** Waits for an item. Undefined once closed, or once ended and drained. */
  async take(): Promise<T | undefined> {
    while (!this.closed && this.items.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => {
        this.wakeTaker = resolve;
      });
    }
    if (this.closed) return undefined;
    const item = this.items.shift();
    if (item !== undefined) this.wake("putter");
    return item;
  }

  /** No more puts; items already queued are still taken. */
  end(): void {
    this.ended = true;
    this.wake("taker");
    this.wake("putter");
  }

  /** Drops queued items and unblocks both sides. Idempotent. */
  close(): void {
    this.closed = true;
    this.items.length = 0;
    this.wake("taker");
    this.wake("putter");
  }

  private wake(side: "taker" | "putter"): void {
    const fn = side === "taker" ? this.wakeTaker : this.wakePutter;
    if (side === "taker") this.wakeTaker = undefined;
    else this.wakePutter = undefined;
    fn?.();
  }
}

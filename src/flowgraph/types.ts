import type { Msg } from "../common/msg/index.ts";
import type { Timestamp } from "../common/timestamp.ts";

/** One decoded log record and its position in the channel. */
export interface PackMsg {
  readonly seq: number;
  readonly msg: Msg;
}

/**
 * Every record between two time ticks of one channel, ending at (and excluding) the TimeTick
 * record at `tickSeq`. Every message with a timestamp ≤ `tickTs` is in this pack or an earlier one.
 */
export interface Pack {
  readonly msgs: readonly PackMsg[];
  readonly tickSeq: number;
  readonly tickTs: Timestamp;
}

/** What a stage receives besides its input. */
export interface StageContext {
  /** Aborted when the graph is closing or failed: long work (retries, waits) should stop early. */
  readonly signal: AbortSignal;
}

/**
 * One step of a flowgraph. `process` is called for one item at a time, in order, never
 * concurrently, and never after the graph's `close()` resolved. A throw (or rejection) stops the
 * whole graph.
 */
export interface Stage<In, Out> {
  readonly name: string;
  process(input: In, ctx: StageContext): Promise<Out> | Out;
  /** Called once when the graph stops (closed, failed or ended), after the last `process` settled. */
  close?(): Promise<void> | void;
}

/** Where a graph's items come from (a `TickInput` for log channels). */
export interface PackSource<T> {
  /** The next item; undefined once the source is closed or exhausted. */
  next(): Promise<T | undefined>;
  /** Idempotent; a pending `next()` resolves with undefined. */
  close(): Promise<void>;
}

/** How a graph stopped. */
export type FlowGraphEnd =
  /** `close()` was called. */
  | { readonly kind: "closed" }
  /** The source was exhausted and every item was processed. */
  | { readonly kind: "ended" }
  /** A stage (or the source, `stage: "input"`) threw; the graph stopped at that item. */
  | { readonly kind: "failed"; readonly stage: string; readonly error: unknown };

export interface FlowGraphStats {
  /** Items read from the source so far. */
  readonly read: number;
  /** Items that went through every stage. */
  readonly processed: number;
  /** Items waiting between the source and the first stage. */
  readonly queued: number;
}

export interface FlowGraph {
  /**
   * Settles once the graph has stopped for good (every stage's `close` ran). Never rejects, so an
   * unobserved failure is not an unhandled rejection.
   */
  readonly done: Promise<FlowGraphEnd>;
  /** Stops reading, unblocks the source, waits for the item in flight and the stages' `close`. Idempotent. */
  close(): Promise<void>;
  stats(): FlowGraphStats;
}

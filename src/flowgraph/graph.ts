import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { BoundedQueue } from "./queue.ts";
import type { FlowGraph, FlowGraphEnd, FlowGraphStats, PackSource, Stage, StageContext } from "./types.ts";

export interface FlowGraphOptions {
  /** Items buffered between the source and the first stage; default 4. */
  readonly queueCapacity?: number;
  /** Called once, before `done` settles, when a stage or the source fails. */
  readonly onError?: (stage: string, error: unknown) => void;
  readonly logger?: Logger;
}

type AnyStage = Stage<unknown, unknown>;

/**
 * Builds a flowgraph: a source, then stages applied in order to every item. Typed so each stage's
 * input is the previous stage's output:
 *
 *   const g = flowGraph(input).pipe(filter).pipe(buffer).pipe(sync).start();
 */
export class FlowGraphBuilder<T> {
  private readonly source: PackSource<unknown>;
  private readonly stages: readonly AnyStage[];

  constructor(source: PackSource<unknown>, stages: readonly AnyStage[]) {
    this.source = source;
    this.stages = stages;
  }

  pipe<U>(stage: Stage<T, U>): FlowGraphBuilder<U> {
    return new FlowGraphBuilder<U>(this.source, [...this.stages, stage as unknown as AnyStage]);
  }

  /** Starts reading the source and running the stages. */
  start(opts: FlowGraphOptions = {}): FlowGraph {
    return new RunningGraph(this.source, this.stages, opts);
  }
}

export function flowGraph<T>(source: PackSource<T>): FlowGraphBuilder<T> {
  return new FlowGraphBuilder<T>(source as PackSource<unknown>, []);
}

class RunningGraph implements FlowGraph {
  readonly done: Promise<FlowGraphEnd>;
  private readonly source: PackSource<unknown>;
  private readonly stages: readonly AnyStage[];
  private readonly queue: BoundedQueue<{ item: unknown }>;
  private readonly abort = new AbortController();
  private readonly ctx: StageContext;
  private readonly opts: FlowGraphOptions;
  private end: FlowGraphEnd | undefined;
  private read = 0;
  private processed = 0;

  constructor(source: PackSource<unknown>, stages: readonly AnyStage[], opts: FlowGraphOptions) {
    this.source = source;
    this.stages = stages;
    this.opts = opts;
    this.queue = new BoundedQueue(opts.queueCapacity ?? 4);
    this.ctx = { signal: this.abort.signal };
    const pump = this.pump();
    const run = this.run();
    this.done = Promise.all([pump, run]).then(() => this.finish());
  }

  stats(): FlowGraphStats {
    return { read: this.read, processed: this.processed, queued: this.queue.size };
  }

  async close(): Promise<void> {
    this.stop({ kind: "closed" });
    await this.done;
  }

  /** First reason wins; stopping unblocks both loops. */
  private stop(end: FlowGraphEnd): void {
    if (this.end !== undefined) return;
    this.end = end;
    this.abort.abort(new StrataError("Closed", "flowgraph stopped"));
    this.queue.close();
    if (end.kind === "failed") {
      try {
        this.opts.onError?.(end.stage, end.error);
      } catch (e) {
        this.opts.logger?.error({ err: e }, "flowgraph onError callback threw");
      }
    }
    // The source may be blocked in next(); closing it is what unblocks the pump.
    this.source.close().catch((e: unknown) => {
      this.opts.logger?.warn({ err: e }, "flowgraph source close failed");
    });
  }

  private async pump(): Promise<void> {
    try {
      while (this.end === undefined) {
        const item = await this.source.next();
        if (this.end !== undefined) return;
        if (item === undefined) {
          // Exhausted: let the stages drain what is queued, then end.
          this.queue.end();
          return;
        }
        this.read++;
        if (!(await this.queue.put({ item }))) return;
      }
    } catch (e) {
      this.stop({ kind: "failed", stage: "input", error: e });
    }
  }

  private async run(): Promise<void> {
    for (;;) {
      const entry = await this.queue.take();
      if (entry === undefined || this.end !== undefined) break;
      let value = entry.item;
      for (const stage of this.stages) {
        try {
          value = await stage.process(value, this.ctx);
        } catch (e) {
          // stop() keeps the first reason, so a throw provoked by close() still ends as "closed".
          this.stop({ kind: "failed", stage: stage.name, error: e });
          return;
        }
        if (this.end !== undefined) return;
      }
      this.processed++;
    }
    this.stop({ kind: "ended" });
  }

  private async finish(): Promise<FlowGraphEnd> {
    for (const stage of this.stages) {
      try {
        await stage.close?.();
      } catch (e) {
        this.opts.logger?.warn({ err: e, stage: stage.name }, "flowgraph stage close failed");
      }
    }
    try {
      await this.source.close();
    } catch {
      // Already reported by stop().
    }
    return this.end ?? { kind: "closed" };
  }
}

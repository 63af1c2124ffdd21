import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { FrontDoorHooks } from "../api/hooks.ts";
import type { Logger } from "../common/log.ts";
import { physicalOf, type Timestamp } from "../common/timestamp.ts";

/** Where the gauges that describe the cluster's state read it from, at scrape time. */
export interface MetricsSources {
  /** Number of segments per state name (e.g. "growing", "flushed"). */
  readonly segmentStates?: () => Promise<ReadonlyMap<string, number>>;
  /** tSafe of every DML channel a query node serves. */
  readonly channelTSafe?: () => Promise<ReadonlyMap<string, Timestamp>>;
}

export interface StrataMetricsOptions {
  readonly logger: Logger;
  readonly version: string;
  readonly sources?: MetricsSources;
  /** A source slower than this is left out of the scrape (default 2000 ms). */
  readonly sourceTimeoutMs?: number;
  /** Wall clock in ms (tests). */
  readonly now?: () => number;
}

/** The states every scrape reports, zero when absent, so dashboards see stable series. */
const SEGMENT_STATES = ["growing", "sealed", "flushing", "flushed"] as const;
const ROW_KINDS = ["insert", "upsert", "delete"] as const;
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Strata's Prometheus metrics, on a registry of its own: several servers can run in one process
 * and each reports only its own numbers (prom-client's global registry is never touched).
 */
export class StrataMetrics {
  readonly registry: Registry;
  readonly #log: Logger;
  readonly #sources: MetricsSources;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #requests: Counter<"protocol" | "method" | "code">;
  readonly #latency: Histogram<"protocol" | "method" | "code">;
  readonly #rows: Counter<"kind">;
  readonly #loopDelay: IntervalHistogram;
  /** Sources whose last scrape failed, so a persistent failure is logged once, not every scrape. */
  readonly #failing = new Set<string>();
  #closed = false;

  constructor(opts: StrataMetricsOptions) {
    this.#log = opts.logger;
    this.#sources = opts.sources ?? {};
    this.#timeoutMs = opts.sourceTimeoutMs ?? 2000;
    this.#now = opts.now ?? Date.now;
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];

    this.#requests = new Counter({
      name: "strata_requests_total",
      help: "Requests served by the front doors, by protocol (grpc, rest), method and result code",
      labelNames: ["protocol", "method", "code"],
      registers,
    });
    this.#latency = new Histogram({
      name: "strata_request_duration_seconds",
      help: "Time to answer a front-door request, by protocol, method and result code",
      labelNames: ["protocol", "method", "code"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#rows = new Counter({
      name: "strata_rows_total",
      help: "Rows acknowledged by mutations, by kind (insert, upsert, delete)",
      labelNames: ["kind"],
      registers,
    });
    for (const kind of ROW_KINDS) this.#rows.inc({ kind }, 0);

    new Gauge({
      name: "strata_segments",
      help: "Segments by state (dropped segments are not counted)",
      labelNames: ["state"],
      registers,
      collect: this.#collector("segmentStates", this.#sources.segmentStates, (g, counts) => {
        for (const state of SEGMENT_STATES) g.set({ state }, counts.get(state) ?? 0);
        for (const [state, n] of counts) g.set({ state }, n);
      }),
    });
    new Gauge({
      name: "strata_tsafe_lag_seconds",
      help: "How far each served DML channel's tSafe is behind the wall clock (searches wait on it)",
      labelNames: ["channel"],
      registers,
      collect: this.#collector("channelTSafe", this.#sources.channelTSafe, (g, tsafe) => {
        const now = this.#now();
        for (const [channel, ts] of tsafe) {
          // 0: the channel has not seen its first tick; no meaningful lag yet.
          if (ts === 0n) continue;
          g.set({ channel }, Math.max(0, now - physicalOf(ts)) / 1000);
        }
      }),
    });

    new Gauge({
      name: "strata_build_info",
      help: "Always 1; the version label says which Strata is running",
      labelNames: ["version"],
      registers,
    }).set({ version: opts.version }, 1);
    new Gauge({
      name: "strata_process_start_time_seconds",
      help: "When the process started, in seconds since the Unix epoch",
      registers,
    }).set(Math.round(Date.now() - process.uptime() * 1000) / 1000);
    new Gauge({
      name: "strata_process_resident_memory_bytes",
      help: "Resident set size of the process",
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Gauge({
      name: "strata_process_memory_bytes",
      help: "V8 and native memory of the process by kind (heap_used, heap_total, external, array_buffers)",
      labelNames: ["kind"],
      registers,
      collect() {
        const m = process.memoryUsage();
        this.set({ kind: "heap_used" }, m.heapUsed);
        this.set({ kind: "heap_total" }, m.heapTotal);
        this.set({ kind: "external" }, m.external);
        this.set({ kind: "array_buffers" }, m.arrayBuffers);
      },
    });
    let lastCpu = process.cpuUsage();
    new Counter({
      name: "strata_process_cpu_seconds_total",
      help: "CPU time used by the process (user and system)",
      registers,
      collect() {
        const cpu = process.cpuUsage();
        this.inc((cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1e6);
        lastCpu = cpu;
      },
    });
    this.#loopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.#loopDelay.enable();
    const loopDelay = this.#loopDelay;
    new Gauge({
      name: "strata_event_loop_delay_seconds",
      help: "Event-loop delay since the previous scrape (quantile 0.5, 0.99 and max)",
      labelNames: ["quantile"],
      registers,
      collect() {
        if (loopDelay.count === 0) return;
        this.set({ quantile: "0.5" }, loopDelay.percentile(50) / 1e9);
        this.set({ quantile: "0.99" }, loopDelay.percentile(99) / 1e9);
        this.set({ quantile: "max" }, loopDelay.max / 1e9);
        loopDelay.reset();
      },
    });
  }

  /** The `content-type` of `render()`'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** One finished front-door request. */
  observeRequest(protocol: "grpc" | "rest", method: string, code: string, seconds: number): void {
    const labels = { protocol, method, code };
    this.#requests.inc(labels);
    this.#latency.observe(labels, seconds);
  }

  /** Rows acknowledged by a mutation. */
  observeRows(kind: "insert" | "upsert" | "delete", rows: number): void {
    if (rows > 0) this.#rows.inc({ kind }, rows);
  }

  /** What the front doors call; the functions are bound, so they can be passed around. */
  hooks(): FrontDoorHooks {
    return {
      onRequest: (protocol, method, code, seconds) => this.observeRequest(protocol, method, code, seconds),
      onRows: (kind, rows) => this.observeRows(kind, rows),
    };
  }

  /** Stops the event-loop monitor. Idempotent; the registry still renders. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#loopDelay.disable();
  }

  /**
   * A gauge `collect` that resets the gauge, reads the source with a deadline and fills the gauge;
   * a failing or slow source leaves the gauge empty for this scrape instead of failing it.
   */
  #collector<T>(
    name: string,
    source: (() => Promise<T>) | undefined,
    fill: (g: Gauge<string>, value: T) => void,
  ): (this: Gauge<string>) => Promise<void> {
    const self = this;
    return async function (this: Gauge<string>) {
      this.reset();
      if (source === undefined) return;
      let timer: NodeJS.Timeout | undefined;
      try {
        const value = await Promise.race([
          source(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${self.#timeoutMs} ms`)),
              self.#timeoutMs,
            );
          }),
        ]);
        fill(this, value);
        if (self.#failing.delete(name)) self.#log.info({ source: name }, "metrics source recovered");
      } catch (e) {
        if (!self.#failing.has(name)) {
          self.#failing.add(name);
          self.#log.warn(
            { err: e, source: name },
            "metrics source failed; its gauge is empty until it recovers",
          );
        }
      } finally {
        clearTimeout(timer);
      }
    };
  }
}

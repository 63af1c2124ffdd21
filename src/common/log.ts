import { type Logger, pino } from "pino";

export type { Logger } from "pino";

export interface LogOptions {
  level?: string;
  /** Where to write; defaults to stderr so stdout stays free for command output (bench JSON lines). */
  destination?: number;
}

/**
 * Creates a root logger. There is no module-level logger: each cluster instance makes its own
 * and hands children (with `role` and `nodeId`) to its roles.
 */
export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.STRATA_LOG_LEVEL ?? "info";
  return pino({ level, base: { pid: process.pid } }, pino.destination(opts.destination ?? 2));
}

export function roleLogger(root: Logger, role: string, nodeId: number | string): Logger {
  return root.child({ role, nodeId });
}

/** A logger that drops everything, for tests and benchmarks that do not care. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

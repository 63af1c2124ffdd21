import { StrataError } from "./errors.ts";
import type { Logger } from "./log.ts";

export interface RetryOptions {
  readonly attempts: number;
  readonly baseMs: number;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly what: string;
}

function closedError(what: string): StrataError {
  return new StrataError("Closed", `${what}: stopped`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(closedError("retry wait"));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(closedError("retry wait"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, retrying only StrataErrors marked retriable, with exponential
 * backoff from `baseMs`, at most `attempts` times. Stops early (StrataError Closed) once `signal`
 * is aborted.
 */
export async function withRetry<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (o.signal.aborted) throw closedError(o.what);
    try {
      return await fn();
    } catch (e) {
      const retriable = e instanceof StrataError && e.retriable;
      if (!retriable || attempt >= o.attempts || o.signal.aborted) throw e;
      o.logger.warn({ err: e, attempt, what: o.what }, "retrying after a retriable error");
      await sleep(o.baseMs * 2 ** (attempt - 1), o.signal);
    }
  }
}

/**
 * Runs `tasks` with at most `limit` in flight; resolves with their results in order, or rejects
 * with the first failure once the tasks already started have settled (no new ones start).
 */
export async function runLimited<T>(tasks: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < tasks.length && failure === undefined) {
      const i = next++;
      try {
        out[i] = await (tasks[i] as () => Promise<T>)();
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return out;
}

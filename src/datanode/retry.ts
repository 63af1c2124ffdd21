import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";

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
 * backoff. Stops early (StrataError Closed) once `signal` is aborted.
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

/** Runs `tasks` with at most `limit` in flight; rejects with the first failure after all settled. */
export async function runLimited(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < tasks.length && failure === undefined) {
      const task = tasks[next++] as () => Promise<void>;
      try {
        await task();
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

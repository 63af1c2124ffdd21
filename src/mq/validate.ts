/** Input checks shared by both MessageQueue implementations, so both reject the same inputs. */
import { StrataError } from "../common/errors.ts";
import type { ConsumeOptions, Seq, StartPosition } from "./types.ts";

const NAME_RE = /^[A-Za-z0-9_-]{1,200}$/;

/** Largest seq either backend hands out; keeps seqs exact in a double and in 48-bit headers. */
export const MAX_SEQ = 2 ** 48 - 1;

export const DEFAULT_MAX_BATCH = 1024;
const MAX_MAX_BATCH = 1_000_000;

export function checkChannel(channel: unknown): string {
  if (typeof channel !== "string" || !NAME_RE.test(channel)) {
    throw new StrataError(
      "ParameterInvalid",
      `invalid channel name ${JSON.stringify(channel)}: need 1..200 chars of [A-Za-z0-9_-]`,
    );
  }
  return channel;
}

export function checkConsumerName(consumer: unknown): string {
  if (typeof consumer !== "string" || !NAME_RE.test(consumer)) {
    throw new StrataError(
      "ParameterInvalid",
      `invalid consumer name ${JSON.stringify(consumer)}: need 1..200 chars of [A-Za-z0-9_-]`,
    );
  }
  return consumer;
}

export function checkSeq(seq: unknown, what: string): Seq {
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0 || seq > MAX_SEQ) {
    throw new StrataError(
      "ParameterInvalid",
      `${what} must be an integer in 0..${MAX_SEQ}, got ${String(seq)}`,
    );
  }
  return seq;
}

export function checkTimeout(timeoutMs: unknown): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new StrataError(
      "ParameterInvalid",
      `timeoutMs must be a non-negative number, got ${String(timeoutMs)}`,
    );
  }
  return timeoutMs;
}

export function checkConsumeOptions(opts: ConsumeOptions | undefined): { maxBatch: number } {
  const maxBatch = opts?.maxBatch ?? DEFAULT_MAX_BATCH;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1 || maxBatch > MAX_MAX_BATCH) {
    throw new StrataError("ParameterInvalid", `maxBatch must be an integer in 1..${MAX_MAX_BATCH}`);
  }
  return { maxBatch };
}

export function checkStart(from: unknown): StartPosition {
  if (typeof from !== "object" || from === null) {
    throw new StrataError("ParameterInvalid", "start position must be an object with a kind");
  }
  const kind = (from as { kind?: unknown }).kind;
  switch (kind) {
    case "earliest":
      return { kind };
    case "latest":
      return { kind };
    case "after":
      return { kind, seq: checkSeq((from as { seq?: unknown }).seq, "start seq") };
    case "checkpoint":
      return { kind, consumer: checkConsumerName((from as { consumer?: unknown }).consumer) };
    default:
      throw new StrataError("ParameterInvalid", `unknown start position kind ${JSON.stringify(kind)}`);
  }
}

/**
 * Checks the payload list and returns its total size. Rejects before anything is written, so a bad
 * batch changes nothing.
 */
export function checkPayloads(payloads: unknown, maxRecordBytes: number, maxBatchBytes: number): number {
  if (!Array.isArray(payloads)) {
    throw new StrataError("ParameterInvalid", "payloads must be an array of Uint8Array");
  }
  let total = 0;
  for (let i = 0; i < payloads.length; i++) {
    const p: unknown = payloads[i];
    if (!(p instanceof Uint8Array)) {
      throw new StrataError("ParameterInvalid", `payload ${i} is not a Uint8Array`);
    }
    if (p.byteLength > maxRecordBytes) {
      throw new StrataError(
        "ParameterTooLarge",
        `payload ${i} has ${p.byteLength} bytes, more than the ${maxRecordBytes} allowed per record`,
      );
    }
    total += p.byteLength;
  }
  if (total > maxBatchBytes) {
    throw new StrataError(
      "ParameterTooLarge",
      `one produce call carries ${total} bytes, more than the ${maxBatchBytes} allowed`,
    );
  }
  return total;
}

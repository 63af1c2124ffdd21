/** Classifies NATS / JetStream client errors and maps them onto the StrataError catalogue. */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { StrataError } from "../../common/errors.ts";

export function isStreamNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound;
}

/** A publish whose "expected last sequence" did not match: someone else appended first. */
export function isWrongLastSequence(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence ||
      e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Nothing listens on the subject: for a channel subject, its stream does not exist. */
export function isNoResponders(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    const probe = (cur as { isNoResponders?: unknown }).isNoResponders;
    if (typeof probe === "function" && probe.call(cur) === true) return true;
  }
  return false;
}

export function natsError(e: unknown, context: string): StrataError {
  if (e instanceof StrataError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (isStreamNotFound(e)) return new StrataError("MqTopicNotFound", `${context}: ${msg}`, { cause: e });
  return new StrataError("MqInternal", `${context}: ${msg}`, { cause: e });
}

/** Maps AWS SDK v3 failures onto the Strata error catalogue. */
import { StrataError } from "../../common/errors.ts";

export interface S3Failure {
  /** The S3 error code (`NoSuchKey`, `InvalidRange`, ...) or the SDK's name for a bodiless reply (`NotFound`). */
  readonly name: string | undefined;
  readonly status: number | undefined;
}

export function s3Failure(e: unknown): S3Failure {
  if (typeof e !== "object" || e === null) return { name: undefined, status: undefined };
  const name = "name" in e && typeof e.name === "string" ? e.name : undefined;
  let status: number | undefined;
  if ("$metadata" in e && typeof e.$metadata === "object" && e.$metadata !== null) {
    const meta = e.$metadata;
    if ("httpStatusCode" in meta && typeof meta.httpStatusCode === "number") status = meta.httpStatusCode;
  }
  return { name, status };
}

/** A missing object, as opposed to a missing bucket (which is a configuration failure, not absence). */
export function isMissingKey(e: unknown): boolean {
  const f = s3Failure(e);
  if (f.name === "NoSuchBucket") return false;
  return f.name === "NoSuchKey" || f.name === "NotFound" || f.status === 404;
}

export function isInvalidRange(e: unknown): boolean {
  const f = s3Failure(e);
  return f.name === "InvalidRange" || f.status === 416;
}

/** Anything not mapped more precisely: a backend failure, retriable. */
export function s3IoFailed(e: unknown, context: string): StrataError {
  if (e instanceof StrataError) return e;
  const f = s3Failure(e);
  const msg = e instanceof Error ? e.message : String(e);
  const detail = [f.name, f.status === undefined ? undefined : `HTTP ${f.status}`].filter(Boolean).join(", ");
  return new StrataError("IoFailed", `${context}: ${msg}${detail === "" ? "" : ` (${detail})`}`, {
    cause: e,
  });
}

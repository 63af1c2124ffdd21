import { isStrataError, StrataError } from "../../common/errors.ts";

/** `common.Status` as the SDK reads it: `error_code` (legacy enum) decides success, `code` is Milvus' merr code. */
export interface WireStatus {
  readonly error_code: number;
  readonly reason: string;
  readonly code: number;
  readonly retriable: boolean;
  readonly detail: string;
}

export const OK: WireStatus = { error_code: 0, reason: "", code: 0, retriable: false, detail: "" };

/** A failure status: both codes set (legacy `error_code` is never 0 on failure), a readable reason. */
export function failure(e: unknown): WireStatus {
  const err = toStrataError(e);
  return {
    error_code: err.legacyCode === 0 ? 1 : err.legacyCode,
    reason: err.message,
    code: err.milvusCode,
    retriable: err.retriable,
    detail: err.message,
  };
}

/** Errors that are not ours on purpose become ServiceInternal, with the message kept for the operator. */
export function toStrataError(e: unknown): StrataError {
  if (isStrataError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new StrataError("ServiceInternal", `internal error: ${msg}`, { cause: e });
}

export function unsupported(what: string): StrataError {
  return new StrataError("Unimplemented", `${what} is not supported by Strata`);
}

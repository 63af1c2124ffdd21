import { asStrataError } from "../../common/errors.ts";

/** Wraps a failed file operation as IoFailed, keeping StrataErrors as they are. */
export function ioError(e: unknown, context: string): Error {
  return asStrataError(e, "IoFailed", context);
}

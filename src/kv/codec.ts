/** String values for the meta store, whose values are bytes (JSON with int64s: src/common/json.ts). */
import { StrataError } from "../common/errors.ts";

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** @throws StrataError Corrupted when the bytes are not valid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string {
  try {
    return strictDecoder.decode(bytes);
  } catch (e) {
    throw new StrataError("Corrupted", "meta value is not valid UTF-8", { cause: e });
  }
}

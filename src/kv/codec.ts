/** String and JSON values for the meta store, whose values are bytes. */
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

export function encodeJson(value: unknown): Uint8Array {
  const text = JSON.stringify(value);
  if (text === undefined) throw new StrataError("ParameterInvalid", "value is not JSON-serialisable");
  return encoder.encode(text);
}

/** @throws StrataError Corrupted when the bytes are not UTF-8 JSON. */
export function decodeJson(bytes: Uint8Array): unknown {
  const text = fromUtf8(bytes);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StrataError("Corrupted", "meta value is not valid JSON", { cause: e });
  }
}

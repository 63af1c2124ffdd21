/**
 * Key rules shared by every backend, so a key valid on one store is valid on all of them and a bad
 * key is rejected before anything touches the backend.
 */
import { StrataError } from "../common/errors.ts";
import type { ObjectInfo } from "./types.ts";

/** S3 allows 1024 bytes for a whole key; 256 are left for the S3 store's namespace prefix. */
export const MAX_KEY_BYTES = 768;
/**
 * Filesystems allow 255 bytes per name; filesystem-backed S3 servers (s3rver, MinIO in FS mode) add
 * their own suffixes to it, so a margin keeps every key storable on every backend.
 */
export const MAX_SEGMENT_BYTES = 200;
/** Longest namespace prefix (with its trailing '/') the S3 store accepts: MAX_KEY_BYTES + this ≤ 1024. */
export const MAX_NAMESPACE_BYTES = 1024 - MAX_KEY_BYTES;

// C0 controls and DEL cannot travel in S3's XML listings and are a trap in file names; backslash is a
// path separator on some systems, and its absence from keys lets the local store name temp files
// with one so that no key can ever collide with a temp file.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters refused
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/;

const encoder = new TextEncoder();

function checkSegment(what: string, input: string, seg: string): void {
  if (seg === "" || seg === "." || seg === "..") {
    throw new StrataError(
      "ParameterInvalid",
      `${what} ${JSON.stringify(input)}: empty, '.' or '..' path segment`,
    );
  }
  if (encoder.encode(seg).length > MAX_SEGMENT_BYTES) {
    throw new StrataError(
      "ParameterInvalid",
      `${what} ${JSON.stringify(input)}: a segment is longer than ${MAX_SEGMENT_BYTES} bytes`,
    );
  }
}

function checkCommon(what: string, input: unknown): asserts input is string {
  if (typeof input !== "string") {
    throw new StrataError("ParameterInvalid", `${what} must be a string, got ${typeof input}`);
  }
  if (FORBIDDEN.test(input)) {
    throw new StrataError(
      "ParameterInvalid",
      `${what} ${JSON.stringify(input)}: contains a control character or a backslash`,
    );
  }
  if (input.startsWith("/")) {
    throw new StrataError("ParameterInvalid", `${what} ${JSON.stringify(input)}: must not start with '/'`);
  }
  if (encoder.encode(input).length > MAX_KEY_BYTES) {
    throw new StrataError("ParameterInvalid", `${what} is longer than ${MAX_KEY_BYTES} bytes`);
  }
}

/** @throws StrataError ParameterInvalid when `key` breaks the rules in `ObjectStore.put`. */
export function validateKey(key: unknown): asserts key is string {
  checkCommon("object key", key);
  if (key === "") throw new StrataError("ParameterInvalid", "object key must not be empty");
  for (const seg of key.split("/")) checkSegment("object key", key, seg);
}

/** True when `key` follows the rules; for filtering names found in a backend that we did not write. */
export function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

/** @throws StrataError ParameterInvalid unless `data` is a Uint8Array (Buffer included). */
export function validateData(key: string, data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new StrataError("ParameterInvalid", `put ${JSON.stringify(key)}: data must be a Uint8Array`);
  }
}

/**
 * A Uint8Array that owns exactly its bytes: callers may wrap `.buffer` in other typed arrays, and a
 * small slice must not pin a large buffer (a pooled Buffer, a whole object fetched for a range).
 */
export function exactBytes(b: Uint8Array): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b instanceof Buffer)) return b;
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) {
    return new Uint8Array(b.buffer, 0, b.byteLength);
  }
  return new Uint8Array(b);
}

/**
 * A list prefix is the beginning of some valid key: every complete segment must be valid, the last
 * (possibly partial, possibly empty) one only needs to avoid forbidden characters.
 * @throws StrataError ParameterInvalid otherwise.
 */
export function validatePrefix(prefix: unknown): asserts prefix is string {
  checkCommon("list prefix", prefix);
  const segs = prefix.split("/");
  for (let i = 0; i < segs.length - 1; i++) checkSegment("list prefix", prefix, segs[i]!);
}

/** @throws StrataError ParameterInvalid unless offset and length are non-negative safe integers. */
export function validateRange(key: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new StrataError(
      "ParameterInvalid",
      `range of ${JSON.stringify(key)}: offset ${offset} and length ${length} must be non-negative integers`,
    );
  }
}

/** @throws StrataError ParameterInvalid for an offset past the end of an object of `size` bytes. */
export function checkOffset(key: string, offset: number, size: number): void {
  if (offset > size) {
    throw new StrataError(
      "ParameterInvalid",
      `range of ${JSON.stringify(key)}: offset ${offset} is past the end (size ${size})`,
    );
  }
}

/**
 * Sorts by the UTF-8 bytes of the key (S3's order, which equals code-point order), not by UTF-16 code
 * units as `Array.prototype.sort` would, so every backend lists in the same order.
 */
export function sortByKey(infos: ObjectInfo[]): ObjectInfo[] {
  const withBytes = infos.map((info) => ({ info, bytes: Buffer.from(info.key, "utf8") }));
  withBytes.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  return withBytes.map((w) => w.info);
}

/**
 * Input checks shared by both implementations, so bad input fails the same way (with a typed
 * error and no change) whichever backend is configured.
 */
import { StrataError } from "../common/errors.ts";
import type { Compare, CompareOp, TxnOp, TxnRequest } from "./types.ts";

/** Keys longer than this are refused; meta keys are paths, not payloads. */
export const MAX_KEY_BYTES = 64 * 1024;
/** etcd's own ceiling on a TTL (9e9 s); anything larger is a mistake. */
const MAX_TTL_SECONDS = 9_000_000_000;

const loneSurrogate = /\p{Cs}/u;

/** Keys must round-trip through UTF-8 exactly, or byte order and prefix scans would lie. */
export function checkKey(key: unknown, what = "key"): string {
  if (typeof key !== "string") throw new StrataError("ParameterInvalid", `${what} must be a string`);
  if (key.length === 0) throw new StrataError("ParameterInvalid", `${what} must not be empty`);
  if (key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new StrataError("ParameterTooLarge", `${what} is longer than ${MAX_KEY_BYTES} bytes`);
  }
  if (loneSurrogate.test(key)) throw new StrataError("ParameterInvalid", `${what} is not valid Unicode`);
  return key;
}

/** A prefix may be empty (meaning every key). */
export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== "string") throw new StrataError("ParameterInvalid", "prefix must be a string");
  if (prefix.length === 0) return prefix;
  return checkKey(prefix, "prefix");
}

export function checkValue(value: unknown, maxBytes: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new StrataError("ParameterInvalid", "value must be a Uint8Array");
  if (value.byteLength > maxBytes) {
    throw new StrataError("ParameterTooLarge", `value of ${value.byteLength} bytes exceeds ${maxBytes}`);
  }
  return value;
}

export function checkLeaseId(lease: unknown): string {
  if (typeof lease !== "string" || !/^[0-9]{1,20}$/.test(lease)) {
    throw new StrataError("ParameterInvalid", `lease id must be a decimal string, got ${String(lease)}`);
  }
  return lease;
}

export function checkTtl(ttl: unknown): number {
  if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new StrataError("ParameterInvalid", `lease TTL must be an integer number of seconds >= 1`);
  }
  return ttl;
}

export function checkLimit(limit: unknown): number | undefined {
  if (limit === undefined) return undefined;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) {
    throw new StrataError("ParameterInvalid", "limit must be a positive integer");
  }
  return limit;
}

export function checkRevision(rev: unknown, what: string): number {
  if (typeof rev !== "number" || !Number.isSafeInteger(rev) || rev < 1) {
    throw new StrataError("ParameterInvalid", `${what} must be a positive integer`);
  }
  return rev;
}

const compareOps: ReadonlySet<string> = new Set<CompareOp>(["==", "!=", "<", ">"]);

function checkCompare(c: Compare): void {
  if (typeof c !== "object" || c === null)
    throw new StrataError("ParameterInvalid", "compare must be an object");
  checkKey(c.key, "compare key");
  if (!compareOps.has(c.op)) throw new StrataError("ParameterInvalid", `unknown compare op ${String(c.op)}`);
  switch (c.target) {
    case "value":
      if (!(c.value instanceof Uint8Array)) {
        throw new StrataError("ParameterInvalid", "a value compare needs a Uint8Array value");
      }
      return;
    case "version":
    case "createRevision":
    case "modRevision":
      if (typeof c.value !== "number" || !Number.isSafeInteger(c.value) || c.value < 0) {
        throw new StrataError("ParameterInvalid", `a ${c.target} compare needs a non-negative integer`);
      }
      return;
    default:
      throw new StrataError(
        "ParameterInvalid",
        `unknown compare target ${String((c as { target: unknown }).target)}`,
      );
  }
}

function checkOps(ops: readonly TxnOp[], maxValueBytes: number): void {
  if (!Array.isArray(ops)) throw new StrataError("ParameterInvalid", "txn branch must be an array");
  const putKeys = new Set<string>();
  const deletes: { key: string; prefix: boolean }[] = [];
  for (const op of ops) {
    if (typeof op !== "object" || op === null)
      throw new StrataError("ParameterInvalid", "txn op must be an object");
    switch (op.type) {
      case "put":
        checkKey(op.key);
        checkValue(op.value, maxValueBytes);
        if (op.lease !== undefined) checkLeaseId(op.lease);
        if (putKeys.has(op.key)) throw new StrataError("ParameterInvalid", `txn puts key ${op.key} twice`);
        putKeys.add(op.key);
        break;
      case "delete":
        checkKey(op.key);
        deletes.push({ key: op.key, prefix: false });
        break;
      case "deletePrefix":
        deletes.push({ key: checkPrefix(op.prefix), prefix: true });
        break;
      case "get":
        checkKey(op.key);
        break;
      default:
        throw new StrataError("ParameterInvalid", `unknown txn op ${String((op as { type: unknown }).type)}`);
    }
  }
  // etcd refuses a txn that both puts and deletes one key; refusing it here too keeps the
  // two implementations interchangeable.
  for (const d of deletes) {
    for (const k of putKeys) {
      if (d.prefix ? k.startsWith(d.key) : k === d.key) {
        throw new StrataError("ParameterInvalid", `txn both puts and deletes key ${k}`);
      }
    }
  }
}

export function checkTxn(req: TxnRequest, maxValueBytes: number): void {
  if (typeof req !== "object" || req === null)
    throw new StrataError("ParameterInvalid", "txn must be an object");
  if (!Array.isArray(req.compare)) throw new StrataError("ParameterInvalid", "txn compare must be an array");
  for (const c of req.compare) checkCompare(c);
  checkOps(req.success, maxValueBytes);
  if (req.failure !== undefined) checkOps(req.failure, maxValueBytes);
}

/**
 * Orders keys by their UTF-8 bytes (etcd's order). UTF-16 code-unit order differs from it only
 * when a surrogate meets a code unit in U+E000..U+FFFF, so only that case is remapped.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) return remap(x) - remap(y);
      return x - y;
    }
  }
  return a.length - b.length;
}

function remap(c: number): number {
  return c >= 0xe000 ? c - 0x800 : c + 0x2000;
}

/**
 * Translation between our shapes and etcd3's wire objects: namespaced keys, int64 strings to
 * numbers, and etcd3's error classes to the Strata catalogue.
 */
import {
  ClientClosedError,
  EtcdLeaseInvalidError,
  GRPCInvalidArgumentError,
  GRPCOutOfRangeError,
  type IKeyValue,
  isRecoverableError,
} from "etcd3";
import { StrataError } from "../../common/errors.ts";
import type { KeyValue } from "../types.ts";

/** Key bytes under a namespace prefix. */
export class Keyspace {
  readonly ns: Buffer;

  constructor(prefix: string) {
    this.ns = Buffer.from(prefix, "utf8");
  }

  key(key: string): Buffer {
    return this.ns.length === 0
      ? Buffer.from(key, "utf8")
      : Buffer.concat([this.ns, Buffer.from(key, "utf8")]);
  }

  strip(raw: Buffer): string {
    return raw.toString("utf8", this.ns.length);
  }

  /** [key, range_end) covering every key that starts with `prefix` inside the namespace. */
  range(prefix: string): { key: Buffer; range_end: Buffer } {
    const start = this.key(prefix);
    if (start.length === 0) return { key: Buffer.from([0]), range_end: Buffer.from([0]) };
    return { key: start, range_end: prefixEnd(start) };
  }
}

/** The smallest key greater than every key with this prefix; "\0" (the end) when none exists. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** etcd int64 fields arrive as decimal strings; revisions and versions fit a double exactly. */
export function num(v: string | number | undefined): number {
  return v === undefined ? 0 : Number(v);
}

/** A plain Uint8Array copy: callers compare values with deepStrictEqual against Uint8Arrays. */
export function bytes(b: Buffer | undefined): Uint8Array {
  return b === undefined ? new Uint8Array(0) : new Uint8Array(b);
}

export function toBuffer(v: Uint8Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function toKv(ks: Keyspace, kv: IKeyValue): KeyValue {
  const out = {
    key: ks.strip(kv.key),
    value: bytes(kv.value),
    createRevision: num(kv.create_revision),
    modRevision: num(kv.mod_revision),
    version: num(kv.version),
  };
  const lease = kv.lease;
  return lease === undefined || lease === "0" ? out : { ...out, lease: String(lease) };
}

/** Whether retrying the call could help (connection trouble, not a refusal). */
export function transient(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  // cockatiel's open-circuit error: etcd3 refuses calls for a while after repeated failures.
  return isRecoverableError(e) || (e as { isBrokenCircuitError?: unknown }).isBrokenCircuitError === true;
}

export function mapError(e: unknown, what: string): StrataError {
  if (e instanceof StrataError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const opts = { cause: e };
  if (e instanceof EtcdLeaseInvalidError) {
    return new StrataError("LeaseExpired", `${what}: lease has expired or was revoked (${msg})`, opts);
  }
  if (e instanceof ClientClosedError)
    return new StrataError("Closed", `${what}: etcd client is closed`, opts);
  if (msg.includes("request is too large"))
    return new StrataError("ParameterTooLarge", `${what}: ${msg}`, opts);
  if (e instanceof GRPCInvalidArgumentError)
    return new StrataError("ParameterInvalid", `${what}: ${msg}`, opts);
  if (e instanceof GRPCOutOfRangeError && msg.includes("compacted")) {
    return new StrataError("KeyNotFound", `${what}: revision compacted (${msg})`, opts);
  }
  if (transient(e)) return new StrataError("ServiceUnavailable", `${what}: etcd unavailable (${msg})`, opts);
  return new StrataError("ServiceInternal", `${what}: ${msg}`, opts);
}

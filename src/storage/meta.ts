/**
 * Strict text forms of header values kept in Arrow schema metadata. Parsing accepts exactly what
 * formatting produces (no signs, no leading zeros, no whitespace), so one header has one byte form
 * and a damaged value can never parse to a different number.
 */
import { StrataError } from "../common/errors.ts";

export const INT64_MAX = (1n << 63n) - 1n;
export const UINT64_MAX = (1n << 64n) - 1n;

const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

export function corrupted(message: string, cause?: unknown): StrataError {
  return new StrataError("Corrupted", message, cause === undefined ? undefined : { cause });
}

export function invalid(message: string): StrataError {
  return new StrataError("ParameterInvalid", message);
}

/** A non-negative bigint no larger than `max`; ParameterInvalid otherwise. */
export function checkBigId(name: string, v: unknown, max: bigint): bigint {
  if (typeof v !== "bigint" || v < 0n || v > max) {
    throw invalid(`${name} must be a bigint in [0, ${max}], got ${String(v)}`);
  }
  return v;
}

/** A non-negative safe integer; ParameterInvalid otherwise. */
export function checkCount(name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw invalid(`${name} must be an integer in [0, ${max}], got ${String(v)}`);
  }
  return v;
}

/** Reads one metadata value that must be present. */
export function metaGet(meta: ReadonlyMap<string, string>, key: string): string {
  const v = meta.get(key);
  if (v === undefined) throw corrupted(`metadata key ${key} is missing`);
  return v;
}

export function parseBig(meta: ReadonlyMap<string, string>, key: string, max: bigint): bigint {
  const s = metaGet(meta, key);
  if (!DECIMAL.test(s)) throw corrupted(`metadata ${key}=${JSON.stringify(s)} is not a decimal integer`);
  const v = BigInt(s);
  if (v > max) throw corrupted(`metadata ${key}=${s} is out of range`);
  return v;
}

export function parseCount(
  meta: ReadonlyMap<string, string>,
  key: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = parseBig(meta, key, BigInt(max));
  return Number(v);
}

/** The metadata must hold exactly these keys: a foreign or missing key means damage or a wrong file. */
export function expectKeys(meta: ReadonlyMap<string, string>, keys: readonly string[]): void {
  for (const k of keys) metaGet(meta, k);
  if (meta.size !== keys.length) {
    const extra = [...meta.keys()].filter((k) => !keys.includes(k));
    throw corrupted(`unexpected metadata keys: ${extra.join(", ")}`);
  }
}

/** 8 lowercase hex digits. */
export function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, "0");
}

const HEX32 = /^[0-9a-f]{8}$/;

export function parseHex32(s: string, what: string): number {
  if (!HEX32.test(s)) throw corrupted(`${what} ${JSON.stringify(s)} is not 8 hex digits`);
  return Number.parseInt(s, 16) >>> 0;
}

import { StrataError } from "./errors.ts";

/**
 * JSON for meta records and control messages that hold int64 IDs and timestamps: a `bigint`
 * is written as `{"$n":"<decimal>"}` and read back as a `bigint`, so no ID loses precision.
 * Maps are not supported: store them as arrays of entries.
 */
export function encodeJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? { $n: v.toString() } : v));
}

export function decodeJson<T>(text: string, what = "record"): T {
  try {
    return JSON.parse(text, (_k, v: unknown) => {
      if (typeof v === "object" && v !== null && "$n" in v) {
        const n = (v as { $n: unknown }).$n;
        if (typeof n === "string" && /^-?\d+$/.test(n)) return BigInt(n);
      }
      return v;
    }) as T;
  } catch (e) {
    throw new StrataError("Corrupted", `${what} is not valid JSON: ${(e as Error).message}`);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeJsonBytes(value: unknown): Uint8Array {
  return enc.encode(encodeJson(value));
}

export function decodeJsonBytes<T>(bytes: Uint8Array, what = "record"): T {
  return decodeJson<T>(dec.decode(bytes), what);
}

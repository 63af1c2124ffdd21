import { StrataError } from "../../common/errors.ts";
import type { ConsistencyLevel } from "../../common/types.ts";
import type { WireKeyValue } from "./proto.ts";

/** Small readers for wire requests: the one place where `unknown` request objects are narrowed. */

export type WireRequest = Readonly<Record<string, unknown>>;

export function str(req: WireRequest, key: string): string {
  const v = req[key];
  return typeof v === "string" ? v : "";
}

export function strs(req: WireRequest, key: string): string[] {
  const v = req[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

export function bool(req: WireRequest, key: string): boolean {
  return req[key] === true;
}

export function num(req: WireRequest, key: string): number {
  const v = req[key];
  if (typeof v === "number") return v;
  if (typeof v === "string" && v !== "") return Number(v);
  return 0;
}

export function kvs(req: WireRequest, key: string): Map<string, string> {
  const v = req[key];
  const out = new Map<string, string>();
  if (Array.isArray(v)) {
    for (const e of v as WireKeyValue[])
      if (typeof e?.key === "string") out.set(e.key, String(e.value ?? ""));
  }
  return out;
}

export function kvList(record: Readonly<Record<string, string>>): WireKeyValue[] {
  return Object.entries(record).map(([key, value]) => ({ key, value }));
}

/** Required non-empty name. */
export function name(req: WireRequest, key: string, what: string): string {
  const v = str(req, key);
  if (v === "") throw new StrataError("ParameterInvalid", `${what} is required`);
  return v;
}

/** Partition names: empty means "all" (undefined for the proxy). */
export function partitions(req: WireRequest): string[] | undefined {
  const p = strs(req, "partition_names");
  return p.length === 0 ? undefined : p;
}

export function consistency(
  req: WireRequest,
  collectionDefault: ConsistencyLevel | undefined,
): ConsistencyLevel {
  const v = str(req, "consistency_level");
  if (bool(req, "use_default_consistency")) return collectionDefault ?? "Bounded";
  if (v === "Strong" || v === "Session" || v === "Bounded" || v === "Eventually") return v;
  return collectionDefault ?? "Bounded";
}

/** Int64 values as the wire carries them with `longs: String`. */
export function int64List(v: unknown): bigint[] {
  const list = (v as { data?: unknown } | undefined)?.data;
  if (!Array.isArray(list)) return [];
  return list.map((x) => BigInt(x as string | number));
}

/** Parses a JSON object parameter (`params` of index or search), with a clear error. */
export function jsonParams(
  text: string | undefined,
  what: string,
): Record<string, string | number | boolean> {
  if (text === undefined || text.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StrataError("ParameterInvalid", `${what} must be a JSON object, got ${JSON.stringify(text)}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new StrataError("ParameterInvalid", `${what} must be a JSON object, got ${JSON.stringify(text)}`);
  }
  const out: Record<string, string | number | boolean> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") out[k] = x;
    else throw new StrataError("ParameterInvalid", `${what}: ${k} must be a number, string or boolean`);
  }
  return out;
}

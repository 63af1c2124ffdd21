import type { Params } from "./params.ts";

/** Keys of `searchParams` that are not index parameters (read elsewhere, or refused there). */
const FRAME_KEYS: ReadonlySet<string> = new Set([
  "metrictype",
  "metric_type",
  "params",
  "radius",
  "range_filter",
  "ignore_growing",
  "hints",
]);

/** Numbers and strings as sent; anything else as text (the body parser gives bigints for long integers). */
function paramValue(v: unknown): number | string {
  if (typeof v === "number" || typeof v === "string") return v;
  if (typeof v !== "object") return String(v);
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));
}

/**
 * Search-time index parameters of a REST v2 search body: `searchParams.params` (`{ "ef": 64 }`,
 * `{ "nprobe": 8 }`, as Milvus) and, leniently, the same names directly under `searchParams`;
 * the nested object wins when both name a key. Every key is passed on: the proxy keeps those the
 * searched field's index takes and checks their ranges. Strings stay strings ("64" is accepted
 * there, "abc" refused), so a bad value is reported by the one validator.
 * @throws RestError IncorrectParameterFormat when `searchParams` or its `params` is not an object.
 */
export function restSearchParams(p: Params): Record<string, number | string> {
  const sp = p.obj("searchParams");
  const out: Record<string, number | string> = {};
  if (sp === undefined) return out;
  for (const [k, v] of sp.entries())
    if (v !== null && !FRAME_KEYS.has(k.toLowerCase())) out[k] = paramValue(v);
  for (const [k, v] of sp.obj("params")?.entries() ?? []) if (v !== null) out[k] = paramValue(v);
  return out;
}

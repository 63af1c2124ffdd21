import { StrataError } from "../../common/errors.ts";

/**
 * Keys of `search_params` that frame the search itself (read by the Search handler) or that
 * Strata refuses elsewhere; none of them is an index parameter.
 */
const FRAME_KEYS: ReadonlySet<string> = new Set([
  "anns_field",
  "topk",
  "offset",
  "metric_type",
  "params",
  "round_decimal",
  "ignore_growing",
  "group_by_field",
  "group_size",
  "strict_group_size",
  "hints",
  "order_by_fields",
  "radius",
  "range_filter",
]);

const NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/** A wire value as the proxy takes it: numbers as numbers, anything else as text (refused there if it matters). */
function paramValue(v: unknown): number | string {
  if (typeof v === "number") return v;
  if (typeof v === "string") return NUMBER.test(v) ? Number(v) : v;
  return JSON.stringify(v) ?? String(v);
}

function jsonObject(text: string | undefined): Record<string, unknown> {
  if (text === undefined || text.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new StrataError(
      "ParameterInvalid",
      `search params must be a JSON object, got ${JSON.stringify(text)}`,
    );
  return v as Record<string, unknown>;
}

/**
 * Search-time index parameters (`ef`, `nprobe`, …) from a request's `search_params` pairs.
 * Milvus 2.4+ SDKs send them as a JSON object under `params` (`{"ef":64}`); the Node SDK also
 * copies each one to a key of its own, and older clients send only those. Both are read; the
 * JSON object wins when they disagree. Which keys matter depends on the index, so every
 * non-frame key is passed on and the proxy keeps the ones its index type takes (nested values
 * travel as JSON text: harmless under keys the index ignores, refused under one it reads).
 * @throws StrataError ParameterInvalid when `params` is not a JSON object or asks for a range
 *   search (`radius`, `range_filter`), which Strata does not serve yet.
 */
export function indexSearchParams(sp: ReadonlyMap<string, string>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [k, v] of sp) if (!FRAME_KEYS.has(k)) out[k] = paramValue(v);
  const json = jsonObject(sp.get("params"));
  if (json.radius !== undefined || json.range_filter !== undefined)
    throw new StrataError("ParameterInvalid", "range search is not supported yet");
  for (const [k, v] of Object.entries(json)) if (!FRAME_KEYS.has(k)) out[k] = paramValue(v);
  return out;
}

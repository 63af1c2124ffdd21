import { StrataError } from "../common/errors.ts";
import { DataType, dataTypeName } from "../common/types.ts";
import { isMetricType, type MetricType, metricsFor } from "./metric.ts";

/**
 * The index type catalogue: which types exist, what they index, which build and search
 * parameters they take (names and ranges as Milvus), and whether this build can serve them.
 * An `available: false` type is known but refused with a clear error, so a user is never told an
 * index exists that is not there.
 */

interface IntParam {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly default?: number;
}

interface IndexTypeSpec {
  readonly name: string;
  readonly vectorTypes: readonly DataType[];
  /** Exact types serve every row by a scan; no build is needed. */
  readonly exact: boolean;
  readonly build: readonly IntParam[];
  readonly search: readonly IntParam[];
  readonly available: boolean;
}

const FLOATS: readonly DataType[] = [DataType.FloatVector, DataType.Float16Vector, DataType.BFloat16Vector];

const SPECS: readonly IndexTypeSpec[] = [
  { name: "FLAT", vectorTypes: FLOATS, exact: true, build: [], search: [], available: true },
  {
    name: "BIN_FLAT",
    vectorTypes: [DataType.BinaryVector],
    exact: true,
    build: [],
    search: [],
    available: true,
  },
  {
    name: "SPARSE_INVERTED_INDEX",
    vectorTypes: [DataType.SparseFloatVector],
    exact: true,
    build: [],
    search: [],
    available: true,
  },
  {
    name: "HNSW",
    vectorTypes: [...FLOATS, DataType.BinaryVector],
    exact: false,
    build: [
      { name: "M", min: 2, max: 2048, default: 16 },
      { name: "efConstruction", min: 1, max: 1 << 20, default: 200 },
    ],
    search: [{ name: "ef", min: 1, max: 32768 }],
    available: true,
  },
  {
    name: "IVF_FLAT",
    vectorTypes: FLOATS,
    exact: false,
    build: [{ name: "nlist", min: 1, max: 65536, default: 128 }],
    search: [{ name: "nprobe", min: 1, max: 65536, default: 8 }],
    available: true,
  },
  {
    name: "IVF_SQ8",
    vectorTypes: FLOATS,
    exact: false,
    build: [{ name: "nlist", min: 1, max: 65536, default: 128 }],
    search: [{ name: "nprobe", min: 1, max: 65536, default: 8 }],
    available: true,
  },
];

/** What AUTOINDEX resolves to, with its build parameters (Milvus' open-source defaults). */
const AUTOINDEX_FLOAT = { type: "HNSW", params: { M: "18", efConstruction: "240" } };

export const AUTOINDEX = "AUTOINDEX";

export interface ResolvedIndexParams {
  /** As the user asked (AUTOINDEX kept, for describeIndex). */
  readonly indexType: string;
  /** The type actually built and served. */
  readonly resolvedType: string;
  readonly metricType: MetricType;
  /** Build parameters, validated, defaults filled, as strings. */
  readonly params: Readonly<Record<string, string>>;
  /** True when the resolved type serves by exact scan (no build). */
  readonly exact: boolean;
}

function bad(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

function specOf(name: string): IndexTypeSpec | undefined {
  return SPECS.find((s) => s.name === name);
}

/** True for types served by a scan (FLAT, BIN_FLAT, SPARSE_INVERTED_INDEX): nothing to build. */
export function isExactIndexType(resolvedType: string): boolean {
  return specOf(resolvedType)?.exact ?? false;
}

/** Index types this build serves, for error messages and docs. */
export function availableIndexTypes(): string[] {
  return [AUTOINDEX, ...SPECS.filter((s) => s.available).map((s) => s.name)];
}

/** Marks more types servable (used once index builds are wired; never module state). */
export type IndexAvailability = (type: string) => boolean;

const DEFAULT_AVAILABILITY: IndexAvailability = (t) => specOf(t)?.available ?? false;

function defaultMetric(t: DataType): MetricType {
  if (t === DataType.BinaryVector) return "HAMMING";
  if (t === DataType.SparseFloatVector) return "IP";
  return "COSINE";
}

function exactTypeFor(t: DataType): string {
  if (t === DataType.BinaryVector) return "BIN_FLAT";
  if (t === DataType.SparseFloatVector) return "SPARSE_INVERTED_INDEX";
  return "FLAT";
}

function parseInt32(name: string, raw: string | number | boolean, p: IntParam, type: string): number {
  const n =
    typeof raw === "number" ? raw : typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < p.min || n > p.max) {
    bad(`index ${type}: ${name} must be an integer in [${p.min}, ${p.max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * Validates an index definition for a field of type `fieldType` and fills defaults.
 * AUTOINDEX (or no type) picks HNSW for float vectors when HNSW is available, else the exact type.
 * @throws StrataError ParameterInvalid naming the bad part (unknown or unavailable type, a metric
 *   the field type cannot use, an unknown or out-of-range parameter).
 */
export function resolveIndexParams(
  fieldName: string,
  fieldType: DataType,
  indexType: string | undefined,
  metricType: string | undefined,
  params: Readonly<Record<string, string | number | boolean>> = {},
  available: IndexAvailability = DEFAULT_AVAILABILITY,
): ResolvedIndexParams {
  const asked = (indexType ?? "").trim().toUpperCase() || AUTOINDEX;
  const typeName = dataTypeName(fieldType) ?? String(fieldType);
  const allowed = metricsFor(fieldType);
  if (allowed.length === 0)
    bad(`field ${fieldName} (${typeName}) is not a vector field; only vector fields can be indexed`);
  const metricRaw = (metricType ?? "").trim().toUpperCase();
  let metric: MetricType;
  if (metricRaw === "") metric = defaultMetric(fieldType);
  else if (isMetricType(metricRaw) && allowed.includes(metricRaw)) metric = metricRaw;
  else
    bad(
      `metric type ${JSON.stringify(metricType)} is not valid for ${typeName} field ${fieldName}; use one of ${allowed.join(", ")}`,
    );

  let resolved: string;
  let userParams: Readonly<Record<string, string | number | boolean>> = params;
  if (asked === AUTOINDEX) {
    const floaty = FLOATS.includes(fieldType);
    if (floaty && available(AUTOINDEX_FLOAT.type)) {
      resolved = AUTOINDEX_FLOAT.type;
      userParams = { ...AUTOINDEX_FLOAT.params, ...params };
    } else {
      resolved = exactTypeFor(fieldType);
    }
  } else {
    const spec = specOf(asked);
    if (spec === undefined)
      bad(`unknown index type ${JSON.stringify(indexType)}; supported: ${availableIndexTypes().join(", ")}`);
    if (!available(spec.name)) {
      bad(
        `index type ${spec.name} is not supported yet by this Strata build; supported: ${availableIndexTypes().join(", ")}`,
      );
    }
    if (!spec.vectorTypes.includes(fieldType))
      bad(`index type ${spec.name} cannot index ${typeName} field ${fieldName}`);
    resolved = spec.name;
  }
  const spec = specOf(resolved) as IndexTypeSpec;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(userParams)) {
    if (k === "index_type" || k === "metric_type" || k === "params") continue;
    const p = spec.build.find((b) => b.name === k);
    if (p === undefined) {
      if (asked === AUTOINDEX) continue; // AUTOINDEX ignores tuning it does not use, as Milvus.
      bad(
        `index ${spec.name} has no build parameter ${JSON.stringify(k)}${spec.build.length > 0 ? `; it takes ${spec.build.map((b) => b.name).join(", ")}` : ""}`,
      );
    }
    out[k] = String(parseInt32(k, v, p, spec.name));
  }
  for (const p of spec.build)
    if (out[p.name] === undefined && p.default !== undefined) out[p.name] = String(p.default);
  return { indexType: asked, resolvedType: resolved, metricType: metric, params: out, exact: spec.exact };
}

/**
 * Search-time parameters for an index type (`ef`, `nprobe`, …), validated; unknown keys are
 * ignored, as Milvus ignores parameters meant for other index types.
 */
export function resolveSearchParams(
  resolvedType: string,
  params: Readonly<Record<string, string | number | boolean>>,
): Record<string, number> {
  const spec = specOf(resolvedType);
  if (spec === undefined) return {};
  const out: Record<string, number> = {};
  for (const p of spec.search) {
    const v = params[p.name];
    if (v !== undefined) out[p.name] = parseInt32(p.name, v, p, spec.name);
  }
  return out;
}

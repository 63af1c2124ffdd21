import { StrataError } from "../common/errors.ts";
import { DataType, dataTypeName } from "../common/types.ts";

/** Milvus metric names, as they travel in search params. */
export const MetricType = {
  L2: "L2",
  IP: "IP",
  COSINE: "COSINE",
  HAMMING: "HAMMING",
  JACCARD: "JACCARD",
} as const;

export type MetricType = (typeof MetricType)[keyof typeof MetricType];

/** Milvus' per-request topk ceiling. */
export const MAX_TOPK = 16384;

/** True when a larger score is a better match (IP, COSINE); false for distances. */
export function largerIsBetter(metric: MetricType): boolean {
  return metric === MetricType.IP || metric === MetricType.COSINE;
}

export function isMetricType(m: unknown): m is MetricType {
  return m === "L2" || m === "IP" || m === "COSINE" || m === "HAMMING" || m === "JACCARD";
}

/** The metrics a vector type can be searched with (Milvus' rules). */
export function metricsFor(type: DataType): readonly MetricType[] {
  switch (type) {
    case DataType.FloatVector:
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      return [MetricType.L2, MetricType.IP, MetricType.COSINE];
    case DataType.BinaryVector:
      return [MetricType.HAMMING, MetricType.JACCARD];
    case DataType.SparseFloatVector:
      return [MetricType.IP];
    default:
      return [];
  }
}

/** Throws ParameterInvalid unless `metric` is a known metric valid for `type`. */
export function checkMetric(metric: unknown, type: DataType): MetricType {
  if (!isMetricType(metric)) {
    throw new StrataError("ParameterInvalid", `unknown metric type ${JSON.stringify(metric)}`);
  }
  const allowed = metricsFor(type);
  if (!allowed.includes(metric)) {
    throw new StrataError(
      "ParameterInvalid",
      `metric ${metric} is not valid for ${dataTypeName(type) ?? type}; use one of ${allowed.join(", ") || "(none: not a vector type)"}`,
    );
  }
  return metric;
}

import { type Column, columnLength } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { checkMetric, MAX_TOPK, type MetricType } from "./metric.ts";
import { type PreparedQueries, prepareQueries, type QueryVectors } from "./queries.ts";
import { scanSegment } from "./scan.ts";
import { type PreparedSegment, prepareSegment } from "./segment.ts";
import { emptyResult, type SearchResult } from "./topk.ts";

/** An exact (brute-force) top-k search of one segment's vectors. */
export interface ExactSearchRequest {
  /** The segment's vector column, N rows. */
  readonly vectors: Column;
  /** See QueryVectors for the accepted forms per vector type. */
  readonly queries: QueryVectors;
  /** When given, the number of query vectors `queries` must hold (guards against dim mismatch). */
  readonly nq?: number;
  readonly metric: MetricType;
  /** 1 .. 16384. */
  readonly topk: number;
  /**
   * One byte per row, non-zero = the row may be returned (the caller's filter, delete and timestamp
   * mask). Absent = every row.
   */
  readonly bitset?: Uint8Array;
}

/** The same request against a segment that was prepared earlier (prepareSegment). */
export type PreparedSearchRequest = Omit<ExactSearchRequest, "vectors">;

/** A request whose parameters have all been checked, in kernel form. */
export interface CheckedSearch {
  readonly metric: MetricType;
  readonly topk: number;
  readonly queries: PreparedQueries;
  readonly bitset: Uint8Array | undefined;
}

/**
 * Exact top-k for each query: per query the `topk` best allowed rows, best first in the metric's
 * direction (smallest L2/HAMMING/JACCARD, largest IP/COSINE), ties to the lower row offset, padded
 * with offset -1 / score NaN. Float16/BFloat16 columns are decoded to float32 once per call; to
 * search one segment repeatedly, prepare it once (prepareSegment) and use searchPrepared.
 * Throws ParameterInvalid, having done nothing, on a bad request.
 */
export function searchExact(req: ExactSearchRequest): SearchResult {
  // Cheap checks first, so a bad request costs no decode.
  checkMetric(req.metric, req.vectors.type);
  checkTopk(req.topk);
  checkBitset(req.bitset, columnLength(req.vectors));
  return searchPrepared(prepareSegment(req.vectors), req);
}

/** searchExact on a PreparedSegment. */
export function searchPrepared(seg: PreparedSegment, req: PreparedSearchRequest): SearchResult {
  const checked = checkSearch(seg, req);
  return runChecked(seg, checked, 0, seg.rows);
}

/** Validates a request against a segment. */
export function checkSearch(seg: PreparedSegment, req: PreparedSearchRequest): CheckedSearch {
  const metric = checkMetric(req.metric, seg.type);
  const topk = checkTopk(req.topk);
  checkBitset(req.bitset, seg.rows);
  const queries = prepareQueries(seg, req.queries, req.nq);
  return { metric, topk, queries, bitset: req.bitset };
}

/** Scans rows [r0, r1) for a checked request. */
export function runChecked(seg: PreparedSegment, c: CheckedSearch, r0: number, r1: number): SearchResult {
  if (r1 <= r0) return emptyResult(c.queries.nq, c.topk);
  return scanSegment(seg, c.queries, c.metric, c.topk, c.bitset, r0, r1);
}

export function checkTopk(topk: unknown): number {
  if (typeof topk !== "number" || !Number.isInteger(topk) || topk < 1 || topk > MAX_TOPK) {
    throw new StrataError(
      "ParameterInvalid",
      `topk must be an integer in [1, ${MAX_TOPK}], got ${String(topk)}`,
    );
  }
  return topk;
}

function checkBitset(bitset: Uint8Array | undefined, rows: number): void {
  if (bitset === undefined) return;
  if (!(bitset instanceof Uint8Array))
    throw new StrataError("ParameterInvalid", "bitset must be a Uint8Array");
  if (bitset.length !== rows) {
    throw new StrataError(
      "ParameterInvalid",
      `bitset has ${bitset.length} entries for a segment of ${rows} rows`,
    );
  }
}

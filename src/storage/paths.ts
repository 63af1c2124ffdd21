/**
 * Object-store keys of segment files (DESIGN.md §5):
 *   insert_log/<collection>/<partition>/<segment>/<field>/<logID>
 *   stats_log/<collection>/<partition>/<segment>/<field>/<logID>
 *   delta_log/<collection>/<partition>/<segment>/<logID>
 * IDs are decimal without sign or leading zeros (int64 range, field IDs safe integers), so a key
 * has exactly one spelling and parse(build(x)) = x, build(parse(k)) = k.
 */
import { StrataError } from "../common/errors.ts";
import { INT64_MAX } from "./meta.ts";

export const INSERT_LOG = "insert_log";
export const STATS_LOG = "stats_log";
export const DELTA_LOG = "delta_log";

export type FieldLogKind = typeof INSERT_LOG | typeof STATS_LOG;
export type SegmentLogKind = FieldLogKind | typeof DELTA_LOG;

export interface FieldLogPath {
  readonly kind: FieldLogKind;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly fieldId: number;
  readonly logId: bigint;
}

export interface DeltaLogPath {
  readonly kind: typeof DELTA_LOG;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly logId: bigint;
}

export type LogPath = FieldLogPath | DeltaLogPath;

const DECIMAL = /^(0|[1-9][0-9]{0,18})$/;

function bad(message: string): StrataError {
  return new StrataError("ParameterInvalid", message);
}

function id(name: string, v: unknown): string {
  if (typeof v !== "bigint" || v < 0n || v > INT64_MAX)
    throw bad(`${name} must be a bigint in [0, 2^63-1], got ${String(v)}`);
  return v.toString();
}

function fid(v: unknown): string {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw bad(`fieldId must be a non-negative integer, got ${String(v)}`);
  return String(v);
}

function kindOf(v: unknown): SegmentLogKind {
  if (v !== INSERT_LOG && v !== STATS_LOG && v !== DELTA_LOG) throw bad(`unknown log kind ${String(v)}`);
  return v;
}

/** @throws StrataError ParameterInvalid for an ID out of range or of the wrong type. */
export function insertLogPath(
  collectionId: bigint,
  partitionId: bigint,
  segmentId: bigint,
  fieldId: number,
  logId: bigint,
): string {
  return buildLogPath({ kind: INSERT_LOG, collectionId, partitionId, segmentId, fieldId, logId });
}

/** @throws StrataError ParameterInvalid for an ID out of range or of the wrong type. */
export function statsLogPath(
  collectionId: bigint,
  partitionId: bigint,
  segmentId: bigint,
  fieldId: number,
  logId: bigint,
): string {
  return buildLogPath({ kind: STATS_LOG, collectionId, partitionId, segmentId, fieldId, logId });
}

/** @throws StrataError ParameterInvalid for an ID out of range or of the wrong type. */
export function deltaLogPath(
  collectionId: bigint,
  partitionId: bigint,
  segmentId: bigint,
  logId: bigint,
): string {
  return buildLogPath({ kind: DELTA_LOG, collectionId, partitionId, segmentId, logId });
}

/** @throws StrataError ParameterInvalid for an unknown kind or a bad ID. */
export function buildLogPath(p: LogPath): string {
  const kind = kindOf(p.kind);
  const parts = [
    kind,
    id("collectionId", p.collectionId),
    id("partitionId", p.partitionId),
    id("segmentId", p.segmentId),
  ];
  if (p.kind !== DELTA_LOG) parts.push(fid(p.fieldId));
  parts.push(id("logId", p.logId));
  return parts.join("/");
}

/**
 * Key prefix (ending in '/') of every log of `kind` under the given IDs, for listing: e.g. all
 * insert logs of a segment, or of one field of it. IDs must be given left to right.
 * @throws StrataError ParameterInvalid for a bad ID, or a fieldId with `delta_log`.
 */
export function logPrefix(
  kind: SegmentLogKind,
  collectionId?: bigint,
  partitionId?: bigint,
  segmentId?: bigint,
  fieldId?: number,
): string {
  const parts: string[] = [kindOf(kind)];
  const ids: [string, bigint | undefined][] = [
    ["collectionId", collectionId],
    ["partitionId", partitionId],
    ["segmentId", segmentId],
  ];
  let gap = false;
  for (const [name, v] of ids) {
    if (v === undefined) gap = true;
    else if (gap) throw bad(`${name} given without the IDs before it`);
    else parts.push(id(name, v));
  }
  if (fieldId !== undefined) {
    if (kind === DELTA_LOG) throw bad("delta logs have no field level");
    if (gap) throw bad("fieldId given without the IDs before it");
    parts.push(fid(fieldId));
  }
  return `${parts.join("/")}/`;
}

function parseId(name: string, s: string, key: string): bigint {
  if (!DECIMAL.test(s))
    throw bad(`log path ${JSON.stringify(key)}: ${name} ${JSON.stringify(s)} is not a decimal ID`);
  const v = BigInt(s);
  if (v > INT64_MAX) throw bad(`log path ${JSON.stringify(key)}: ${name} is out of range`);
  return v;
}

/**
 * Parses a key made by `buildLogPath`.
 * @throws StrataError ParameterInvalid for anything else (unknown kind, wrong depth, non-canonical IDs).
 */
export function parseLogPath(key: string): LogPath {
  if (typeof key !== "string") throw bad("log path must be a string");
  const parts = key.split("/");
  const [kind, c, p, s] = parts;
  if (kind !== INSERT_LOG && kind !== STATS_LOG && kind !== DELTA_LOG) {
    throw bad(`log path ${JSON.stringify(key)}: unknown kind ${JSON.stringify(kind)}`);
  }
  const depth = kind === DELTA_LOG ? 5 : 6;
  if (parts.length !== depth || c === undefined || p === undefined || s === undefined) {
    throw bad(`log path ${JSON.stringify(key)}: expected ${depth} segments, found ${parts.length}`);
  }
  const collectionId = parseId("collectionId", c, key);
  const partitionId = parseId("partitionId", p, key);
  const segmentId = parseId("segmentId", s, key);
  if (kind === DELTA_LOG) {
    return { kind, collectionId, partitionId, segmentId, logId: parseId("logId", parts[4] ?? "", key) };
  }
  const f = parseId("fieldId", parts[4] ?? "", key);
  if (f > BigInt(Number.MAX_SAFE_INTEGER))
    throw bad(`log path ${JSON.stringify(key)}: fieldId is out of range`);
  return {
    kind,
    collectionId,
    partitionId,
    segmentId,
    fieldId: Number(f),
    logId: parseId("logId", parts[5] ?? "", key),
  };
}

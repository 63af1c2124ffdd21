/** Input checks: bad requests get a typed error before anything changes. */
import { StrataError } from "../common/errors.ts";
import type {
  AssignSegIDRequest,
  Binlog,
  ChannelTickReport,
  FieldBinlogs,
  NodeInfo,
  SaveBinlogPathsRequest,
} from "./types.ts";

const CHANNEL_RE = /^[A-Za-z0-9_-]{1,200}$/;
const MAX_COUNT = 2 ** 32 - 1;

function invalid(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

export function checkId(v: unknown, what: string): bigint {
  if (typeof v !== "bigint" || v < 0n) invalid(`${what} must be a non-negative bigint, got ${String(v)}`);
  return v;
}

export function checkNodeId(v: unknown): number {
  if (!isCount(v)) invalid(`nodeId must be a non-negative integer, got ${String(v)}`);
  return v;
}

export function checkChannelName(v: unknown): string {
  if (typeof v !== "string" || !CHANNEL_RE.test(v)) {
    invalid(`invalid channel name ${JSON.stringify(v)}: need 1..200 chars of [A-Za-z0-9_-]`);
  }
  return v;
}

export function checkNodeInfo(req: unknown): NodeInfo {
  if (!isObject(req)) invalid("registerNode needs a NodeInfo");
  checkNodeId(req.nodeId);
  if (typeof req.address !== "string") invalid("NodeInfo.address must be a string");
  return req as unknown as NodeInfo;
}

export function checkAssignRequest(req: unknown): AssignSegIDRequest {
  if (!isObject(req) || !Array.isArray(req.perChannelRequest)) {
    invalid("assignSegmentID needs perChannelRequest[]");
  }
  for (const [i, r] of (req.perChannelRequest as unknown[]).entries()) {
    if (!isObject(r)) invalid(`perChannelRequest[${i}] must be an object`);
    if (!isCount(r.count) || r.count < 1 || r.count > MAX_COUNT) {
      invalid(
        `perChannelRequest[${i}].count must be an integer in [1, ${MAX_COUNT}], got ${String(r.count)}`,
      );
    }
    checkChannelName(r.channelName);
    checkId(r.collectionId, `perChannelRequest[${i}].collectionId`);
    checkId(r.partitionId, `perChannelRequest[${i}].partitionId`);
  }
  return req as unknown as AssignSegIDRequest;
}

function checkBinlog(b: unknown, what: string, paths: Set<string>): void {
  if (!isObject(b)) invalid(`${what} must be an object`);
  if (typeof b.path !== "string" || b.path.length === 0) invalid(`${what}.path must be a non-empty string`);
  if (paths.has(b.path)) invalid(`${what}: path ${b.path} appears twice in the request`);
  paths.add(b.path);
  if (!isCount(b.entries)) invalid(`${what}.entries must be a non-negative integer`);
  if (!isCount(b.size)) invalid(`${what}.size must be a non-negative integer`);
  if (typeof b.timestampFrom !== "bigint" || typeof b.timestampTo !== "bigint") {
    invalid(`${what}.timestampFrom/To must be bigint timestamps`);
  }
}

function checkFieldBinlogs(list: unknown, what: string, paths: Set<string>): void {
  if (!Array.isArray(list)) invalid(`${what} must be an array`);
  const seen = new Set<number>();
  for (const [i, f] of (list as unknown[]).entries()) {
    if (!isObject(f) || !isCount(f.fieldId)) invalid(`${what}[${i}].fieldId must be a non-negative integer`);
    if (seen.has(f.fieldId as number)) invalid(`${what}: field ${String(f.fieldId)} appears twice`);
    seen.add(f.fieldId as number);
    if (!Array.isArray(f.binlogs)) invalid(`${what}[${i}].binlogs must be an array`);
    for (const [j, b] of (f.binlogs as unknown[]).entries())
      checkBinlog(b, `${what}[${i}].binlogs[${j}]`, paths);
  }
}

/** Validates the shape; returns every file path of the request. */
export function checkSaveRequest(req: unknown): { req: SaveBinlogPathsRequest; paths: Set<string> } {
  if (!isObject(req)) invalid("saveBinlogPaths needs a request object");
  checkNodeId(req.nodeId);
  checkId(req.segmentId, "segmentId");
  checkId(req.collectionId, "collectionId");
  checkId(req.partitionId, "partitionId");
  const channel = checkChannelName(req.channel);
  const paths = new Set<string>();
  checkFieldBinlogs(req.fieldBinlogs, "fieldBinlogs", paths);
  checkFieldBinlogs(req.statslogs, "statslogs", paths);
  if (!Array.isArray(req.deltalogs)) invalid("deltalogs must be an array");
  for (const [i, b] of (req.deltalogs as unknown[]).entries()) checkBinlog(b, `deltalogs[${i}]`, paths);
  if (!isCount(req.persistedRows)) invalid("persistedRows must be a non-negative integer");
  if (!isCount(req.persistedSeq)) invalid("persistedSeq must be a non-negative integer");
  const cp = req.checkpoint;
  if (!isObject(cp) || !isCount(cp.seq) || typeof cp.timestamp !== "bigint") {
    invalid("checkpoint needs {channel, seq, timestamp}");
  }
  if (cp.channel !== channel) invalid(`checkpoint is for channel ${String(cp.channel)}, not ${channel}`);
  if (typeof req.flushed !== "boolean") invalid("flushed must be a boolean");
  return { req: req as unknown as SaveBinlogPathsRequest, paths };
}

/** A tick report from the wire; undefined when it is malformed (it is logged and skipped). */
export function parseTickReport(v: unknown): ChannelTickReport | undefined {
  if (!isObject(v)) return undefined;
  if (!isCount(v.nodeId) || typeof v.channel !== "string" || typeof v.collectionId !== "bigint")
    return undefined;
  if (typeof v.timestamp !== "bigint" || !isCount(v.seq) || !Array.isArray(v.segments)) return undefined;
  for (const s of v.segments as unknown[]) {
    if (!isObject(s) || typeof s.segmentId !== "bigint" || !isCount(s.numRows)) return undefined;
  }
  return v as unknown as ChannelTickReport;
}

export function allPaths(r: {
  readonly binlogs: readonly FieldBinlogs[];
  readonly statslogs: readonly FieldBinlogs[];
  readonly deltalogs: readonly Binlog[];
}): Set<string> {
  const out = new Set<string>();
  for (const f of r.binlogs) for (const b of f.binlogs) out.add(b.path);
  for (const f of r.statslogs) for (const b of f.binlogs) out.add(b.path);
  for (const b of r.deltalogs) out.add(b.path);
  return out;
}

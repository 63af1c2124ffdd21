/** Input checks: bad requests get a typed error before anything changes. */
import { StrataError } from "../common/errors.ts";
import type { NodeInfo } from "../dataservice/types.ts";

function invalid(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

export function checkId(v: unknown, what: string): bigint {
  if (typeof v !== "bigint" || v < 0n) invalid(`${what} must be a non-negative bigint, got ${String(v)}`);
  return v;
}

export function checkNodeId(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    invalid(`nodeId must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

export function checkNodeInfo(req: unknown): NodeInfo {
  if (!isObject(req)) invalid("registerNode needs a NodeInfo");
  const nodeId = checkNodeId(req.nodeId);
  if (typeof req.address !== "string") invalid("NodeInfo.address must be a string");
  return { nodeId, address: req.address };
}

export function checkTimeout(v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    invalid(`timeoutMs must be a non-negative number, got ${String(v)}`);
  }
  return v;
}

/** A load/release/describe request: ids checked, partition IDs de-duplicated (empty = all). */
export function checkPartitionRequest(
  req: unknown,
  what: string,
): { dbId: bigint; collectionId: bigint; partitionIds: bigint[] } {
  if (!isObject(req)) invalid(`${what} needs a request object`);
  const dbId = req.dbId === undefined ? 0n : checkId(req.dbId, "dbId");
  const collectionId = checkId(req.collectionId, "collectionId");
  if (!Array.isArray(req.partitionIds)) invalid(`${what} needs partitionIds[]`);
  const ids = (req.partitionIds as unknown[]).map((p, i) => checkId(p, `partitionIds[${i}]`));
  return { dbId, collectionId, partitionIds: [...new Set(ids)] };
}

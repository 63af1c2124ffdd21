import { StrataError } from "../common/errors.ts";
import type { FieldSchema } from "../common/schema.ts";
import { isVectorType } from "../common/types.ts";
import {
  type DataService,
  type IndexBuildsDescription,
  type IndexDefinition,
  type SegmentInfo,
  SegmentState,
} from "../dataservice/types.ts";
import type { MetricType } from "../index/metric.ts";
import { isExactIndexType, resolveIndexParams } from "../index/params.ts";
import type { CollectionInfo, RootCoord } from "../rootcoord/types.ts";
import type { CreateIndexRequest, IndexInfo } from "./index-types.ts";
import type { LoadState } from "./read-types.ts";

export interface IndexDeps {
  readonly rootcoord: RootCoord;
  readonly dataservice: DataService;
  readonly loadState: (collection: string) => Promise<LoadState>;
}

function vectorField(info: CollectionInfo, name: string | undefined): FieldSchema {
  const vectors = info.schema.fields.filter((f) => isVectorType(f.dataType));
  if (name === undefined || name === "") {
    if (vectors.length === 1) return vectors[0] as FieldSchema;
    throw new StrataError(
      "ParameterInvalid",
      `collection ${info.schema.name} has ${vectors.length} vector fields: name the field to index`,
    );
  }
  const f = info.schema.fields.find((x) => x.name === name);
  if (f === undefined)
    throw new StrataError("FieldNotFound", `field ${name} not found in ${info.schema.name}`);
  if (!isVectorType(f.dataType)) {
    throw new StrataError(
      "ParameterInvalid",
      `field ${name} is not a vector field; scalar indexes are not supported (filters scan)`,
    );
  }
  return f;
}

/** Proxy side of the index calls: validation here, bookkeeping in the dataservice. */
export async function createIndex(d: IndexDeps, req: CreateIndexRequest): Promise<void> {
  const info = await d.rootcoord.describeCollection(req.collectionName);
  const field = vectorField(info, req.fieldName);
  const r = resolveIndexParams(field.name, field.dataType, req.indexType, req.metricType, req.params ?? {});
  const indexName = req.indexName === undefined || req.indexName === "" ? field.name : req.indexName;
  await d.dataservice.createIndex({
    collectionId: info.collectionId,
    fieldId: field.fieldId,
    indexName,
    indexType: r.indexType,
    resolvedType: r.resolvedType,
    metricType: r.metricType,
    params: r.params,
  });
}

function rowsOf(segments: readonly SegmentInfo[]): number {
  let n = 0;
  for (const s of segments) n += s.numRows;
  return n;
}

function toInfo(
  def: IndexDefinition,
  field: FieldSchema | undefined,
  segments: readonly SegmentInfo[],
  builds: IndexBuildsDescription,
  exact: boolean,
): IndexInfo {
  const total = rowsOf(segments);
  const base = {
    indexId: def.indexId,
    indexName: def.indexName,
    fieldName: field?.name ?? "",
    fieldId: def.fieldId,
    indexType: def.indexType,
    resolvedType: def.resolvedType,
    metricType: def.metricType as MetricType,
    params: def.params,
    totalRows: total,
  };
  // Exact types (FLAT, BIN_FLAT, …) serve every row by a scan: nothing is ever pending.
  if (exact) return { ...base, state: "Finished", indexedRows: total, pendingRows: 0, failReason: "" };
  const bySegment = new Map(
    builds.builds.filter((b) => b.indexId === def.indexId).map((b) => [b.segmentId, b]),
  );
  let indexed = 0;
  let pending = 0;
  let failReason = "";
  for (const s of segments) {
    if (s.state !== SegmentState.FLUSHED) continue; // growing rows are scanned, as in Milvus
    const b = bySegment.get(s.segmentId);
    if (b === undefined) {
      // Just flushed and not recorded yet, or too small to index (scanned, nothing to wait for).
      if (s.persistedRows >= builds.minRows) pending += s.persistedRows;
    } else if (b.state === "Finished") indexed += b.rows;
    else if (b.state === "Failed") failReason ||= `segment ${s.segmentId}: ${b.failReason}`;
    else pending += b.rows;
  }
  const state = failReason !== "" ? "Failed" : pending > 0 ? "InProgress" : "Finished";
  return { ...base, state, indexedRows: indexed, pendingRows: pending, failReason };
}

/** The collection's index definitions matching an index or field name (all when none). @throws IndexNotFound */
async function matching(
  d: IndexDeps,
  collection: string,
  name: string | undefined,
): Promise<{ info: CollectionInfo; defs: IndexDefinition[] }> {
  const info = await d.rootcoord.describeCollection(collection);
  let defs = await d.dataservice.describeIndexes(info.collectionId);
  if (name !== undefined && name !== "") {
    defs = defs.filter(
      (x) => x.indexName === name || info.schema.fields.find((f) => f.fieldId === x.fieldId)?.name === name,
    );
  }
  if (defs.length === 0) {
    throw new StrataError(
      "IndexNotFound",
      name === undefined || name === ""
        ? `collection ${collection} has no index`
        : `index ${name} not found in collection ${collection}`,
    );
  }
  return { info, defs };
}

export async function describeIndex(d: IndexDeps, collection: string, name?: string): Promise<IndexInfo[]> {
  const { info, defs } = await matching(d, collection, name);
  const segments = await d.dataservice.listSegments(info.collectionId);
  const builds = await d.dataservice.describeIndexBuilds(info.collectionId);
  return defs.map((x) =>
    toInfo(
      x,
      info.schema.fields.find((f) => f.fieldId === x.fieldId),
      segments,
      builds,
      isExactIndexType(x.resolvedType),
    ),
  );
}

export async function dropIndex(d: IndexDeps, collection: string, name?: string): Promise<void> {
  const { info, defs } = await matching(d, collection, name);
  if (defs.length > 1) {
    throw new StrataError(
      "ParameterInvalid",
      `collection ${collection} has several indexes: name the one to drop`,
    );
  }
  if ((await d.loadState(collection)) !== "NotLoad") {
    throw new StrataError(
      "ParameterInvalid",
      `index cannot be dropped while collection ${collection} is loaded: release it first`,
    );
  }
  await d.dataservice.dropIndex(info.collectionId, (defs[0] as IndexDefinition).indexName);
}

export async function statistics(
  d: IndexDeps,
  collection: string,
  partition?: string,
): Promise<{ rowCount: number }> {
  const info = await d.rootcoord.describeCollection(collection);
  let segments = await d.dataservice.listSegments(info.collectionId);
  if (partition !== undefined) {
    const p = info.partitions.find((x) => x.name === partition);
    if (p === undefined)
      throw new StrataError("PartitionNotFound", `partition ${partition} not found in ${collection}`);
    segments = segments.filter((s) => s.partitionId === p.partitionId);
  }
  return { rowCount: rowsOf(segments) };
}

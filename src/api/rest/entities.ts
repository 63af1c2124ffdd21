import type { SparseRow } from "../../common/column.ts";
import { StrataError } from "../../common/errors.ts";
import type { FieldSchema } from "../../common/schema.ts";
import { DataType } from "../../common/types.ts";
import { isMetricType } from "../../index/metric.ts";
import type { ProxyService, SearchRequest } from "../../proxy/index.ts";
import { MAX_TOPK } from "../../proxy/read-types.ts";
import type { MetricType } from "../../querynode/types.ts";
import { consistency, ok, partitionNames, type RestContext, type RouteHandler } from "./context.ts";
import { badFormat, missing, RestError, unsupported } from "./errors.ts";
import { isPlainObject, type Params } from "./params.ts";
import { annsField } from "./schema.ts";
import { restSearchParams } from "./search-params.ts";
import { COUNT_STAR, float32Out, planOutput, RowsOut, rowsIn } from "./values.ts";

/** Milvus REST's default page size for search and query. */
const DEFAULT_LIMIT = 100;

function rowsReported(ctx: RestContext, kind: "insert" | "upsert" | "delete", n: number): void {
  try {
    ctx.hooks?.onRows?.(kind, n);
  } catch (e) {
    ctx.logger.warn({ err: e }, "rest: onRows hook failed");
  }
}

function noTemplates(p: Params): void {
  const v = p.obj("exprParams");
  if (v !== undefined && v.entries().length > 0) throw unsupported("exprParams (filter templates)");
}

async function write(ctx: RestContext, kind: "insert" | "upsert") {
  const { proxy, p, int64 } = ctx;
  const name = p.reqStr("collectionName");
  const data = p.raw("data");
  if (data === undefined) throw missing("data");
  const info = await proxy.describeCollection(name);
  const rows = rowsIn(data, info.schema);
  const partitionName = p.str("partitionName");
  const req = { collectionName: name, data: { rows }, ...(partitionName ? { partitionName } : {}) };
  const res = kind === "insert" ? await proxy.insert(req) : await proxy.upsert(req);
  rowsReported(ctx, kind, res.count);
  return kind === "insert"
    ? ok({ insertCount: res.count, insertIds: int64.ids(res.ids) })
    : ok({ upsertCount: res.count, upsertIds: int64.ids(res.ids) });
}

/** `id` of get/delete: one key or a list, Int64 keys as numbers or decimal strings. */
function idList(p: Params): unknown[] {
  const v = p.raw("id");
  if (v === undefined) throw missing("id");
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw missing("id");
  for (const x of list) {
    if (typeof x !== "number" && typeof x !== "string" && typeof x !== "bigint")
      throw new RestError("CheckPrimaryKey", `id ${JSON.stringify(x)} is neither an integer nor a string`);
  }
  return list;
}

async function remove(ctx: RestContext) {
  const { proxy, p } = ctx;
  const name = p.reqStr("collectionName");
  noTemplates(p);
  const filter = p.str("filter");
  const partitionName = p.str("partitionName");
  let target: { filter: string } | { pks: unknown[] };
  if (filter !== undefined && filter.trim() !== "") target = { filter };
  else if (p.has("id")) target = { pks: idList(p) };
  else throw missing("filter");
  const res = await proxy.delete({
    collectionName: name,
    ...target,
    ...(partitionName ? { partitionName } : {}),
  });
  rowsReported(ctx, "delete", res.count);
  return ok({ deleteCount: res.count });
}

function checkWindow(limit: number | undefined, offset: number): void {
  if (limit !== undefined && limit + offset > MAX_TOPK)
    throw new StrataError(
      "ParameterInvalid",
      `offset + limit must be at most ${MAX_TOPK}, got ${limit + offset}`,
    );
}

async function query({ proxy, p, int64 }: RestContext) {
  const name = p.reqStr("collectionName");
  noTemplates(p);
  const info = await proxy.describeCollection(name);
  const plan = planOutput(info.schema, p.strList("outputFields") ?? ["*"], true);
  const counting = plan.fields.length === 1 && plan.fields[0] === COUNT_STAR;
  const limitIn = p.int("limit") ?? DEFAULT_LIMIT;
  const limit = counting || limitIn <= 0 ? undefined : limitIn;
  const offset = p.int("offset") ?? 0;
  checkWindow(limit, offset);
  const filter = p.str("filter");
  const partitions = partitionNames(p);
  const level = consistency(p);
  const rows = await proxy.query({
    collectionName: name,
    outputFields: plan.fields,
    ...(filter ? { filter } : {}),
    ...(limit === undefined ? {} : { limit }),
    ...(offset > 0 ? { offset } : {}),
    ...(partitions === undefined ? {} : { partitionNames: partitions }),
    consistencyLevel: level ?? info.consistencyLevel ?? "Bounded",
  });
  const out = new RowsOut(info.schema, int64, plan);
  return ok(rows.map((r) => out.row(r)));
}

async function get({ proxy, p, int64 }: RestContext) {
  const name = p.reqStr("collectionName");
  const ids = idList(p);
  const info = await proxy.describeCollection(name);
  const plan = planOutput(info.schema, p.strList("outputFields") ?? ["*"], true);
  const one = p.str("partitionName");
  const partitions = partitionNames(p) ?? (one ? [one] : undefined);
  const level = consistency(p);
  const rows = await proxy.query({
    collectionName: name,
    ids,
    outputFields: plan.fields,
    ...(partitions === undefined ? {} : { partitionNames: partitions }),
    consistencyLevel: level ?? info.consistencyLevel ?? "Bounded",
  });
  const out = new RowsOut(info.schema, int64, plan);
  return ok(rows.map((r) => out.row(r)));
}

function numberRow(v: unknown, i: number): number[] {
  if (!Array.isArray(v)) throw badFormat(`data[${i}] must be an array of numbers`);
  return v.map((x) => {
    if (typeof x === "number") return x;
    if (typeof x === "bigint") return Number(x);
    throw badFormat(`data[${i}] must be an array of numbers`);
  });
}

function byteRow(v: unknown, i: number): Uint8Array {
  if (typeof v === "string") return Uint8Array.from(Buffer.from(v, "base64"));
  if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 255))
    throw badFormat(`data[${i}] must be bytes: an array of integers in [0, 255] or a base64 string`);
  return Uint8Array.from(v as number[]);
}

function sparseRow(v: unknown, i: number): SparseRow {
  if (!isPlainObject(v)) throw badFormat(`data[${i}] must be a sparse vector ({"index": value})`);
  let pairs: [number, number][];
  if (Array.isArray(v.indices) && Array.isArray(v.values)) {
    const idx = v.indices as unknown[];
    const vals = v.values as unknown[];
    if (idx.length !== vals.length) throw badFormat(`data[${i}]: indices and values differ in length`);
    pairs = idx.map((k, j) => [Number(k), Number(vals[j])]);
  } else pairs = Object.entries(v).map(([k, x]) => [Number(k), Number(x)]);
  pairs.sort((a, b) => a[0] - b[0]);
  const indices = new Uint32Array(pairs.length);
  const values = new Float32Array(pairs.length);
  pairs.forEach(([k, x], j) => {
    if (!Number.isInteger(k) || k < 0 || k >= 2 ** 32 - 1 || (j > 0 && k === indices[j - 1]))
      throw badFormat(`data[${i}]: sparse index ${k} is invalid or repeated`);
    if (!Number.isFinite(x)) throw badFormat(`data[${i}]: sparse value at ${k} is not a finite number`);
    indices[j] = k;
    values[j] = x;
  });
  return { indices, values };
}

function queryVectors(field: FieldSchema, data: readonly unknown[]): SearchRequest["data"] {
  if (field.dataType === DataType.BinaryVector) return data.map(byteRow);
  if (field.dataType === DataType.SparseFloatVector) return data.map(sparseRow);
  return data.map(numberRow);
}

/** The metric of the index on the field, which Milvus uses when a search names none. */
async function indexMetric(
  proxy: ProxyService,
  collection: string,
  field: string,
): Promise<MetricType | undefined> {
  try {
    return (await proxy.describeIndex(collection)).find((ix) => ix.fieldName === field)?.metricType;
  } catch {
    // No index (or none readable): the proxy's per-type default applies.
    return undefined;
  }
}

function searchMetric(p: Params): string | undefined {
  const sp = p.obj("searchParams");
  const inner = sp?.obj("params");
  for (const range of ["radius", "range_filter"]) {
    if (sp?.has(range) || inner?.has(range) || p.obj("params")?.has(range))
      throw unsupported(`range search (searchParams.${range})`);
  }
  return sp?.str("metricType") || p.str("metricType") || inner?.str("metric_type") || undefined;
}

async function search({ proxy, p, int64 }: RestContext) {
  const name = p.reqStr("collectionName");
  const data = p.list("data");
  if (data === undefined || data.length === 0) throw missing("data");
  noTemplates(p);
  if (p.str("groupingField")) throw unsupported("grouping search (groupingField)");
  const info = await proxy.describeCollection(name);
  const field = annsField(info, p.str("annsField"));
  const queries = queryVectors(field, data);
  const metricIn = searchMetric(p) ?? (await indexMetric(proxy, name, field.name));
  if (metricIn !== undefined && !isMetricType(metricIn))
    throw new StrataError("ParameterInvalid", `metric type ${metricIn} is not supported`);
  const params = restSearchParams(p);
  const limit = p.int("limit") ?? DEFAULT_LIMIT;
  const offset = p.int("offset") ?? 0;
  checkWindow(limit, offset);
  const plan = planOutput(info.schema, p.strList("outputFields") ?? [], false);
  const filter = p.str("filter");
  const partitions = partitionNames(p);
  const level = consistency(p);
  const hits = await proxy.search({
    collectionName: name,
    data: queries,
    annsField: field.name,
    limit,
    offset,
    outputFields: plan.fields,
    ...(metricIn === undefined ? {} : { metricType: metricIn }),
    ...(filter ? { filter } : {}),
    ...(partitions === undefined ? {} : { partitionNames: partitions }),
    ...(Object.keys(params).length === 0 ? {} : { params }),
    consistencyLevel: level ?? info.consistencyLevel ?? "Bounded",
  });
  const out = new RowsOut(info.schema, int64, plan);
  const pkName = info.schema.fields.find((f) => f.isPrimaryKey)?.name ?? "id";
  // Milvus answers every query's hits in one flat list; topks says where each query's hits end.
  const rows: Record<string, unknown>[] = [];
  for (const list of hits) {
    for (const h of list) {
      const row = out.row(h.fields, { [pkName]: out.pk(h.id) });
      row.distance = float32Out(h.score);
      rows.push(row);
    }
  }
  return ok(rows, { topks: hits.map((l) => l.length) });
}

async function hybridSearch(_ctx: RestContext): Promise<never> {
  throw unsupported("hybrid search (entities/hybrid_search): run one search per vector field");
}

export const ENTITY_ROUTES: Readonly<Record<string, RouteHandler>> = {
  "entities/insert": (ctx) => write(ctx, "insert"),
  "entities/upsert": (ctx) => write(ctx, "upsert"),
  "entities/delete": remove,
  "entities/get": get,
  "entities/query": query,
  "entities/search": search,
  "entities/hybrid_search": hybridSearch,
  "entities/advanced_search": hybridSearch,
};

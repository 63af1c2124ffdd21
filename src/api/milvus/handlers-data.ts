import type { SparseRow } from "../../common/column.ts";
import { StrataError } from "../../common/errors.ts";
import { type FieldSchema, primaryField } from "../../common/schema.ts";
import { DataType } from "../../common/types.ts";
import { decodeBFloat16, decodeFloat16 } from "../../index/decode.ts";
import { isMetricType } from "../../index/metric.ts";
import { annsFieldOf, type MutationResult, type QueryRow, type SearchRequest } from "../../proxy/index.ts";
import type { FrontDoorHooks } from "../hooks.ts";
import type { Handlers, MilvusContext } from "./context.ts";
import { countColumn, queryColumnsOut, searchResultsOut } from "./field-output.ts";
import { columnsFromWire, decodeSparse, type WireFieldData } from "./fields.ts";
import { indexSearchParams } from "./search-params.ts";
import { consistency, int64List, kvs, name, num, partitions, str, strs, type WireRequest } from "./wire.ts";

const COUNT = "count(*)";

function bad(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

function idsToWire(ids: MutationResult["ids"]): Record<string, unknown> {
  return ids instanceof BigInt64Array
    ? { int_id: { data: Array.from(ids, (x) => x.toString()) } }
    : { str_id: { data: [...ids] } };
}

function mutation(
  r: MutationResult,
  kind: "insert_cnt" | "upsert_cnt" | "delete_cnt",
): Record<string, unknown> {
  return {
    IDs: idsToWire(r.ids),
    succ_index: kind === "delete_cnt" ? [] : Array.from({ length: r.count }, (_, i) => i),
    err_index: [],
    acknowledged: true,
    insert_cnt: kind === "insert_cnt" ? String(r.count) : "0",
    upsert_cnt: kind === "upsert_cnt" ? String(r.count) : "0",
    delete_cnt: kind === "delete_cnt" ? String(r.count) : "0",
    timestamp: r.timestamp.toString(),
  };
}

function numRows(req: WireRequest): number {
  const n = num(req, "num_rows");
  if (!Number.isInteger(n) || n <= 0) bad("num_rows must be a positive integer");
  return n;
}

/** Query vectors from `placeholder_group` bytes, copied into aligned typed arrays. */
function searchVectors(ctx: MilvusContext, field: FieldSchema, raw: unknown): SearchRequest["data"] {
  if (!(raw instanceof Uint8Array) || raw.byteLength === 0)
    bad("the search has no query vectors (placeholder_group)");
  let group: ReturnType<typeof ctx.proto.decodePlaceholders>;
  try {
    group = ctx.proto.decodePlaceholders(raw);
  } catch (e) {
    bad(`placeholder_group cannot be decoded: ${(e as Error).message}`);
  }
  const [ph] = group.placeholders;
  if (ph === undefined || ph.values.length === 0) bad("the search has no query vectors");
  if (group.placeholders.length > 1) bad("one placeholder per search is supported");
  const dim = field.dim ?? 0;
  const values = ph.values;
  switch (ph.type) {
    case "FloatVector": {
      if (field.dataType === DataType.BinaryVector || field.dataType === DataType.SparseFloatVector) {
        bad(
          `field ${field.name} needs ${field.dataType === DataType.BinaryVector ? "binary" : "sparse"} query vectors`,
        );
      }
      const out = new Float32Array(values.length * dim);
      const bytes = new Uint8Array(out.buffer);
      values.forEach((v, i) => {
        if (v.byteLength !== dim * 4) {
          bad(`query vector ${i} has dim ${v.byteLength / 4}, the field ${field.name} has dim ${dim}`);
        }
        bytes.set(v, i * dim * 4);
      });
      return out;
    }
    case "Float16Vector":
    case "BFloat16Vector": {
      const u = new Uint16Array(values.length * dim);
      const bytes = new Uint8Array(u.buffer);
      values.forEach((v, i) => {
        if (v.byteLength !== dim * 2) bad(`query vector ${i} has dim ${v.byteLength / 2}, expected ${dim}`);
        bytes.set(v, i * dim * 2);
      });
      return ph.type === "Float16Vector" ? decodeFloat16(u) : decodeBFloat16(u);
    }
    case "BinaryVector": {
      const width = dim / 8;
      const out = new Uint8Array(values.length * width);
      values.forEach((v, i) => {
        if (v.byteLength !== width)
          bad(`query vector ${i} has ${v.byteLength} bytes, expected ${width} (dim ${dim})`);
        out.set(v, i * width);
      });
      return out;
    }
    case "SparseFloatVector":
      return values.map((v, i): SparseRow => decodeSparse(v, `query vector ${i}`));
    default:
      return bad(`query vectors of type ${ph.type} are not supported`);
  }
}

function positiveInt(v: string | undefined, what: string, fallback: number): number {
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) bad(`${what} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * Insert, upsert, delete, flush, search and query. Search and Query answer with encode-ready
 * objects (`field-output.ts`): their replies skip proto-loader's conversion (`DIRECT_REPLIES`).
 */
export function dataHandlers(ctx: MilvusContext, hooks: FrontDoorHooks): Handlers {
  const { proxy } = ctx;
  const write = async (req: WireRequest, kind: "insert" | "upsert") => {
    const collection = name(req, "collection_name", "collection_name");
    const info = await ctx.collection(collection);
    const rows = numRows(req);
    const fieldsData = (req.fields_data ?? []) as readonly WireFieldData[];
    const columns = columnsFromWire(info.schema, fieldsData, rows);
    const partition = str(req, "partition_name");
    const request = {
      collectionName: collection,
      data: { columns },
      ...(partition === "" ? {} : { partitionName: partition }),
    };
    const r = kind === "insert" ? await proxy.insert(request) : await proxy.upsert(request);
    if (r.count !== rows) bad(`num_rows is ${rows} but the fields hold ${r.count} rows`);
    hooks.onRows?.(kind, r.count);
    return r;
  };
  return {
    async Insert(req) {
      return mutation(await write(req, "insert"), "insert_cnt");
    },
    async Upsert(req) {
      if (req.partial_update === true) bad("partial updates are not supported yet: send every field");
      return mutation(await write(req, "upsert"), "upsert_cnt");
    },
    async Delete(req) {
      const collection = name(req, "collection_name", "collection_name");
      const expr = str(req, "expr");
      if (expr.trim() === "") bad("delete needs a filter expression (expr)");
      if (Object.keys((req.expr_template_values ?? {}) as object).length > 0) {
        bad("expression template values are not supported yet: put the values in the expression");
      }
      const partition = str(req, "partition_name");
      const r = await proxy.delete({
        collectionName: collection,
        filter: expr,
        ...(partition === "" ? {} : { partitionName: partition }),
      });
      hooks.onRows?.("delete", r.count);
      return mutation(r, "delete_cnt");
    },
    async Flush(req) {
      const names = strs(req, "collection_names");
      if (names.length === 0) bad("collection_names is required");
      const segs: Record<string, { data: string[] }> = {};
      const sealTimes: Record<string, string> = {};
      const flushTs: Record<string, string> = {};
      for (const n of names) {
        const r = await proxy.flush([n], { wait: false });
        segs[n] = { data: r.segmentIds.map(String) };
        sealTimes[n] = String(Math.floor(Date.now() / 1000));
        flushTs[n] = "0";
      }
      return {
        db_name: "default",
        coll_segIDs: segs,
        flush_coll_segIDs: segs,
        coll_seal_times: sealTimes,
        coll_flush_ts: flushTs,
      };
    },
    async GetFlushState(req) {
      return { flushed: await proxy.flushState(int64List({ data: req.segmentIDs })) };
    },

    async Search(req) {
      const collection = name(req, "collection_name", "collection_name");
      const info = await ctx.collection(collection);
      if (Array.isArray(req.sub_reqs) && req.sub_reqs.length > 0) bad("hybrid search is not supported yet");
      if (req.search_input === "ids" || req.search_by_primary_keys === true)
        bad("search by primary keys is not supported yet");
      const sp = kvs(req, "search_params");
      for (const k of ["group_by_field", "radius", "range_filter"]) {
        if ((sp.get(k) ?? "") !== "") bad(`${k} is not supported yet`);
      }
      const params = indexSearchParams(sp);
      const annsName = sp.get("anns_field") ?? "";
      const field = annsFieldOf(info, annsName === "" ? undefined : annsName);
      const limit = positiveInt(sp.get("topk"), "topk", 10);
      const offset = positiveInt(sp.get("offset"), "offset", 0);
      const metricRaw = (sp.get("metric_type") ?? "").toUpperCase();
      if (metricRaw !== "" && !isMetricType(metricRaw)) bad(`unknown metric type ${metricRaw}`);
      const requested = strs(req, "output_fields");
      const pkName = primaryField(info.schema).name;
      const filter = str(req, "dsl");
      const parts = partitions(req);
      const hits = await proxy.search({
        collectionName: collection,
        data: searchVectors(ctx, field, req.placeholder_group),
        annsField: field.name,
        limit,
        offset,
        // Hits carry their primary key: fetching it again as an output field is wasted work.
        outputFields: requested.filter((n) => n !== pkName),
        consistencyLevel: consistency(req, info.consistencyLevel),
        ...(metricRaw === "" ? {} : { metricType: metricRaw as NonNullable<SearchRequest["metricType"]> }),
        ...(filter.trim() === "" ? {} : { filter }),
        ...(parts === undefined ? {} : { partitionNames: parts }),
        ...(Object.keys(params).length === 0 ? {} : { params }),
      });
      return { collection_name: collection, results: searchResultsOut(info, hits, requested, limit) };
    },

    async Query(req) {
      const collection = name(req, "collection_name", "collection_name");
      const info = await ctx.collection(collection);
      const qp = kvs(req, "query_params");
      const requested = strs(req, "output_fields");
      const expr = str(req, "expr");
      if (Object.keys((req.expr_template_values ?? {}) as object).length > 0) {
        bad("expression template values are not supported yet: put the values in the expression");
      }
      const parts = partitions(req);
      const limitRaw = qp.get("limit");
      const offset = positiveInt(qp.get("offset"), "offset", 0);
      const common = {
        collectionName: collection,
        consistencyLevel: consistency(req, info.consistencyLevel),
        ...(expr.trim() === "" ? {} : { filter: expr }),
        ...(parts === undefined ? {} : { partitionNames: parts }),
      };
      if (requested.some((n) => n.toLowerCase() === COUNT)) {
        if (requested.length > 1) bad("count(*) cannot be combined with other output fields");
        const [row] = await proxy.query({ outputFields: [COUNT], ...common });
        const n = Number((row as QueryRow | undefined)?.[COUNT] ?? 0);
        return {
          collection_name: collection,
          output_fields: [COUNT],
          primary_field_name: primaryField(info.schema).name,
          fields_data: [countColumn(COUNT, n)],
        };
      }
      const pk = primaryField(info.schema);
      const names = requested.length === 0 ? [pk.name] : requested;
      const qc = await proxy.queryColumns({
        outputFields: [...new Set([...names, pk.name])],
        offset,
        ...(limitRaw === undefined || limitRaw === "" ? {} : { limit: positiveInt(limitRaw, "limit", 0) }),
        ...common,
      });
      const out = queryColumnsOut(info, names, qc);
      return {
        collection_name: collection,
        output_fields: out.names,
        primary_field_name: pk.name,
        fields_data: out.fields,
      };
    },
  };
}

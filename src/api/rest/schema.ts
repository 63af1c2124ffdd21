import { StrataError } from "../../common/errors.ts";
import type { CollectionSchemaInput, FieldSchemaInput } from "../../common/schema.ts";
import type { ConsistencyLevel } from "../../common/types.ts";
import { DataType, dataTypeName, isVectorType } from "../../common/types.ts";
import type { CreateIndexRequest, IndexInfo } from "../../proxy/index.ts";
import type { CollectionInfo } from "../../rootcoord/types.ts";
import { badFormat, missing, RestError, unsupported } from "./errors.ts";
import type { Params } from "./params.ts";
import { isPlainObject } from "./params.ts";

/** Metric of a quick-create collection when none is given (Milvus' AUTOINDEX default). */
export const QUICK_METRIC = "COSINE";
/** Quick-create VarChar keys without `params.max_length` get Milvus' largest length. */
const QUICK_VARCHAR_LENGTH = 65535;

function typeParamValue(key: string, v: unknown): string | number {
  if (typeof v === "string" || typeof v === "number") return v;
  if (typeof v === "boolean") return String(v);
  if (typeof v === "bigint") return v.toString();
  if (isPlainObject(v) || Array.isArray(v)) return JSON.stringify(v);
  throw badFormat(`elementTypeParams.${key} must be a string, number or boolean`);
}

function restField(p: Params, autoId: boolean): FieldSchemaInput {
  const name = p.reqStr("fieldName");
  const dataType = p.reqStr("dataType");
  if (p.bool("nullable") === true) throw unsupported(`nullable fields (field ${name})`);
  if (p.has("defaultValue")) throw unsupported(`default values (field ${name})`);
  const isPrimaryKey = p.bool("isPrimary") === true;
  const typeParams: Record<string, string | number> = {};
  for (const [k, v] of p.obj("elementTypeParams")?.entries() ?? []) {
    if (v !== null && v !== undefined) typeParams[k] = typeParamValue(k, v);
  }
  const elementType = p.str("elementDataType");
  const description = p.str("description");
  return {
    name,
    // validateSchema checks the name against the catalogue (case-sensitive, as Milvus).
    dataType: dataType as FieldSchemaInput["dataType"],
    isPrimaryKey,
    ...(isPrimaryKey ? { autoId } : {}),
    ...(p.bool("isPartitionKey") === true ? { isPartitionKey: true } : {}),
    ...(elementType !== undefined && elementType !== ""
      ? { elementType: elementType as FieldSchemaInput["elementType"] & string }
      : {}),
    ...(description === undefined ? {} : { description }),
    ...(Object.keys(typeParams).length > 0 ? { typeParams } : {}),
  };
}

export interface CreatePlan {
  readonly schema: CollectionSchemaInput;
  readonly shardsNum?: number;
  /** The collection's default read consistency (Milvus' default Bounded). */
  readonly consistencyLevel?: ConsistencyLevel;
  /** Indexes to build before loading; none means "create only, do not load". */
  readonly indexes: readonly Omit<CreateIndexRequest, "collectionName">[];
}

const CONSISTENCY = new Set(["Strong", "Session", "Bounded", "Eventually", "Customized"]);

function shards(params: Params | undefined): number | undefined {
  const v = params?.raw("shardsNum");
  if (v === undefined) return undefined;
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n)) throw badFormat("params.shardsNum must be an integer");
  return n;
}

/** Reads a `collections/create` body: the quick form (`dimension`) or the full form (`schema`). */
export function createPlan(p: Params): CreatePlan {
  const name = p.reqStr("collectionName");
  const params = p.obj("params");
  const level = params?.raw("consistencyLevel") ?? p.raw("consistencyLevel");
  if (level !== undefined && (typeof level !== "string" || !CONSISTENCY.has(level))) {
    throw new StrataError(
      "ParameterInvalid",
      `consistencyLevel can only be [Strong, Session, Bounded, Eventually, Customized], got ${JSON.stringify(level)}`,
    );
  }
  for (const key of ["ttlSeconds", "partitionsNum", "partitionKeyIsolation"]) {
    if (params?.has(key)) throw unsupported(`params.${key}`);
  }
  const description = p.str("description");
  const schemaIn = p.obj("schema");
  const fieldsIn = schemaIn?.objList("fields") ?? [];
  const shardsNum = shards(params);
  const levelOpt =
    level === undefined
      ? {}
      : { consistencyLevel: (level === "Customized" ? "Bounded" : level) as ConsistencyLevel };
  if (fieldsIn.length === 0) {
    const dimension = p.int("dimension");
    if (dimension === undefined || dimension === 0)
      throw new StrataError("ParameterInvalid", "dimension is required to quickly create a collection");
    const idType = p.str("idType") ?? "";
    let idField: FieldSchemaInput;
    const pkName = p.str("primaryFieldName") || "id";
    const vecName = p.str("vectorFieldName") || "vector";
    const autoId = p.bool("autoID") === true;
    if (idType === "" || idType === "Int64" || idType === "int64") {
      idField = { name: pkName, dataType: "Int64", isPrimaryKey: true, autoId };
    } else if (idType === "VarChar" || idType === "Varchar") {
      const raw = params?.raw("max_length");
      const maxLength = raw === undefined ? QUICK_VARCHAR_LENGTH : Number(raw);
      idField = { name: pkName, dataType: "VarChar", isPrimaryKey: true, autoId, maxLength };
    } else {
      throw new StrataError("ParameterInvalid", `idType can only be [Int64, VarChar], got ${idType}`);
    }
    const dyn = params?.raw("enableDynamicField");
    if (dyn !== undefined && typeof dyn !== "boolean" && dyn !== "true" && dyn !== "false")
      throw badFormat("params.enableDynamicField must be true or false");
    const metricType = p.str("metricType") || QUICK_METRIC;
    return {
      schema: {
        name,
        ...(description === undefined ? {} : { description }),
        enableDynamicField: dyn === undefined ? true : dyn === true || dyn === "true",
        fields: [idField, { name: vecName, dataType: "FloatVector", dim: dimension }],
      },
      ...(shardsNum === undefined ? {} : { shardsNum }),
      ...levelOpt,
      ...levelOpt,
      indexes: [{ fieldName: vecName, indexName: vecName, indexType: "AUTOINDEX", metricType }],
    };
  }
  if (schemaIn?.list("functions")?.length) throw unsupported("schema functions");
  const autoId = schemaIn?.bool("autoID") === true;
  const fields = fieldsIn.map((f) => restField(f, autoId));
  const names = new Set(fields.map((f) => f.name));
  const indexes = (p.objList("indexParams") ?? []).map(indexSpec);
  // Checked before anything is created, so a typo leaves no half-made collection behind.
  for (const ix of indexes) {
    if (!names.has(ix.fieldName as string))
      throw new RestError("MissingRequiredParameters", `\`${ix.fieldName}\` hasn't defined in schema`);
  }
  return {
    schema: {
      name,
      ...(description === undefined ? {} : { description }),
      autoId,
      enableDynamicField: schemaIn?.bool("enableDynamicField") === true,
      fields,
    },
    ...(shardsNum === undefined ? {} : { shardsNum }),
    ...levelOpt,
    indexes,
  };
}

function indexParamValue(k: string, v: unknown): string | number | boolean {
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "bigint") return v.toString();
  if (isPlainObject(v) || Array.isArray(v)) return JSON.stringify(v);
  throw badFormat(`index params.${k} must be a string, number or boolean`);
}

/** One element of `indexParams`: `{fieldName, indexName?, metricType?, indexType?, params?}`. */
export function indexSpec(p: Params): Omit<CreateIndexRequest, "collectionName"> {
  const fieldName = p.reqStr("fieldName");
  const indexName = p.str("indexName");
  let metricType = p.str("metricType");
  let indexType = p.str("indexType");
  const params: Record<string, string | number | boolean> = {};
  for (const [k, v] of p.obj("params")?.entries() ?? []) {
    if (v === null || v === undefined) continue;
    // Milvus accepts index_type and metric_type inside params too.
    if (k === "index_type") {
      if (typeof v !== "string") throw badFormat("params.index_type must be a string");
      indexType = indexType || v;
    } else if (k === "metric_type") {
      if (typeof v !== "string") throw badFormat("params.metric_type must be a string");
      metricType = metricType || v;
    } else params[k] = indexParamValue(k, v);
  }
  return {
    fieldName,
    ...(indexName ? { indexName } : {}),
    ...(metricType ? { metricType } : {}),
    ...(indexType ? { indexType } : {}),
    ...(Object.keys(params).length > 0 ? { params } : {}),
  };
}

export function loadStateName(s: string): string {
  return `LoadState${s}`;
}

/** `collections/describe` data, shaped as Milvus' REST v2 answers it. */
export function describeOut(
  info: CollectionInfo,
  load: string,
  indexes: readonly IndexInfo[],
  raw: (v: bigint) => unknown,
): Record<string, unknown> {
  const s = info.schema;
  const pk = s.fields.find((f) => f.isPrimaryKey);
  return {
    collectionName: s.name,
    collectionID: raw(info.collectionId),
    description: s.description,
    autoId: pk?.autoId ?? false,
    fields: s.fields
      .filter((f) => !f.isDynamic)
      .map((f) => {
        const params: { key: string; value: string }[] = [];
        if (f.dim !== undefined) params.push({ key: "dim", value: String(f.dim) });
        if (f.maxLength !== undefined) params.push({ key: "max_length", value: String(f.maxLength) });
        if (f.maxCapacity !== undefined) params.push({ key: "max_capacity", value: String(f.maxCapacity) });
        return {
          name: f.name,
          id: f.fieldId,
          type: dataTypeName(f.dataType) ?? String(f.dataType),
          primaryKey: f.isPrimaryKey,
          partitionKey: f.isPartitionKey,
          clusteringKey: false,
          autoId: f.autoId,
          description: f.description,
          nullable: false,
          ...(params.length > 0 ? { params } : {}),
          ...(f.dataType === DataType.Array && f.elementType !== undefined
            ? { elementType: dataTypeName(f.elementType) ?? String(f.elementType) }
            : {}),
        };
      }),
    functions: [],
    aliases: [],
    indexes: indexes.map((ix) => ({
      indexName: ix.indexName,
      fieldName: ix.fieldName,
      metricType: ix.metricType,
    })),
    load,
    shardsNum: info.shardsNum,
    partitionsNum: info.partitions.length,
    consistencyLevel: info.consistencyLevel ?? "Bounded",
    enableDynamicField: s.enableDynamicField,
    properties: [],
  };
}

/** `indexes/describe` data for one index. */
export function indexOut(ix: IndexInfo): Record<string, unknown> {
  return {
    indexName: ix.indexName,
    fieldName: ix.fieldName,
    indexType: ix.indexType,
    metricType: ix.metricType,
    totalRows: ix.totalRows,
    pendingRows: ix.pendingRows,
    indexedRows: ix.indexedRows,
    indexState: ix.state,
    failReason: ix.failReason,
  };
}

/** The vector field a search targets: `annsField`, else the collection's only vector field. */
export function annsField(info: CollectionInfo, name: string | undefined) {
  const vectors = info.schema.fields.filter((f) => isVectorType(f.dataType));
  if (name !== undefined && name !== "") {
    const f = vectors.find((x) => x.name === name);
    if (f === undefined)
      throw new StrataError("ParameterInvalid", `cannot find a vector field named: ${name}`);
    return f;
  }
  if (vectors.length > 1) {
    throw new StrataError(
      "ParameterInvalid",
      `search without annsField, but the collection has several vector fields: [${vectors.map((f) => f.name).join(", ")}]`,
    );
  }
  const only = vectors[0];
  if (only === undefined) throw missing("annsField");
  return only;
}

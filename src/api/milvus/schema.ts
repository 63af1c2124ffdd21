import { StrataError } from "../../common/errors.ts";
import type { CollectionSchema, CollectionSchemaInput, FieldSchemaInput } from "../../common/schema.ts";
import { DataType, type DataTypeName, dataTypeName, isDataType } from "../../common/types.ts";
import type { WireCollectionSchema, WireFieldSchema, WireKeyValue } from "./proto.ts";

function illegal(msg: string): never {
  throw new StrataError("CollectionIllegalSchema", msg);
}

function typeOf(name: string, what: string): DataTypeName {
  const code = (DataType as Record<string, number>)[name];
  if (code === undefined || !isDataType(code))
    illegal(`${what}: data type ${name} is not supported by Strata`);
  return name as DataTypeName;
}

function fieldFromWire(f: WireFieldSchema): FieldSchemaInput {
  if (f.nullable) illegal(`field ${f.name}: nullable fields are not supported yet`);
  if (f.default_value !== undefined && f.default_value !== null) {
    illegal(`field ${f.name}: default values are not supported yet`);
  }
  if (f.is_function_output) illegal(`field ${f.name}: function output fields are not supported`);
  const typeParams: Record<string, string> = {};
  for (const kv of f.type_params ?? []) {
    // Only the structural parameters shape a field; analyzer and mmap settings do not apply here.
    if (kv.key === "dim" || kv.key === "max_length" || kv.key === "max_capacity")
      typeParams[kv.key] = kv.value;
  }
  const dataType = typeOf(f.data_type, `field ${f.name}`);
  return {
    name: f.name,
    dataType,
    isPrimaryKey: f.is_primary_key,
    autoId: f.autoID,
    description: f.description,
    isPartitionKey: f.is_partition_key,
    typeParams,
    ...(dataType === "Array" ? { elementType: typeOf(f.element_type, `field ${f.name} elements`) } : {}),
  };
}

/** CreateCollectionRequest.schema (decoded) → Strata's schema input (validated later by rootcoord). */
export function schemaFromWire(w: WireCollectionSchema, collectionName: string): CollectionSchemaInput {
  if (w.name !== "" && collectionName !== "" && w.name !== collectionName) {
    illegal(`the schema is named ${w.name} but the request creates ${collectionName}`);
  }
  if ((w.functions ?? []).length > 0) illegal("collection functions (BM25, embeddings) are not supported");
  if ((w.struct_array_fields ?? []).length > 0) illegal("struct array fields are not supported");
  return {
    name: collectionName || w.name,
    description: w.description,
    autoId: w.autoID,
    enableDynamicField: w.enable_dynamic_field,
    fields: (w.fields ?? []).filter((f) => !f.is_dynamic).map(fieldFromWire),
  };
}

function kv(key: string, value: number | undefined): WireKeyValue[] {
  return value === undefined ? [] : [{ key, value: String(value) }];
}

/** Strata's schema → `schema.CollectionSchema` for DescribeCollection (the hidden `$meta` field omitted, as Milvus). */
export function schemaToWire(s: CollectionSchema): Record<string, unknown> {
  return {
    name: s.name,
    description: s.description,
    autoID: s.fields.some((f) => f.isPrimaryKey && f.autoId),
    enable_dynamic_field: s.enableDynamicField,
    fields: s.fields
      .filter((f) => !f.isDynamic)
      .map((f) => ({
        fieldID: String(f.fieldId),
        name: f.name,
        is_primary_key: f.isPrimaryKey,
        description: f.description,
        data_type: dataTypeName(f.dataType),
        type_params: [
          ...kv("dim", f.dim),
          ...kv("max_length", f.maxLength),
          ...kv("max_capacity", f.maxCapacity),
        ],
        index_params: [],
        autoID: f.autoId,
        element_type: f.elementType === undefined ? "None" : dataTypeName(f.elementType),
        is_dynamic: false,
        is_partition_key: f.isPartitionKey,
        nullable: false,
      })),
    properties: [],
    functions: [],
  };
}

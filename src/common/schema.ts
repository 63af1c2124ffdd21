import { StrataError } from "./errors.ts";
import { validateName } from "./names.ts";
import {
  DataType,
  type DataTypeName,
  FIRST_USER_FIELD_ID,
  isArrayElementType,
  isDataType,
  isDenseVectorType,
  isVectorType,
  MAX_ARRAY_CAPACITY,
  MAX_DIM,
  MAX_VARCHAR_LENGTH,
} from "./types.ts";

/** Most fields a collection may have (Milvus `proxy.maxFieldNum`). */
export const MAX_FIELDS = 64;
/** Most vector fields a collection may have (Milvus `proxy.maxVectorFieldNum`). */
export const MAX_VECTOR_FIELDS = 4;
/** Name of the hidden JSON field that holds dynamic fields. */
export const DYNAMIC_FIELD_NAME = "$meta";

/** What a caller may pass; `validateSchema` turns it into a `CollectionSchema` or throws. */
export interface FieldSchemaInput {
  readonly name: string;
  readonly dataType: DataType | DataTypeName;
  readonly fieldId?: number;
  readonly isPrimaryKey?: boolean;
  readonly autoId?: boolean;
  readonly description?: string;
  readonly dim?: number;
  readonly maxLength?: number;
  readonly maxCapacity?: number;
  readonly elementType?: DataType | DataTypeName;
  readonly isPartitionKey?: boolean;
  /** Wire-style string parameters (`dim`, `max_length`, `max_capacity`), as the Milvus protocol sends them. */
  readonly typeParams?: Readonly<Record<string, string | number>>;
}

export interface CollectionSchemaInput {
  readonly name: string;
  readonly description?: string;
  /** Shorthand for `autoId` on the primary key field. */
  readonly autoId?: boolean;
  readonly enableDynamicField?: boolean;
  readonly fields: readonly FieldSchemaInput[];
}

export interface FieldSchema {
  readonly fieldId: number;
  readonly name: string;
  readonly dataType: DataType;
  readonly isPrimaryKey: boolean;
  readonly autoId: boolean;
  readonly description: string;
  readonly isPartitionKey: boolean;
  /** True only for the hidden `$meta` field of a collection with dynamic fields. */
  readonly isDynamic: boolean;
  readonly dim?: number;
  readonly maxLength?: number;
  readonly maxCapacity?: number;
  readonly elementType?: DataType;
}

export interface CollectionSchema {
  readonly name: string;
  readonly description: string;
  readonly enableDynamicField: boolean;
  readonly fields: readonly FieldSchema[];
}

function invalid(msg: string): never {
  throw new StrataError("CollectionIllegalSchema", msg);
}

function toDataType(v: unknown, what: string): DataType {
  if (typeof v === "string") {
    const code = (DataType as Record<string, number>)[v];
    if (code !== undefined && isDataType(code)) return code;
  } else if (isDataType(v)) {
    return v;
  }
  return invalid(`${what}: unknown data type ${JSON.stringify(v)}`);
}

function intParam(
  f: FieldSchemaInput,
  direct: number | undefined,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const raw = f.typeParams?.[key];
  let fromParams: number | undefined;
  if (raw !== undefined) {
    fromParams = typeof raw === "number" ? raw : /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  }
  if (direct !== undefined && fromParams !== undefined && direct !== fromParams) {
    invalid(`field "${f.name}": ${key} given twice with different values (${direct} and ${fromParams})`);
  }
  const v = direct ?? fromParams;
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < min || v > max) {
    invalid(`field "${f.name}": ${key} must be an integer in [${min}, ${max}], got ${String(raw ?? direct)}`);
  }
  return v;
}

function validateField(f: FieldSchemaInput, fieldId: number, autoIdDefault: boolean): FieldSchema {
  validateName("field", f.name);
  const dataType = toDataType(f.dataType, `field "${f.name}"`);
  const isPrimaryKey = f.isPrimaryKey === true;
  const out: {
    -readonly [K in keyof FieldSchema]: FieldSchema[K];
  } = {
    fieldId,
    name: f.name,
    dataType,
    isPrimaryKey,
    autoId: isPrimaryKey ? (f.autoId ?? autoIdDefault) : false,
    description: f.description ?? "",
    isPartitionKey: f.isPartitionKey === true,
    isDynamic: false,
  };
  if (!isPrimaryKey && f.autoId === true)
    invalid(`field "${f.name}": autoId is only allowed on the primary key`);
  if (dataType === DataType.String) invalid(`field "${f.name}": use VarChar, String is not a storable type`);
  if (isPrimaryKey) {
    if (dataType !== DataType.Int64 && dataType !== DataType.VarChar) {
      invalid(`field "${f.name}": the primary key must be Int64 or VarChar`);
    }
    if (out.autoId && dataType !== DataType.Int64)
      invalid(`field "${f.name}": autoId needs an Int64 primary key`);
    if (out.isPartitionKey) invalid(`field "${f.name}": the primary key cannot be the partition key`);
  }
  if (out.isPartitionKey && dataType !== DataType.Int64 && dataType !== DataType.VarChar) {
    invalid(`field "${f.name}": a partition key must be Int64 or VarChar`);
  }
  const dim = intParam(f, f.dim, "dim", 1, MAX_DIM);
  if (isDenseVectorType(dataType)) {
    if (dim === undefined) invalid(`field "${f.name}": vector fields need dim`);
    if (dataType === DataType.BinaryVector && dim % 8 !== 0) {
      invalid(`field "${f.name}": a binary vector's dim must be a multiple of 8, got ${dim}`);
    }
    out.dim = dim;
  } else if (dim !== undefined) {
    invalid(`field "${f.name}": dim is only for dense vector fields`);
  }
  const maxLength = intParam(f, f.maxLength, "max_length", 1, MAX_VARCHAR_LENGTH);
  const elementType =
    f.elementType === undefined ? undefined : toDataType(f.elementType, `field "${f.name}"`);
  const needsMaxLength = dataType === DataType.VarChar || elementType === DataType.VarChar;
  if (needsMaxLength) {
    if (maxLength === undefined) invalid(`field "${f.name}": VarChar needs max_length`);
    out.maxLength = maxLength;
  } else if (maxLength !== undefined) {
    invalid(`field "${f.name}": max_length is only for VarChar`);
  }
  const maxCapacity = intParam(f, f.maxCapacity, "max_capacity", 1, MAX_ARRAY_CAPACITY);
  if (dataType === DataType.Array) {
    if (elementType === undefined) invalid(`field "${f.name}": Array needs elementType`);
    if (!isArrayElementType(elementType)) invalid(`field "${f.name}": Array cannot hold ${elementType}`);
    if (maxCapacity === undefined) invalid(`field "${f.name}": Array needs max_capacity`);
    out.elementType = elementType;
    out.maxCapacity = maxCapacity;
  } else if (elementType !== undefined || maxCapacity !== undefined) {
    invalid(`field "${f.name}": elementType and max_capacity are only for Array fields`);
  }
  return out;
}

/**
 * Validates a schema and assigns field IDs (from 100, in order, where not given). Pure: returns a
 * new frozen-shaped object and never mutates its input.
 * @throws StrataError CollectionIllegalSchema / ParameterInvalid / FieldInvalidName, naming the rule broken.
 */
export function validateSchema(input: CollectionSchemaInput): CollectionSchema {
  validateName("collection", input.name);
  const fieldsIn = input.fields;
  if (!Array.isArray(fieldsIn) || fieldsIn.length === 0) invalid("a collection needs at least one field");
  if (fieldsIn.length > MAX_FIELDS)
    invalid(`a collection has at most ${MAX_FIELDS} fields, got ${fieldsIn.length}`);
  const names = new Set<string>();
  const ids = new Set<number>();
  let nextId = FIRST_USER_FIELD_ID;
  for (const f of fieldsIn) if (f.fieldId !== undefined) nextId = Math.max(nextId, f.fieldId + 1);
  const fields: FieldSchema[] = [];
  for (const f of fieldsIn) {
    if (f.fieldId !== undefined && (!Number.isInteger(f.fieldId) || f.fieldId < FIRST_USER_FIELD_ID)) {
      invalid(
        `field "${f.name}": field IDs below ${FIRST_USER_FIELD_ID} are reserved (0 RowID, 1 Timestamp)`,
      );
    }
    const id = f.fieldId ?? nextId++;
    if (ids.has(id)) invalid(`field ID ${id} is used twice`);
    const field = validateField(f, id, input.autoId === true);
    if (names.has(field.name)) invalid(`field name "${field.name}" is used twice`);
    names.add(field.name);
    ids.add(id);
    fields.push(field);
  }
  const pks = fields.filter((f) => f.isPrimaryKey);
  if (pks.length !== 1) invalid(`a collection needs exactly one primary key field, got ${pks.length}`);
  const vectors = fields.filter((f) => isVectorType(f.dataType));
  if (vectors.length === 0) invalid("a collection needs at least one vector field");
  if (vectors.length > MAX_VECTOR_FIELDS)
    invalid(`a collection has at most ${MAX_VECTOR_FIELDS} vector fields`);
  if (fields.filter((f) => f.isPartitionKey).length > 1)
    invalid("a collection has at most one partition key");
  const enableDynamicField = input.enableDynamicField === true;
  if (enableDynamicField) {
    fields.push({
      fieldId: Math.max(...ids) + 1,
      name: DYNAMIC_FIELD_NAME,
      dataType: DataType.JSON,
      isPrimaryKey: false,
      autoId: false,
      description: "dynamic fields",
      isPartitionKey: false,
      isDynamic: true,
    });
  }
  return { name: input.name, description: input.description ?? "", enableDynamicField, fields };
}

export function primaryField(schema: CollectionSchema): FieldSchema {
  const pk = schema.fields.find((f) => f.isPrimaryKey);
  if (pk === undefined)
    throw new StrataError("CollectionIllegalSchema", `collection ${schema.name} has no primary key`);
  return pk;
}

export function vectorFields(schema: CollectionSchema): FieldSchema[] {
  return schema.fields.filter((f) => isVectorType(f.dataType));
}

export function fieldByName(schema: CollectionSchema, name: string): FieldSchema {
  const f = schema.fields.find((x) => x.name === name);
  if (f === undefined)
    throw new StrataError("FieldNotFound", `field "${name}" not found in collection ${schema.name}`);
  return f;
}

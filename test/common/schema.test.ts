import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import {
  type CollectionSchemaInput,
  DYNAMIC_FIELD_NAME,
  type FieldSchemaInput,
  fieldByName,
  primaryField,
  validateSchema,
  vectorFields,
} from "../../src/common/schema.ts";
import { DataType } from "../../src/common/types.ts";

const pk: FieldSchemaInput = { name: "id", dataType: "Int64", isPrimaryKey: true };
const vec: FieldSchemaInput = { name: "v", dataType: DataType.FloatVector, dim: 128 };

function schema(
  fields: FieldSchemaInput[],
  extra: Partial<CollectionSchemaInput> = {},
): CollectionSchemaInput {
  return { name: "c1", fields, ...extra };
}

function rejects(input: CollectionSchemaInput, code: string, msg: RegExp): void {
  assert.throws(
    () => validateSchema(input),
    (e: unknown) => isStrataError(e) && e.code === code && msg.test(e.message) && e.kind === "input",
  );
}

describe("validateSchema", () => {
  it("accepts a typical schema and assigns field IDs from 100 in order", () => {
    const s = validateSchema(
      schema([
        pk,
        vec,
        { name: "title", dataType: "VarChar", maxLength: 512 },
        { name: "n", dataType: "Int64" },
        { name: "flag", dataType: "Bool" },
        { name: "meta", dataType: "JSON" },
        { name: "tags", dataType: "Array", elementType: "VarChar", maxCapacity: 16, maxLength: 32 },
      ]),
    );
    assert.deepEqual(
      s.fields.map((f) => [f.name, f.fieldId, f.dataType]),
      [
        ["id", 100, 5],
        ["v", 101, 101],
        ["title", 102, 21],
        ["n", 103, 5],
        ["flag", 104, 1],
        ["meta", 105, 23],
        ["tags", 106, 22],
      ],
    );
    assert.equal(primaryField(s).name, "id");
    assert.equal(vectorFields(s).length, 1);
    assert.equal(fieldByName(s, "title").maxLength, 512);
    assert.equal(fieldByName(s, "tags").elementType, DataType.VarChar);
  });

  it("reads wire-style string type params and rejects conflicting duplicates", () => {
    const s = validateSchema(
      schema([pk, { name: "v", dataType: "FloatVector", typeParams: { dim: "768" } }]),
    );
    assert.equal(fieldByName(s, "v").dim, 768);
    rejects(
      schema([pk, { name: "v", dataType: "FloatVector", dim: 8, typeParams: { dim: "16" } }]),
      "CollectionIllegalSchema",
      /dim given twice/,
    );
    rejects(
      schema([pk, { name: "v", dataType: "FloatVector", typeParams: { dim: "12x" } }]),
      "CollectionIllegalSchema",
      /dim/,
    );
  });

  it("requires exactly one primary key of type Int64 or VarChar", () => {
    rejects(schema([vec]), "CollectionIllegalSchema", /exactly one primary key/);
    rejects(schema([pk, { ...pk, name: "id2" }, vec]), "CollectionIllegalSchema", /exactly one primary key/);
    rejects(
      schema([{ name: "id", dataType: "Float", isPrimaryKey: true }, vec]),
      "CollectionIllegalSchema",
      /Int64 or VarChar/,
    );
    const s = validateSchema(
      schema([{ name: "k", dataType: "VarChar", isPrimaryKey: true, maxLength: 64 }, vec]),
    );
    assert.equal(primaryField(s).dataType, DataType.VarChar);
  });

  it("allows autoId only on an Int64 primary key", () => {
    assert.equal(primaryField(validateSchema(schema([pk, vec], { autoId: true }))).autoId, true);
    rejects(schema([pk, { ...vec, autoId: true }]), "CollectionIllegalSchema", /autoId is only allowed/);
    rejects(
      schema([{ name: "k", dataType: "VarChar", isPrimaryKey: true, maxLength: 8, autoId: true }, vec]),
      "CollectionIllegalSchema",
      /autoId needs an Int64/,
    );
  });

  it("requires dim on dense vectors within [1, 32768], a multiple of 8 for binary", () => {
    rejects(schema([pk, { name: "v", dataType: "FloatVector" }]), "CollectionIllegalSchema", /need dim/);
    rejects(
      schema([pk, { name: "v", dataType: "FloatVector", dim: 0 }]),
      "CollectionIllegalSchema",
      /dim must be/,
    );
    rejects(
      schema([pk, { name: "v", dataType: "FloatVector", dim: 32769 }]),
      "CollectionIllegalSchema",
      /dim must be/,
    );
    rejects(
      schema([pk, { name: "v", dataType: "BinaryVector", dim: 12 }]),
      "CollectionIllegalSchema",
      /multiple of 8/,
    );
    assert.equal(
      vectorFields(validateSchema(schema([pk, { name: "v", dataType: "FloatVector", dim: 32768 }])))[0]?.dim,
      32768,
    );
    rejects(
      schema([pk, vec, { name: "x", dataType: "Int32", dim: 4 }]),
      "CollectionIllegalSchema",
      /only for dense/,
    );
    validateSchema(schema([pk, { name: "s", dataType: "SparseFloatVector" }]));
  });

  it("requires at least one and at most four vector fields", () => {
    rejects(schema([pk]), "CollectionIllegalSchema", /at least one vector field/);
    const five = [0, 1, 2, 3, 4].map((i) => ({ ...vec, name: `v${i}` }));
    rejects(schema([pk, ...five]), "CollectionIllegalSchema", /at most 4 vector/);
  });

  it("requires max_length in [1, 65535] on VarChar", () => {
    rejects(schema([pk, vec, { name: "s", dataType: "VarChar" }]), "CollectionIllegalSchema", /max_length/);
    rejects(
      schema([pk, vec, { name: "s", dataType: "VarChar", maxLength: 65536 }]),
      "CollectionIllegalSchema",
      /max_length/,
    );
    rejects(
      schema([pk, vec, { name: "s", dataType: "Int8", maxLength: 5 }]),
      "CollectionIllegalSchema",
      /only for VarChar/,
    );
  });

  it("checks Array element type and capacity", () => {
    rejects(
      schema([pk, vec, { name: "a", dataType: "Array", maxCapacity: 4 }]),
      "CollectionIllegalSchema",
      /elementType/,
    );
    rejects(
      schema([pk, vec, { name: "a", dataType: "Array", elementType: "JSON", maxCapacity: 4 }]),
      "CollectionIllegalSchema",
      /cannot hold/,
    );
    rejects(
      schema([pk, vec, { name: "a", dataType: "Array", elementType: "Int32" }]),
      "CollectionIllegalSchema",
      /max_capacity/,
    );
    rejects(
      schema([pk, vec, { name: "a", dataType: "Array", elementType: "Int32", maxCapacity: 5000 }]),
      "CollectionIllegalSchema",
      /max_capacity/,
    );
  });

  it("enforces the naming rule on collections and fields", () => {
    rejects({ name: "1abc", fields: [pk, vec] }, "ParameterInvalid", /letters, digits/);
    rejects({ name: "a-b", fields: [pk, vec] }, "ParameterInvalid", /letters, digits/);
    rejects({ name: "x".repeat(256), fields: [pk, vec] }, "ParameterInvalid", /longer than 255/);
    validateSchema({ name: `_${"x".repeat(254)}`, fields: [pk, vec] });
    rejects(schema([pk, { ...vec, name: "bad name" }]), "FieldInvalidName", /invalid/);
    rejects(schema([pk, { ...vec, name: "" }]), "FieldInvalidName", /non-empty/);
  });

  it("rejects duplicate names and IDs, and reserved IDs below 100", () => {
    rejects(schema([pk, vec, { ...vec }]), "CollectionIllegalSchema", /name "v" is used twice/);
    rejects(schema([{ ...pk, fieldId: 1 }, vec]), "CollectionIllegalSchema", /reserved/);
    rejects(
      schema([
        { ...pk, fieldId: 100 },
        { ...vec, fieldId: 100 },
      ]),
      "CollectionIllegalSchema",
      /ID 100 is used twice/,
    );
    const s = validateSchema(schema([{ ...pk, fieldId: 200 }, vec]));
    assert.deepEqual(
      s.fields.map((f) => f.fieldId),
      [200, 201],
    );
  });

  it("rejects unknown data types and the unstorable String type", () => {
    rejects(
      schema([pk, vec, { name: "x", dataType: "Nope" as "Int8" }]),
      "CollectionIllegalSchema",
      /unknown data type/,
    );
    rejects(
      schema([pk, vec, { name: "x", dataType: 7 as DataType }]),
      "CollectionIllegalSchema",
      /unknown data type/,
    );
    rejects(schema([pk, vec, { name: "x", dataType: "String" }]), "CollectionIllegalSchema", /VarChar/);
  });

  it("checks partition keys", () => {
    rejects(
      schema([{ ...pk, isPartitionKey: true }, vec]),
      "CollectionIllegalSchema",
      /cannot be the partition key/,
    );
    rejects(
      schema([pk, vec, { name: "p", dataType: "Float", isPartitionKey: true }]),
      "CollectionIllegalSchema",
      /partition key must/,
    );
    rejects(
      schema([
        pk,
        vec,
        { name: "p", dataType: "Int64", isPartitionKey: true },
        { name: "q", dataType: "Int64", isPartitionKey: true },
      ]),
      "CollectionIllegalSchema",
      /at most one partition key/,
    );
  });

  it("adds a hidden $meta JSON field for dynamic fields", () => {
    const s = validateSchema(schema([pk, vec], { enableDynamicField: true }));
    const meta = s.fields.at(-1);
    assert.equal(meta?.name, DYNAMIC_FIELD_NAME);
    assert.equal(meta?.dataType, DataType.JSON);
    assert.equal(meta?.isDynamic, true);
    assert.equal(meta?.fieldId, 102);
  });

  it("caps the number of fields at 64", () => {
    const many = Array.from({ length: 63 }, (_, i) => ({ name: `f${i}`, dataType: "Int32" as const }));
    validateSchema(schema([pk, ...many.slice(0, 62), vec]));
    rejects(schema([pk, ...many, vec]), "CollectionIllegalSchema", /at most 64 fields/);
  });
});

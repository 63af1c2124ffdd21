import { type CollectionSchema, type FieldSchema, primaryField } from "../common/schema.ts";
import { DataType } from "../common/types.ts";
import type { CollectionInfo } from "../rootcoord/types.ts";
import type { FieldDesc } from "./columns.ts";
import { userFieldDescs } from "./loader.ts";

/** What the replica knows of one collection (schema from rootcoord). */
export interface CollectionState {
  readonly collectionId: bigint;
  readonly dbId: bigint;
  readonly schema: CollectionSchema;
  readonly pkField: FieldSchema;
  readonly pkType: typeof DataType.Int64 | typeof DataType.VarChar;
  /** Every user field, in schema order. */
  readonly fields: readonly FieldDesc[];
  /** Partitions known from rootcoord at the time the collection was described. */
  readonly partitions: ReadonlySet<bigint>;
}

export function collectionState(info: CollectionInfo): CollectionState {
  const pkField = primaryField(info.schema);
  return {
    collectionId: info.collectionId,
    dbId: info.dbId,
    schema: info.schema,
    pkField,
    pkType: pkField.dataType === DataType.Int64 ? DataType.Int64 : DataType.VarChar,
    fields: userFieldDescs(info.schema),
    partitions: new Set(info.partitions.map((p) => p.partitionId)),
  };
}

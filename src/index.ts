export { Strata, type StrataOpenOptions, type WriteOptions } from "./api/embedded.ts";
export { type ErrorCode, isStrataError, StrataError } from "./common/errors.ts";
export type { CollectionSchemaInput, FieldSchemaInput } from "./common/schema.ts";
export { DataType } from "./common/types.ts";

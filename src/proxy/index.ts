export type * from "./index-types.ts";
export { createProxy, type ProxyDeps, type ProxyOptions } from "./proxy.ts";
export { annsFieldOf } from "./read.ts";
export type * from "./read-types.ts";
export type { DeleteRequest, FlushOptions, InsertRequest, MutationResult, ProxyService } from "./types.ts";
export {
  type FieldValues,
  type InsertData,
  MAX_BATCH_BYTES,
  validateInsert,
  validatePks,
} from "./validate.ts";

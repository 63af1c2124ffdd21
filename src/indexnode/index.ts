// The index node role: builds vector indexes of flushed segments and writes their files.
export { createIndexNode, type IndexNodeDeps, type IndexNodeOptions } from "./indexnode.ts";
export type * from "./types.ts";

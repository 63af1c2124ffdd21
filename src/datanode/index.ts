/** The data node role (DESIGN.md §2, §5; docs/write-path.md). */
export { createDataNode } from "./datanode.ts";
export type { DataNodeDeps, DataNodeOptions } from "./options.ts";
export type { DataNode, FlushSegmentsRequest } from "./types.ts";

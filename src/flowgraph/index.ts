/** The time-ticked flowgraph shared by the data node and the query node (DESIGN.md §5–§6). */
export { FlowGraphBuilder, type FlowGraphOptions, flowGraph } from "./graph.ts";
export { BoundedQueue } from "./queue.ts";
export { TickInput, type TickInputOptions } from "./tick-input.ts";
export type {
  FlowGraph,
  FlowGraphEnd,
  FlowGraphStats,
  Pack,
  PackMsg,
  PackSource,
  Stage,
  StageContext,
} from "./types.ts";

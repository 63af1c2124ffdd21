export { createRootCoord, dmlChannelName, type RootCoordDeps, type RootCoordOptions } from "./rootcoord.ts";
export * from "./types.ts";

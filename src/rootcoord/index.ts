export {
  createRootCoord,
  dmlChannelName,
  type ManagedRootCoord,
  type RootCoordDeps,
  type RootCoordOptions,
} from "./rootcoord.ts";
export * from "./types.ts";

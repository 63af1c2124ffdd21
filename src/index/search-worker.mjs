// Bootstrap for SearchPool workers. Node 20 does not carry the parent's module hooks (tsx, from
// `node --import tsx`, `npx tsx` or bin/strata.mjs) into worker threads, so each worker registers
// tsx itself before loading the TypeScript worker.
import { register } from "tsx/esm/api";

register();
await import("./search-worker.ts");

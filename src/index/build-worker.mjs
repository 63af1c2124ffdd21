// Bootstrap for index build workers (build.ts). Node 20 does not carry the parent's module hooks
// (tsx) into worker threads, so the worker registers tsx itself before loading the TypeScript.
import { register } from "tsx/esm/api";

register();
await import("./build-worker.ts");

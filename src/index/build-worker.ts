// Worker side of buildIndex / buildIndexFile: one build per worker, then the thread ends. Loaded
// through build-worker.mjs, which gives the worker thread tsx's loader.
import { type MessagePort, parentPort } from "node:worker_threads";
import { isStrataError } from "../common/errors.ts";
import { buildInProcess, type FromBuildWorker, type ToBuildWorker } from "./build.ts";
import { indexToBytes, writeIndexFileSync } from "./index-file.ts";

function serve(port: MessagePort): void {
  port.once("message", (msg: ToBuildWorker) => {
    try {
      const index = buildInProcess(msg.spec, msg.vectors, msg.threads);
      if (msg.outPath !== undefined) {
        const info = writeIndexFileSync(msg.outPath, index);
        const reply: FromBuildWorker = { t: "done", info, bytes: undefined };
        port.postMessage(reply);
      } else {
        const bytes = indexToBytes(index, msg.tmpDir === undefined ? {} : { tmpDir: msg.tmpDir });
        const reply: FromBuildWorker = { t: "done", info: undefined, bytes };
        port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
      }
      index.close();
    } catch (e) {
      const reply: FromBuildWorker = {
        t: "error",
        code: isStrataError(e) ? e.code : undefined,
        message: e instanceof Error ? e.message : String(e),
      };
      port.postMessage(reply);
    }
    port.close();
  });
}

if (parentPort === null) throw new Error("build-worker must run in a worker thread");
serve(parentPort);

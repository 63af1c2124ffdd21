// Worker side of SearchPool: runs one row range of a checked search per message. Loaded through
// search-worker.mjs, which gives the worker thread tsx's loader.
import { type MessagePort, parentPort } from "node:worker_threads";
import { isStrataError } from "../common/errors.ts";
import { runChecked } from "./exact.ts";
import type { FromWorker, ToWorker } from "./pool-protocol.ts";

function serve(port: MessagePort): void {
  let crashNext = false;
  port.on("message", (msg: ToWorker) => {
    if (msg.t === "crash-next") {
      crashNext = true;
      return;
    }
    // Thrown outside any try: an uncaught exception, which kills this thread like a real crash.
    if (crashNext) throw new Error("injected search worker crash");
    try {
      const res = runChecked(msg.seg, msg.search, msg.r0, msg.r1);
      const reply: FromWorker = { t: "result", id: msg.id, offsets: res.offsets, scores: res.scores };
      port.postMessage(reply, [res.offsets.buffer as ArrayBuffer, res.scores.buffer as ArrayBuffer]);
    } catch (e) {
      const reply: FromWorker = {
        t: "error",
        id: msg.id,
        code: isStrataError(e) ? e.code : undefined,
        message: e instanceof Error ? e.message : String(e),
      };
      port.postMessage(reply);
    }
  });
  const ready: FromWorker = { t: "ready" };
  port.postMessage(ready);
}

if (parentPort === null) throw new Error("search-worker must run in a worker thread");
serve(parentPort);

/**
 * Child for crash.test.ts: opens the embedded store and writes until SIGKILLed. Every line goes
 * out with writeSync, so once a line is written it is in the pipe and survives the kill: the
 * parent sees exactly the attempts and acknowledgements that happened.
 *
 *   try-put <key>            about to put <key>          put <key> <rev>        acknowledged
 *   try-pair <id>            about to txn-put a pair     pair <id> <rev>        acknowledged
 *   try-inc <n>              about to CAS counter to n   inc <n> <rev>          acknowledged
 */
import { writeSync } from "node:fs";
import { utf8 } from "../../src/kv/codec.ts";
import { openEmbeddedKv } from "../../src/kv/index.ts";

export function valueFor(key: string): Uint8Array {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return utf8(`${key}|${"x".repeat((h >>> 0) % 200)}`);
}

async function main(): Promise<void> {
  const [dir, run] = process.argv.slice(2);
  if (dir === undefined || run === undefined) throw new Error("usage: crash-child <dir> <run>");
  const kv = await openEmbeddedKv({ dir, compactWalBytes: 32 * 1024 });
  // The pipe may be non-blocking and full; spin until the parent drains it, so no line is lost.
  const line = (s: string): void => {
    let buf = Buffer.from(`${s}\n`);
    while (buf.length > 0) {
      try {
        buf = buf.subarray(writeSync(1, buf));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      }
    }
  };
  line(`ready ${await kv.revision()}`);

  const putLoop = async (w: number): Promise<void> => {
    for (let i = 0; ; i++) {
      const key = `k/${run}/${w}/${i}`;
      line(`try-put ${key}`);
      line(`put ${key} ${await kv.put(key, valueFor(key))}`);
    }
  };
  const pairLoop = async (): Promise<void> => {
    for (let i = 0; ; i++) {
      const id = `${run}-${i}`;
      line(`try-pair ${id}`);
      const res = await kv.txn({
        compare: [],
        success: [
          { type: "put", key: `p/${id}/a`, value: valueFor(`p/${id}/a`) },
          { type: "put", key: `p/${id}/b`, value: valueFor(`p/${id}/b`) },
        ],
      });
      line(`pair ${id} ${res.revision}`);
    }
  };
  const casLoop = async (): Promise<void> => {
    for (;;) {
      const cur = await kv.get("counter");
      const n = cur === undefined ? 0 : Number(Buffer.from(cur.value).toString());
      line(`try-inc ${n + 1}`);
      const res = await kv.txn({
        compare: [{ key: "counter", target: "modRevision", op: "==", value: cur?.modRevision ?? 0 }],
        success: [{ type: "put", key: "counter", value: utf8(String(n + 1)) }],
      });
      if (res.succeeded) line(`inc ${n + 1} ${res.revision}`);
    }
  };
  await Promise.all([
    putLoop(0),
    putLoop(1),
    putLoop(2),
    putLoop(3),
    pairLoop(),
    casLoop(),
    casLoop(),
    casLoop(),
  ]);
}

if (process.argv[1]?.endsWith("crash-child.ts")) {
  main().catch((e: unknown) => {
    process.stderr.write(`crash-child failed: ${String(e)}\n`);
    process.exit(1);
  });
}

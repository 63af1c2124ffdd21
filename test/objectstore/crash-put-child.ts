/**
 * Child process for the local crash test: puts whole versions (every byte = version number) of one
 * key in a loop until it is killed. Usage: crash-put-child.ts <root> <key> <size>
 */
import { openLocalObjectStore } from "../../src/objectstore/index.ts";

const [root, key, sizeArg] = process.argv.slice(2);
if (root === undefined || key === undefined || sizeArg === undefined) throw new Error("usage: root key size");
const store = await openLocalObjectStore({ root });
const data = new Uint8Array(Number(sizeArg));
for (let v = 2; ; v = v === 255 ? 2 : v + 1) {
  data.fill(v);
  await store.put(key, data);
  process.stdout.write(`put ${v}\n`);
}

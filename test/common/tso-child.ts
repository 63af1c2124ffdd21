// Child for the TSO / ID allocator crash test: allocates forever, printing every value it was
// given ("t <ts>" / "i <start> <end>") until the parent kills it with SIGKILL.
import { IdAllocator } from "../../src/common/id-allocator.ts";
import { TimestampOracle } from "../../src/common/tso.ts";
import { openEmbeddedKv } from "../../src/kv/index.ts";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: tso-child <dir>");
const kv = await openEmbeddedKv({ dir });
const tso = await TimestampOracle.open({ kv, key: "tso", saveIntervalMs: 100 });
const ids = await IdAllocator.open({ kv, key: "ids", windowSize: 50 });
process.stdout.write("ready\n");
for (let i = 0; ; i++) {
  const ts = await tso.allocate(1 + (i % 3));
  const r = await ids.allocate(1 + (i % 7));
  process.stdout.write(`t ${ts}\ni ${r.start} ${r.end}\n`);
}

// Child of the write-path crash test: ingests batches into a standalone Strata forever, printing
// "try <from> <n>" before and "ack <from> <n>" after each insert, until SIGKILLed.
import { Strata } from "../../src/api/embedded.ts";
import { CRASH_OVERRIDES, CRASH_SCHEMA, crashBatch } from "./crash-data.ts";

const [dir, roundArg] = process.argv.slice(2);
if (dir === undefined || roundArg === undefined) throw new Error("usage: crash-child <dir> <round>");
const round = Number(roundArg);
const db = await Strata.open({ dataDir: dir, overrides: CRASH_OVERRIDES });
if (!(await db.hasCollection(CRASH_SCHEMA.name)))
  await db.createCollection({ schema: CRASH_SCHEMA, shardsNum: 2 });
process.stdout.write("ready\n");
for (let b = 0; ; b++) {
  const from = round * 1_000_000 + b * 200;
  process.stdout.write(`try ${from} 200\n`);
  await db.insert(CRASH_SCHEMA.name, { columns: crashBatch(from, 200) });
  process.stdout.write(`ack ${from} 200\n`);
  if (b % 15 === 14) void db.flush(CRASH_SCHEMA.name, { wait: false });
}

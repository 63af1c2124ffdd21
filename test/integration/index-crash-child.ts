// Child of the index-build crash test: fills a collection once, asks for a slow HNSW index, then
// reports "building <buildIds>" whenever a build is in progress, until SIGKILLed.
import { Strata } from "../../src/api/embedded.ts";
import { INDEX_CRASH } from "./index-crash-data.ts";

const [dir] = process.argv.slice(2);
if (dir === undefined) throw new Error("usage: index-crash-child <dir>");
const db = await Strata.open({ dataDir: dir, overrides: { indexnode: { buildThreads: 1 } } });
const name = INDEX_CRASH.name;
if (!(await db.hasCollection(name))) {
  await db.createCollection({ schema: INDEX_CRASH.schema, shardsNum: 2 });
  const { ids, vec } = INDEX_CRASH.rows();
  for (let from = 0; from < ids.length; from += 5000) {
    await db.insert(name, {
      columns: {
        id: ids.slice(from, from + 5000),
        vec: vec.slice(from * INDEX_CRASH.dim, (from + 5000) * INDEX_CRASH.dim),
      },
    });
  }
  await db.flush(name);
  await db.createIndex(name, INDEX_CRASH.index);
}
const coll = await db.describeCollection(name);
for (;;) {
  const { builds } = await db.internals.dataservice.describeIndexBuilds(coll.collectionId);
  const running = builds.filter((b) => b.state === "InProgress");
  if (running.length > 0)
    process.stdout.write(`building ${running.map((b) => `${b.buildId}/${b.version}`).join(" ")}\n`);
  await new Promise((r) => setTimeout(r, 20));
}

import { allIndexes } from "./collections.ts";
import { ok, type RestContext, type RouteHandler } from "./context.ts";
import { missing } from "./errors.ts";
import { indexOut, indexSpec } from "./schema.ts";

async function create({ proxy, p }: RestContext) {
  const collectionName = p.reqStr("collectionName");
  const specs = p.objList("indexParams");
  if (specs === undefined || specs.length === 0) throw missing("indexParams");
  // All specs are read before the first index is made: a malformed one changes nothing.
  const parsed = specs.map(indexSpec);
  for (const ix of parsed) await proxy.createIndex({ ...ix, collectionName });
  return ok();
}

async function describe({ proxy, p }: RestContext) {
  const infos = await proxy.describeIndex(p.reqStr("collectionName"), p.reqStr("indexName"));
  return ok(infos.map(indexOut));
}

async function list({ proxy, p }: RestContext) {
  return ok((await allIndexes(proxy, p.reqStr("collectionName"))).map((ix) => ix.indexName));
}

async function drop({ proxy, p }: RestContext) {
  await proxy.dropIndex(p.reqStr("collectionName"), p.reqStr("indexName"));
  return ok();
}

export const INDEX_ROUTES: Readonly<Record<string, RouteHandler>> = {
  "indexes/create": create,
  "indexes/describe": describe,
  "indexes/list": list,
  "indexes/drop": drop,
};

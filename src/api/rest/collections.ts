import { isStrataError, StrataError } from "../../common/errors.ts";
import type { IndexInfo, ProxyService } from "../../proxy/index.ts";
import { ok, partitionNames, type RestContext, type RouteHandler } from "./context.ts";
import { unsupported } from "./errors.ts";
import { RawJson } from "./json.ts";
import { createPlan, describeOut, loadStateName } from "./schema.ts";

/** Every index of a collection; none yet is an empty list, not an error. */
export async function allIndexes(proxy: ProxyService, collection: string): Promise<IndexInfo[]> {
  try {
    return await proxy.describeIndex(collection);
  } catch (e) {
    if (isStrataError(e, "IndexNotFound")) return [];
    throw e;
  }
}

async function create({ proxy, p }: RestContext) {
  const plan = createPlan(p);
  const name = plan.schema.name;
  await proxy.createCollection({
    schema: plan.schema,
    ...(plan.shardsNum === undefined ? {} : { shardsNum: plan.shardsNum }),
    ...(plan.consistencyLevel === undefined ? {} : { consistencyLevel: plan.consistencyLevel }),
  });
  if (plan.indexes.length === 0) return ok();
  for (const ix of plan.indexes) await proxy.createIndex({ ...ix, collectionName: name });
  // As Milvus: a collection created with its index is loaded, asynchronously.
  await proxy.beginLoad(name);
  return ok();
}

async function describe({ proxy, p }: RestContext) {
  const name = p.reqStr("collectionName");
  const info = await proxy.describeCollection(name);
  const [state, indexes] = await Promise.all([proxy.loadState(name), allIndexes(proxy, name)]);
  return ok(
    describeOut(info, loadStateName(state), indexes, (v) => new RawJson(v.toString())),
    { message: "" },
  );
}

async function list({ proxy }: RestContext) {
  return ok(await proxy.listCollections());
}

async function has({ proxy, p }: RestContext) {
  return ok({ has: await proxy.hasCollection(p.reqStr("collectionName")) });
}

async function drop({ proxy, p }: RestContext) {
  try {
    await proxy.dropCollection(p.reqStr("collectionName"));
  } catch (e) {
    // Milvus' drop is idempotent: dropping what is not there succeeds.
    if (!isStrataError(e, "CollectionNotFound")) throw e;
  }
  return ok();
}

async function load({ proxy, p }: RestContext) {
  // Milvus returns once the load is accepted; clients poll get_load_state.
  await proxy.beginLoad(p.reqStr("collectionName"));
  return ok();
}

async function release({ proxy, p }: RestContext) {
  await proxy.release(p.reqStr("collectionName"));
  return ok();
}

async function getLoadState({ proxy, p }: RestContext) {
  const name = p.reqStr("collectionName");
  const partitions = partitionNames(p);
  const state = await proxy.loadState(name, partitions);
  if (state === "NotExist")
    throw new StrataError("CollectionNotFound", `collection not found[collection=${name}]`);
  if (state === "NotLoad") return ok({ loadState: loadStateName(state) });
  // As Milvus: a progress that cannot be read is reported as -1, with the reason in message.
  let progress = -1;
  let message = "";
  try {
    progress = await proxy.loadProgress(name, partitions);
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  return ok(
    { loadState: loadStateName(progress >= 100 ? "Loaded" : "Loading"), loadProgress: progress },
    message === "" ? {} : { message },
  );
}

async function getStats({ proxy, p }: RestContext) {
  const { rowCount } = await proxy.statistics(p.reqStr("collectionName"));
  return ok({ rowCount });
}

async function flush({ proxy, p }: RestContext) {
  // REST has no flush-state call, so this flush answers once the data is persisted.
  await proxy.flush([p.reqStr("collectionName")], { wait: true });
  return ok();
}

async function rename(_ctx: RestContext): Promise<never> {
  throw unsupported("renaming a collection (collections/rename)");
}

export const COLLECTION_ROUTES: Readonly<Record<string, RouteHandler>> = {
  "collections/create": create,
  "collections/describe": describe,
  "collections/list": list,
  "collections/has": has,
  "collections/drop": drop,
  "collections/load": load,
  "collections/release": release,
  "collections/get_load_state": getLoadState,
  "collections/get_stats": getStats,
  "collections/flush": flush,
  "collections/rename": rename,
};

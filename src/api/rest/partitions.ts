import { ok, type RestContext, type RouteHandler } from "./context.ts";

async function create({ proxy, p }: RestContext) {
  await proxy.createPartition(p.reqStr("collectionName"), p.reqStr("partitionName"));
  return ok();
}

async function drop({ proxy, p }: RestContext) {
  await proxy.dropPartition(p.reqStr("collectionName"), p.reqStr("partitionName"));
  return ok();
}

async function has({ proxy, p }: RestContext) {
  return ok({ has: await proxy.hasPartition(p.reqStr("collectionName"), p.reqStr("partitionName")) });
}

async function list({ proxy, p }: RestContext) {
  return ok((await proxy.listPartitions(p.reqStr("collectionName"))).map((x) => x.name));
}

async function load({ proxy, p }: RestContext) {
  await proxy.beginLoad(p.reqStr("collectionName"), p.reqStrList("partitionNames"));
  return ok();
}

async function release({ proxy, p }: RestContext) {
  await proxy.release(p.reqStr("collectionName"), p.reqStrList("partitionNames"));
  return ok();
}

async function getStats({ proxy, p }: RestContext) {
  const { rowCount } = await proxy.statistics(p.reqStr("collectionName"), p.reqStr("partitionName"));
  return ok({ rowCount });
}

export const PARTITION_ROUTES: Readonly<Record<string, RouteHandler>> = {
  "partitions/create": create,
  "partitions/drop": drop,
  "partitions/has": has,
  "partitions/list": list,
  "partitions/load": load,
  "partitions/release": release,
  "partitions/get_stats": getStats,
};

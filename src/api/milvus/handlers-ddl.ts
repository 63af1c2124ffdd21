import { isStrataError, StrataError } from "../../common/errors.ts";
import { validateSchema } from "../../common/schema.ts";
import { physicalOf } from "../../common/timestamp.ts";
import type { ConsistencyLevel } from "../../common/types.ts";
import type { CollectionInfo } from "../../rootcoord/types.ts";
import type { Handlers, MilvusContext } from "./context.ts";
import { schemaFromWire, schemaToWire } from "./schema.ts";
import { consistency, jsonParams, kvList, kvs, name, num, partitions, str, strs } from "./wire.ts";

const DB_NAME = "default";

function sameDefinition(a: CollectionInfo, schemaJson: string, shards: number): boolean {
  return JSON.stringify(a.schema) === schemaJson && (shards === 0 || a.shardsNum === shards);
}

async function inMemoryPercent(ctx: MilvusContext, collection: string): Promise<number> {
  try {
    return await ctx.proxy.loadProgress(collection);
  } catch {
    return 0;
  }
}

function describeResponse(info: CollectionInfo): Record<string, unknown> {
  const created = info.createTs.toString();
  return {
    schema: schemaToWire(info.schema),
    collectionID: info.collectionId.toString(),
    virtual_channel_names: [...info.channels],
    physical_channel_names: [...info.channels],
    created_timestamp: created,
    created_utc_timestamp: String(physicalOf(info.createTs)),
    shards_num: info.shardsNum,
    aliases: [],
    consistency_level: info.consistencyLevel ?? "Bounded",
    collection_name: info.schema.name,
    properties: kvList(info.properties ?? {}),
    db_name: DB_NAME,
    num_partitions: String(info.partitions.length),
    db_id: info.dbId.toString(),
    update_timestamp: created,
    update_timestamp_str: created,
  };
}

/** Collections, partitions, databases, indexes and load/release. */
export function ddlHandlers(ctx: MilvusContext): Handlers {
  const { proxy } = ctx;
  return {
    async CreateCollection(req) {
      const collection = name(req, "collection_name", "collection_name");
      const raw = req.schema;
      if (!(raw instanceof Uint8Array) || raw.byteLength === 0) {
        throw new StrataError("ParameterInvalid", "the collection schema is missing");
      }
      let wire: ReturnType<typeof ctx.proto.decodeSchema>;
      try {
        wire = ctx.proto.decodeSchema(raw);
      } catch (e) {
        throw new StrataError(
          "ParameterInvalid",
          `the collection schema cannot be decoded: ${(e as Error).message}`,
        );
      }
      const input = schemaFromWire(wire, collection);
      const shards = num(req, "shards_num");
      const props = Object.fromEntries(kvs(req, "properties"));
      const level = consistency(req, "Bounded") as ConsistencyLevel;
      try {
        await proxy.createCollection({
          schema: input,
          ...(shards > 0 ? { shardsNum: shards } : {}),
          consistencyLevel: level,
          ...(Object.keys(props).length > 0 ? { properties: props } : {}),
        });
      } catch (e) {
        // Milvus: creating a collection again with identical parameters succeeds.
        if (isStrataError(e, "ParameterInvalid") && /already exists/.test(e.message)) {
          const existing = await proxy.describeCollection(collection);
          if (sameDefinition(existing, JSON.stringify(validateSchema(input)), shards)) return {};
          throw new StrataError(
            "ParameterInvalid",
            `collection ${collection} already exists with different parameters`,
          );
        }
        throw e;
      }
      return {};
    },
    async DescribeCollection(req) {
      const byName = str(req, "collection_name");
      const id = str(req, "collectionID");
      if (byName === "" && (id === "" || id === "0")) {
        throw new StrataError("ParameterInvalid", "collection_name is required");
      }
      const info =
        byName !== "" ? await proxy.describeCollection(byName) : await ctx.describeById(BigInt(id));
      return describeResponse(info);
    },
    async HasCollection(req) {
      return { value: await proxy.hasCollection(name(req, "collection_name", "collection_name")) };
    },
    async ShowCollections(req) {
      const wanted = strs(req, "collection_names");
      const names = (await proxy.listCollections()).filter((n) => wanted.length === 0 || wanted.includes(n));
      const infos = await Promise.all(names.map((n) => proxy.describeCollection(n)));
      const loaded = await Promise.all(names.map((n) => inMemoryPercent(ctx, n)));
      return {
        collection_names: names,
        collection_ids: infos.map((i) => i.collectionId.toString()),
        created_timestamps: infos.map((i) => i.createTs.toString()),
        created_utc_timestamps: infos.map((i) => String(physicalOf(i.createTs))),
        inMemory_percentages: loaded.map(String),
        query_service_available: loaded.map((p) => p === 100),
        shards_num: infos.map((i) => i.shardsNum),
      };
    },
    async DropCollection(req) {
      const collection = name(req, "collection_name", "collection_name");
      // Milvus: dropping a collection that does not exist succeeds.
      if (!(await proxy.hasCollection(collection))) return {};
      await proxy.dropCollection(collection);
      return {};
    },

    async CreatePartition(req) {
      await proxy.createPartition(
        name(req, "collection_name", "collection_name"),
        name(req, "partition_name", "partition_name"),
      );
      return {};
    },
    async HasPartition(req) {
      return {
        value: await proxy.hasPartition(
          name(req, "collection_name", "collection_name"),
          name(req, "partition_name", "partition_name"),
        ),
      };
    },
    async ShowPartitions(req) {
      const collection = name(req, "collection_name", "collection_name");
      const wanted = strs(req, "partition_names");
      const parts = (await proxy.listPartitions(collection)).filter(
        (p) => wanted.length === 0 || wanted.includes(p.name),
      );
      const loaded = await Promise.all(
        parts.map(async (p) => ((await proxy.loadState(collection, [p.name])) === "Loaded" ? 100 : 0)),
      );
      return {
        partition_names: parts.map((p) => p.name),
        partitionIDs: parts.map((p) => p.partitionId.toString()),
        created_timestamps: parts.map((p) => p.createTs.toString()),
        created_utc_timestamps: parts.map((p) => String(physicalOf(p.createTs))),
        inMemory_percentages: loaded.map(String),
      };
    },
    async DropPartition(req) {
      await proxy.dropPartition(
        name(req, "collection_name", "collection_name"),
        name(req, "partition_name", "partition_name"),
      );
      return {};
    },

    async ListDatabases() {
      return { db_names: [DB_NAME], created_timestamp: ["0"], db_ids: ["0"] };
    },
    async DescribeDatabase(req) {
      const db = str(req, "db_name");
      if (db !== "" && db !== DB_NAME) throw ctx.noDatabase(db);
      return { db_name: DB_NAME, dbID: "0", created_timestamp: "0", properties: [] };
    },
    async CreateDatabase(req) {
      throw new StrataError(
        "Unimplemented",
        `creating database ${str(req, "db_name")} is not supported: Strata has one database, "${DB_NAME}"`,
      );
    },
    async DropDatabase(req) {
      throw new StrataError(
        "Unimplemented",
        `dropping database ${str(req, "db_name")} is not supported: Strata has one database, "${DB_NAME}"`,
      );
    },

    async CreateIndex(req) {
      const p = kvs(req, "extra_params");
      const params: Record<string, string | number | boolean> = {
        ...jsonParams(p.get("params"), "index params"),
      };
      for (const [k, v] of p) if (k !== "index_type" && k !== "metric_type" && k !== "params") params[k] = v;
      const indexType = p.get("index_type");
      const metricType = p.get("metric_type");
      const fieldName = str(req, "field_name");
      const indexName = str(req, "index_name");
      await proxy.createIndex({
        collectionName: name(req, "collection_name", "collection_name"),
        params,
        ...(fieldName === "" ? {} : { fieldName }),
        ...(indexName === "" ? {} : { indexName }),
        ...(indexType === undefined ? {} : { indexType }),
        ...(metricType === undefined ? {} : { metricType }),
      });
      return {};
    },
    async DescribeIndex(req) {
      const collection = name(req, "collection_name", "collection_name");
      const which = str(req, "index_name") || str(req, "field_name");
      const list = await proxy.describeIndex(collection, which === "" ? undefined : which);
      return {
        index_descriptions: list.map((x) => ({
          index_name: x.indexName,
          indexID: x.indexId.toString(),
          params: [
            { key: "index_type", value: x.indexType },
            { key: "metric_type", value: x.metricType },
            { key: "params", value: JSON.stringify(x.params) },
          ],
          field_name: x.fieldName,
          indexed_rows: String(x.indexedRows),
          total_rows: String(x.totalRows),
          state: x.state,
          index_state_fail_reason: x.failReason,
          pending_index_rows: String(x.pendingRows),
        })),
      };
    },
    async GetIndexState(req) {
      const collection = name(req, "collection_name", "collection_name");
      const which = str(req, "index_name") || str(req, "field_name");
      const [x] = await proxy.describeIndex(collection, which === "" ? undefined : which);
      return { state: x?.state ?? "None", fail_reason: x?.failReason ?? "" };
    },
    async GetIndexBuildProgress(req) {
      const collection = name(req, "collection_name", "collection_name");
      const which = str(req, "index_name") || str(req, "field_name");
      const [x] = await proxy.describeIndex(collection, which === "" ? undefined : which);
      return { indexed_rows: String(x?.indexedRows ?? 0), total_rows: String(x?.totalRows ?? 0) };
    },
    async DropIndex(req) {
      const collection = name(req, "collection_name", "collection_name");
      const which = str(req, "index_name") || str(req, "field_name");
      await proxy.dropIndex(collection, which === "" ? undefined : which);
      return {};
    },

    async LoadCollection(req) {
      checkReplicas(num(req, "replica_number"));
      await proxy.beginLoad(name(req, "collection_name", "collection_name"));
      return {};
    },
    async LoadPartitions(req) {
      checkReplicas(num(req, "replica_number"));
      const parts = partitions(req);
      if (parts === undefined) throw new StrataError("ParameterInvalid", "partition_names is required");
      await proxy.beginLoad(name(req, "collection_name", "collection_name"), parts);
      return {};
    },
    async ReleaseCollection(req) {
      await proxy.release(name(req, "collection_name", "collection_name"));
      return {};
    },
    async ReleasePartitions(req) {
      const parts = partitions(req);
      if (parts === undefined) throw new StrataError("ParameterInvalid", "partition_names is required");
      await proxy.release(name(req, "collection_name", "collection_name"), parts);
      return {};
    },
    async GetLoadingProgress(req) {
      const progress = await proxy.loadProgress(
        name(req, "collection_name", "collection_name"),
        partitions(req),
      );
      return { progress: String(progress), refresh_progress: String(progress) };
    },
    async GetLoadState(req) {
      const collection = name(req, "collection_name", "collection_name");
      const state = await proxy.loadState(collection, partitions(req));
      if (state === "NotExist")
        throw new StrataError("CollectionNotFound", `collection ${collection} not found`);
      return { state: `LoadState${state}` };
    },
    async GetCollectionStatistics(req) {
      const { rowCount } = await proxy.statistics(name(req, "collection_name", "collection_name"));
      return { stats: [{ key: "row_count", value: String(rowCount) }] };
    },
    async GetPartitionStatistics(req) {
      const { rowCount } = await proxy.statistics(
        name(req, "collection_name", "collection_name"),
        name(req, "partition_name", "partition_name"),
      );
      return { stats: [{ key: "row_count", value: String(rowCount) }] };
    },
    async AlterCollection() {
      throw new StrataError("Unimplemented", "altering collection properties is not supported yet");
    },
    async RenameCollection() {
      throw new StrataError("Unimplemented", "renaming collections is not supported yet");
    },
    async GetReplicas() {
      throw new StrataError(
        "Unimplemented",
        "replica descriptions are not supported yet (Strata serves one replica)",
      );
    },
  };
}

function checkReplicas(n: number): void {
  if (n > 1)
    throw new StrataError(
      "ParameterInvalid",
      `replica_number ${n}: Strata serves one replica per collection`,
    );
}

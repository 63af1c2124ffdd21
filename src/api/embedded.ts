import { loadConfig, type StrataConfig } from "../common/config.ts";
import { createLogger, type Logger } from "../common/log.ts";
import type {
  CreateIndexRequest,
  FlushOptions,
  IndexInfo,
  LoadState,
  MutationResult,
  QueryRequest,
  QueryRow,
  SearchHit,
  SearchRequest,
} from "../proxy/index.ts";
import type { FieldValues, InsertData } from "../proxy/validate.ts";
import type { CollectionInfo, CreateCollectionRequest, PartitionInfo } from "../rootcoord/types.ts";
import { type Standalone, startStandalone } from "../server/standalone.ts";

export interface StrataOpenOptions {
  /** Where the data lives (default ./strata-data). */
  readonly dataDir?: string;
  /** A YAML config file, applied before `overrides`. */
  readonly configFile?: string;
  /** Config overrides (same shape as the config file). */
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** Default "warn": an embedded database should be quiet. */
  readonly logLevel?: string;
  /** A logger to use instead of creating one. */
  readonly logger?: Logger;
}

export interface WriteOptions {
  /** Partition to write to (default `_default`); for delete, default every partition. */
  readonly partition?: string;
}

/**
 * Strata in-process: every role on embedded backends in this process, no server, no port.
 *
 * ```ts
 * const db = await Strata.open("./data");
 * await db.createCollection({ schema: { name: "docs", fields: [...] } });
 * await db.insert("docs", { rows: [{ id: 1, vector: [...] }] });
 * ```
 * Writes resolve once durable in the log; `flush` persists segments to binlogs.
 */
export class Strata {
  readonly #node: Standalone;

  private constructor(node: Standalone) {
    this.#node = node;
  }

  static async open(dirOrOptions: string | StrataOpenOptions = {}): Promise<Strata> {
    const o: StrataOpenOptions = typeof dirOrOptions === "string" ? { dataDir: dirOrOptions } : dirOrOptions;
    const config: StrataConfig = loadConfig({
      ...(o.configFile === undefined ? {} : { file: o.configFile }),
      overrides: { ...(o.overrides ?? {}), ...(o.dataDir === undefined ? {} : { dataDir: o.dataDir }) },
    });
    const log = o.logger ?? createLogger({ level: o.logLevel ?? "warn" });
    return new Strata(await startStandalone(config, log));
  }

  /** The running roles, for tools and tests that look inside (not a stable API). */
  get internals(): Standalone {
    return this.#node;
  }

  createCollection(req: CreateCollectionRequest): Promise<CollectionInfo> {
    return this.#node.proxy.createCollection(req);
  }
  dropCollection(name: string): Promise<void> {
    return this.#node.proxy.dropCollection(name);
  }
  hasCollection(name: string): Promise<boolean> {
    return this.#node.proxy.hasCollection(name);
  }
  describeCollection(name: string): Promise<CollectionInfo> {
    return this.#node.proxy.describeCollection(name);
  }
  listCollections(): Promise<string[]> {
    return this.#node.proxy.listCollections();
  }
  createPartition(collection: string, partition: string): Promise<PartitionInfo> {
    return this.#node.proxy.createPartition(collection, partition);
  }
  dropPartition(collection: string, partition: string): Promise<void> {
    return this.#node.proxy.dropPartition(collection, partition);
  }
  hasPartition(collection: string, partition: string): Promise<boolean> {
    return this.#node.proxy.hasPartition(collection, partition);
  }
  listPartitions(collection: string): Promise<PartitionInfo[]> {
    return this.#node.proxy.listPartitions(collection);
  }

  /** Inserts rows (`{rows: [...]}`) or columns (`{columns: {field: values}}`). Resolves once durable. */
  insert(collection: string, data: InsertData, opts: WriteOptions = {}): Promise<MutationResult> {
    return this.#node.proxy.insert({
      collectionName: collection,
      data,
      ...(opts.partition === undefined ? {} : { partitionName: opts.partition }),
    });
  }

  /** Replaces rows by primary key. */
  upsert(collection: string, data: InsertData, opts: WriteOptions = {}): Promise<MutationResult> {
    return this.#node.proxy.upsert({
      collectionName: collection,
      data,
      ...(opts.partition === undefined ? {} : { partitionName: opts.partition }),
    });
  }

  /** Deletes rows by primary key, or (`{ filter }`) every row matching an expression. */
  delete(
    collection: string,
    target: FieldValues | { readonly filter: string },
    opts: WriteOptions = {},
  ): Promise<MutationResult> {
    const isFilter = (t: unknown): t is { readonly filter: string } =>
      typeof t === "object" && t !== null && !Array.isArray(t) && !ArrayBuffer.isView(t) && "filter" in t;
    const what: { filter: string } | { pks: FieldValues } = isFilter(target)
      ? { filter: target.filter }
      : { pks: target as FieldValues };
    return this.#node.proxy.delete({
      collectionName: collection,
      ...what,
      ...(opts.partition === undefined ? {} : { partitionName: opts.partition }),
    });
  }

  /** Loads the collection (or some partitions) for search and query; resolves once it serves. */
  load(collection: string, partitions?: readonly string[], timeoutMs?: number): Promise<void> {
    return this.#node.proxy.load(collection, partitions, timeoutMs);
  }

  release(collection: string, partitions?: readonly string[]): Promise<void> {
    return this.#node.proxy.release(collection, partitions);
  }

  loadState(collection: string): Promise<LoadState> {
    return this.#node.proxy.loadState(collection);
  }

  /** Top-k vector search; one list of hits per query vector. */
  search(collection: string, req: Omit<SearchRequest, "collectionName">): Promise<SearchHit[][]> {
    // Object.assign, not `{ ...req, collectionName }`: a property after a spread is slow on Node 20.
    return this.#node.proxy.search(Object.assign({}, req, { collectionName: collection }));
  }

  /** Rows matching a filter (and/or ids); `outputFields: ["count(*)"]` counts. */
  query(collection: string, req: Omit<QueryRequest, "collectionName">): Promise<QueryRow[]> {
    return this.#node.proxy.query(Object.assign({}, req, { collectionName: collection }));
  }

  /** Rows by primary key. */
  get(collection: string, ids: FieldValues, outputFields: readonly string[] = ["*"]): Promise<QueryRow[]> {
    return this.#node.proxy.query({
      collectionName: collection,
      ids,
      outputFields,
      consistencyLevel: "Strong",
    });
  }

  /** Records an index on a vector field (`indexType` default AUTOINDEX). Idempotent. */
  createIndex(collection: string, req: Omit<CreateIndexRequest, "collectionName"> = {}): Promise<void> {
    return this.#node.proxy.createIndex({ ...req, collectionName: collection });
  }
  /** The collection's indexes (or the one named by index or field name), with build progress. */
  describeIndex(collection: string, indexName?: string): Promise<IndexInfo[]> {
    return this.#node.proxy.describeIndex(collection, indexName);
  }
  /** Drops an index; the collection must be released. */
  dropIndex(collection: string, indexName?: string): Promise<void> {
    return this.#node.proxy.dropIndex(collection, indexName);
  }
  /** Rows inserted (deletes not subtracted), as Milvus' collection statistics. */
  statistics(collection: string, partition?: string): Promise<{ rowCount: number }> {
    return this.#node.proxy.statistics(collection, partition);
  }

  /** Seals the growing segments and waits until they are persisted as binlogs. */
  flush(collections: string | readonly string[], opts?: FlushOptions): Promise<{ segmentIds: bigint[] }> {
    return this.#node.proxy.flush(typeof collections === "string" ? [collections] : collections, opts);
  }

  close(): Promise<void> {
    return this.#node.close();
  }
}

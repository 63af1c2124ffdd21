import { rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { StrataError } from "../common/errors.ts";
import { withRetry } from "../common/retry.ts";
import type { Timestamp } from "../common/timestamp.ts";
import { SegmentState } from "../dataservice/types.ts";
import {
  type DescribePartitionRequest,
  type PartitionDescription,
  type PartitionDescriptions,
  PartitionState,
  type QueryChannels,
  type ResourceCost,
} from "../queryservice/types.ts";
import type { CollectionState } from "./collection.ts";
import type { FieldDesc } from "./columns.ts";
import { FilterCache } from "./filter-cache.ts";
import { IndexBatcher } from "./index-batcher.ts";
import { IndexRefresher } from "./index-refresh.ts";
import { SearchRunner } from "./kernel.ts";
import { type LoadIo, loadSealed, watchChannel } from "./loading.ts";
import {
  type QueryNodeDeps,
  type QueryNodeOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./options.ts";
import { runQuery } from "./query.ts";
import { QueryChannelServer } from "./query-channel.ts";
import { checkScope, fieldDesc } from "./read.ts";
import { Replica } from "./replica.ts";
import { checkSearch, runSearch, type SegmentSearch } from "./search.ts";
import type { SegmentSnapshot } from "./segment.ts";
import { ensureColumns } from "./segment-search.ts";
import type {
  LoadSegmentRequest,
  NodeQueryRequest,
  NodeQueryResult,
  NodeScope,
  NodeSearchRequest,
  NodeSearchResult,
  QueryNode,
  ReleaseSegmentRequest,
} from "./types.ts";

function invalid(msg: string): StrataError {
  return new StrataError("ParameterInvalid", msg);
}

function checkIds(v: unknown, what: string): readonly bigint[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "bigint"))
    throw invalid(`${what} must be a list of bigint IDs`);
  return v as readonly bigint[];
}

function checkNames(v: unknown, what: string): readonly string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && x.length > 0)) {
    throw invalid(`${what} must be a list of channel names`);
  }
  return v as readonly string[];
}

class QueryNodeImpl implements QueryNode {
  private readonly deps: QueryNodeDeps;
  private readonly opts: ResolvedOptions;
  private readonly replica: Replica;
  private readonly io: LoadIo;
  private readonly runner: SearchRunner;
  private readonly segmentSearch: SegmentSearch;
  private readonly refresher: IndexRefresher;
  private readonly batcher = new IndexBatcher();
  private readonly filters: FilterCache;
  private readonly cacheDir: string | undefined;
  private readonly abort = new AbortController();
  private readonly loading = new Map<bigint, Promise<void>>();
  private readonly loadingPartitions = new Map<bigint, number>();
  private readonly watching = new Map<string, Promise<void>>();
  private readonly queryChannels = new Map<string, QueryChannelServer>();
  private cpuMark = { usage: process.cpuUsage(), wallMs: performance.now() };
  private closed = false;

  constructor(deps: QueryNodeDeps, options: QueryNodeOptions) {
    this.deps = deps;
    this.opts = resolveOptions(options);
    const retry = <T>(fn: () => Promise<T>, what: string): Promise<T> =>
      withRetry(fn, {
        attempts: this.opts.retryAttempts,
        baseMs: this.opts.retryBaseMs,
        signal: this.abort.signal,
        logger: deps.logger,
        what,
      });
    this.replica = new Replica({
      nodeId: deps.nodeId,
      mq: deps.mq,
      dataservice: deps.dataservice,
      rootcoord: deps.rootcoord,
      logger: deps.logger,
      queueCapacity: this.opts.queueCapacity,
      pruneIntervalMs: this.opts.deleteBufferPruneMs,
      retry,
    });
    this.io = {
      env: {
        objects: deps.objects,
        signal: this.abort.signal,
        logger: deps.logger,
        maxFilesInFlight: this.opts.maxFilesInFlight,
        retryAttempts: this.opts.retryAttempts,
        retryBaseMs: this.opts.retryBaseMs,
      },
      dataservice: deps.dataservice,
      indexFiles: {
        objects: deps.objects,
        cacheDir: options.indexCacheDir,
        // usearch reserves one search context per hardware thread for a mapped index.
        searchThreads: Math.max(1, Math.min(this.opts.searchWorkers, availableParallelism())),
      },
      retry,
      checkOpen: () => this.checkOpen(),
    };
    this.cacheDir = options.indexCacheDir;
    this.refresher = new IndexRefresher(this.replica, this.io, deps.logger);
    this.runner = new SearchRunner(options.searchPool, this.opts.searchWorkers, deps.logger);
    this.segmentSearch = options.segmentSearch ?? this.runner.search;
    this.filters = new FilterCache(this.opts.filterCacheBytes);
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError("Closed", `query node ${this.deps.nodeId} is closed`);
  }

  // --- lifecycle ---

  async start(): Promise<void> {
    this.checkOpen();
    // Copies left by an earlier run are never reused: every load checks and copies afresh.
    if (this.cacheDir !== undefined) await rm(this.cacheDir, { recursive: true, force: true });
    this.refresher.start(this.opts.indexRefreshMs);
    const qs = this.deps.queryservice;
    if (qs === undefined) return;
    const params = await qs().registerNode({ nodeId: this.deps.nodeId, address: "" });
    const { requestChannel, resultChannel } = params.queryChannels;
    if (requestChannel !== "" && resultChannel !== "") await this.addQueryChannel(params.queryChannels);
    this.deps.logger.info({ nodeId: this.deps.nodeId }, "query node registered");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    await this.refresher.close();
    const { replica } = this;
    replica.tsafe.failAll(new StrataError("Closed", `query node ${this.deps.nodeId} closed`));
    await Promise.allSettled([...this.queryChannels.values()].map((q) => q.close()));
    await Promise.allSettled([...this.watching.values()]);
    await Promise.allSettled([...replica.channels.values()].map((c) => c.close()));
    await Promise.allSettled([...this.loading.values()]);
    await this.runner.close();
    this.queryChannels.clear();
    replica.channels.clear();
    for (const seg of replica.sealed.values()) seg.dispose();
    replica.sealed.clear();
    this.filters.clear();
    replica.collections.clear();
  }

  // --- query channels ---

  async addQueryChannel(channels: QueryChannels): Promise<void> {
    this.checkOpen();
    checkNames([channels?.requestChannel, channels?.resultChannel], "query channels");
    const key = `${channels.requestChannel}\n${channels.resultChannel}`;
    if (this.queryChannels.has(key)) return;
    const server = new QueryChannelServer(
      {
        mq: this.deps.mq,
        nodeId: this.deps.nodeId,
        logger: this.deps.logger,
        search: (r) => this.search(r),
        query: (r) => this.query(r),
      },
      channels,
    );
    this.queryChannels.set(key, server);
    try {
      await server.start();
    } catch (e) {
      this.queryChannels.delete(key);
      throw e;
    }
  }

  async removeQueryChannel(channels: QueryChannels): Promise<void> {
    const key = `${channels?.requestChannel}\n${channels?.resultChannel}`;
    const server = this.queryChannels.get(key);
    if (server === undefined) return;
    this.queryChannels.delete(key);
    await server.close();
  }

  // --- DML channels ---

  async watchDmChannels(channelIds: readonly string[]): Promise<void> {
    this.checkOpen();
    const names = checkNames(channelIds, "channelIds");
    const results = await Promise.allSettled(
      [...new Set(names)].map((name) => {
        if (this.replica.channels.has(name)) return Promise.resolve();
        let p = this.watching.get(name);
        if (p === undefined) {
          p = watchChannel(this.replica, this.io, name)
            .then((ch) =>
              this.deps.logger.info(
                { channel: name, growing: ch.growing.size, skipped: ch.skip.size },
                "query node watching channel",
              ),
            )
            .finally(() => this.watching.delete(name));
          this.watching.set(name, p);
        }
        return p;
      }),
    );
    for (const r of results) if (r.status === "rejected") throw r.reason;
  }

  async releaseDmChannels(channelIds: readonly string[]): Promise<void> {
    const names = checkNames(channelIds, "channelIds");
    for (const name of names) {
      await this.watching.get(name)?.catch(() => undefined);
      const ch = this.replica.channels.get(name);
      if (ch === undefined) continue;
      this.replica.channels.delete(name);
      this.replica.tsafe.remove(
        name,
        new StrataError("ChannelNotFound", `channel ${name} was released by query node ${this.deps.nodeId}`),
      );
      await ch.close();
    }
  }

  tSafe(channel: string): Timestamp {
    return this.replica.tsafe.get(channel);
  }

  // --- sealed segments ---

  async loadSegments(req: LoadSegmentRequest): Promise<void> {
    this.checkOpen();
    if (typeof req?.collectionId !== "bigint" || typeof req.partitionId !== "bigint") {
      throw invalid("collectionId and partitionId must be bigint IDs");
    }
    const ids = [...new Set(checkIds(req.segmentIds, "segmentIds"))];
    if (!Array.isArray(req.fieldIds) || !req.fieldIds.every((f) => Number.isSafeInteger(f))) {
      throw invalid("fieldIds must be a list of field IDs");
    }
    const coll = await this.replica.collection(req.collectionId);
    for (const id of req.fieldIds) if (id !== 0 && id !== 1) fieldDesc(coll, id);
    const fields: FieldDesc[] =
      req.fieldIds.length === 0
        ? [...coll.fields]
        : coll.fields.filter((f) => req.fieldIds.includes(f.fieldId) || f.fieldId === coll.pkField.fieldId);
    // Loads of the same segments already under way finish first (then they are loaded).
    await Promise.allSettled(ids.map((id) => this.loading.get(id)));
    const todo = ids.filter((id) => !this.replica.sealed.has(id) && !this.loading.has(id));
    if (todo.length === 0) return;
    const run = loadSealed(this.replica, this.io, req, coll, fields, todo);
    const tracked = run.catch(() => undefined);
    for (const id of todo) this.loading.set(id, tracked);
    const p = req.partitionId;
    this.loadingPartitions.set(p, (this.loadingPartitions.get(p) ?? 0) + 1);
    try {
      await run;
      this.deps.logger.info({ segments: todo.map(String), partitionId: String(p) }, "sealed segments loaded");
    } finally {
      for (const id of todo) this.loading.delete(id);
      const n = (this.loadingPartitions.get(p) ?? 1) - 1;
      if (n === 0) this.loadingPartitions.delete(p);
      else this.loadingPartitions.set(p, n);
    }
  }

  async releaseSegments(req: ReleaseSegmentRequest): Promise<void> {
    for (const id of checkIds(req?.segmentIds, "segmentIds")) {
      await this.loading.get(id);
      this.replica.release(id);
      this.filters.forget(id);
    }
  }

  // --- descriptions ---

  async describePartition(req: DescribePartitionRequest): Promise<PartitionDescriptions> {
    this.checkOpen();
    if (typeof req?.collectionId !== "bigint") throw invalid("collectionId must be a bigint");
    const partitionIds = checkIds(req.partitionIds, "partitionIds");
    let coll: CollectionState | undefined;
    try {
      coll = await this.replica.collection(req.collectionId);
    } catch (e) {
      if (!(e instanceof StrataError && e.code === "CollectionNotFound")) throw e;
    }
    const watched = [...this.replica.channels.values()].some(
      (c) => c.collection.collectionId === req.collectionId,
    );
    const out: PartitionDescription[] = [];
    for (const id of partitionIds) {
      if (coll === undefined || !(await this.replica.partitionExists(coll, id))) {
        out.push({ id, state: PartitionState.NOT_EXIST, resourceCost: { memUsage: 0, cpuUsage: 0 } });
        continue;
      }
      const held = this.replica.partitionMemory(req.collectionId, id);
      let state: PartitionState;
      if ((this.loadingPartitions.get(id) ?? 0) > 0) state = PartitionState.PARTIAL_IN_MEMORY;
      else if (held.sealed || watched) state = PartitionState.IN_MEMORY;
      else state = await this.stateOnDisk(coll, id);
      out.push({ id, state, resourceCost: { memUsage: held.bytes, cpuUsage: 0 } });
    }
    return { partitionDescriptions: out };
  }

  /** A partition this node holds nothing of: ON_DISK when it has flushed segments, else NOT_PRESENT. */
  private async stateOnDisk(coll: CollectionState, partitionId: bigint): Promise<PartitionState> {
    const ds = this.deps.dataservice;
    const { segmentIds } = await ds.showSegments({ collectionId: coll.collectionId, partitionId });
    for (const id of segmentIds) {
      const info = await ds.getSegmentInfo(id);
      if (info.state === SegmentState.FLUSHED && info.persistedRows > 0) return PartitionState.ON_DISK;
    }
    return PartitionState.NOT_PRESENT;
  }

  resourceCost(): ResourceCost {
    const now = performance.now();
    const used = process.cpuUsage(this.cpuMark.usage);
    const wallMs = now - this.cpuMark.wallMs;
    this.cpuMark = { usage: process.cpuUsage(), wallMs: now };
    const share = wallMs > 0 ? (used.user + used.system) / 1000 / wallMs : 0;
    return {
      // Kept filter results are memory the node holds for its loaded segments too.
      memUsage: this.replica.memory() + this.filters.stats().bytes,
      cpuUsage: Math.min(Math.max(share, 0), availableParallelism()),
    };
  }

  segments(): ReturnType<Replica["segments"]> {
    return this.replica.segments();
  }

  // --- search service ---

  async search(req: NodeSearchRequest): Promise<NodeSearchResult> {
    const { coll, snaps } = await this.prepareRead(req, (c) => checkSearch(c, req));
    this.batcher.begin();
    try {
      return await runSearch(coll, snaps, req, this.segmentSearch, this.batcher, this.filters);
    } finally {
      this.batcher.end();
    }
  }

  async query(req: NodeQueryRequest): Promise<NodeQueryResult> {
    const { coll, snaps } = await this.prepareRead(req, (c) => {
      if (!Array.isArray(req.outputFieldIds)) throw invalid("outputFieldIds must be a list of field IDs");
      for (const id of req.outputFieldIds) fieldDesc(c, id);
      if (typeof req.countOnly !== "boolean") throw invalid("countOnly must be a boolean");
    });
    if (!req.countOnly) await ensureColumns(snaps, req.outputFieldIds);
    return runQuery(coll, snaps, req, this.filters);
  }

  /** Validates, waits for tSafe, then fixes the snapshot of every segment the scope reads. */
  private async prepareRead(
    scope: NodeScope,
    check: (c: CollectionState) => void,
  ): Promise<{ coll: CollectionState; snaps: SegmentSnapshot[] }> {
    this.checkOpen();
    checkScope(scope);
    const coll = this.replica.collections.get(scope.collectionId);
    if (coll === undefined) {
      throw new StrataError(
        "CollectionNotLoaded",
        `collection ${scope.collectionId} has nothing loaded on query node ${this.deps.nodeId}`,
      );
    }
    check(coll);
    for (const name of scope.channels) {
      if (!this.replica.channels.has(name) && !this.watching.has(name)) {
        throw new StrataError(
          "ChannelNotFound",
          `channel ${name} is not watched by query node ${this.deps.nodeId}`,
        );
      }
    }
    await this.replica.tsafe.wait(scope.channels, scope.guaranteeTs, scope.timeoutMs);
    return { coll, snaps: this.replica.snapshots(coll, scope) };
  }
}

/** A query node (DESIGN.md §6, docs/read-path.md). `start()` registers it with the query service. */
export function createQueryNode(deps: QueryNodeDeps, options: QueryNodeOptions = {}): QueryNode {
  return new QueryNodeImpl(deps, options);
}

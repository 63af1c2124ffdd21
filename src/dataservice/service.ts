import { isStrataError, StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { Mutex } from "../common/mutex.ts";
import { composeTs, logicalOf, physicalOf, type Timestamp } from "../common/timestamp.ts";
import type { DataNode } from "../datanode/types.ts";
import type { IndexNode } from "../indexnode/types.ts";
import type { MetaKv } from "../kv/types.ts";
import type { Consumer, MessageQueue } from "../mq/types.ts";
import type { ObjectStore } from "../objectstore/types.ts";
import type { CollectionInfo, RootCoord } from "../rootcoord/types.ts";
import { planAssignments } from "./assign.ts";
import { IndexBuilds } from "./builds.ts";
import { IndexCatalog } from "./indexes.ts";
import { DataMeta } from "./meta.ts";
import { type DataServiceOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { applyTick, flushable, sealReason } from "./policies.ts";
import { type ChannelRecord, type SegmentRecord, toSegmentInfo, transition } from "./records.ts";
import { maxRowsFor } from "./row-size.ts";
import { planSave } from "./save.ts";
import { NodeSessions } from "./sessions.ts";
import { consumeTicks } from "./tick-consumer.ts";
import {
  type AssignSegIDRequest,
  type AssignSegIDResponse,
  type ChannelTickReport,
  type DataService,
  type FlushRequest,
  type FlushResponse,
  type IndexBuildsDescription,
  type IndexDefinition,
  type InitParams,
  type InsertBinlogPathRequest,
  type InsertBinlogPathsResponse,
  type InsertChannelRequest,
  type NewIndexDefinition,
  type NodeInfo,
  type SaveBinlogPathsRequest,
  type SegmentIndexFile,
  type SegmentInfo,
  SegmentState,
  type SegmentStatesRequest,
  type SegmentStatesResponse,
  type ShowSegmentRequest,
  type ShowSegmentResponse,
  type VChannelInfo,
} from "./types.ts";
import {
  checkAssignRequest,
  checkChannelName,
  checkId,
  checkNodeId,
  checkNodeInfo,
  checkSaveRequest,
} from "./validate.ts";
import { WatchDelivery } from "./watches.ts";

export interface DataServiceDeps {
  readonly kv: MetaKv;
  readonly mq: MessageQueue;
  readonly rootcoord: Pick<RootCoord, "describeCollection" | "allocID" | "allocTimestamp">;
  /**
   * Resolves a registered data node. Undefined means the node is gone, once it has been registered
   * for longer than the session TTL (the grace covers wiring that adds the node after its start).
   */
  readonly dataNodes: (nodeId: number) => DataNode | undefined;
  /** Index nodes to hand builds to; without them builds wait (segments stay served by a scan). */
  readonly indexNodes?: () => readonly IndexNode[];
  /** Where index files live (deleted with their index); without it files are never deleted. */
  readonly objects?: ObjectStore;
  readonly logger: Logger;
}

export interface DataNodeStatus {
  readonly nodeId: number;
  readonly address: string;
  /** Channels assigned to the node, sorted. */
  readonly channels: readonly string[];
}

/** The `DataService` plus the calls of whoever runs the data nodes (wiring, tests, the web UI). */
export interface ManagedDataService extends DataService {
  /** A data node leaves for good: its session is revoked and its channels move to the others. Idempotent. */
  unregisterNode(nodeId: number): Promise<void>;
  /** Live data nodes and the channels each holds. */
  describeNodes(): Promise<DataNodeStatus[]>;
}

const OPEN_STATES: ReadonlySet<number> = new Set([
  SegmentState.GROWING,
  SegmentState.SEALED,
  SegmentState.FLUSHING,
]);

const byId = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

export class DataServiceImpl implements ManagedDataService {
  readonly #d: DataServiceDeps;
  readonly #o: ResolvedOptions;
  readonly #log: Logger;
  /** Every meta mutation runs under this one lock; node calls never do (they may call back). */
  readonly #mutex = new Mutex();
  readonly #meta: DataMeta;
  readonly #indexes: IndexCatalog;
  readonly #builds: IndexBuilds;
  readonly #nodes: NodeSessions;
  readonly #collections = new Map<bigint, { info: CollectionInfo; maxRows: number }>();
  readonly #watches: WatchDelivery;
  readonly #flushAsked = new Map<bigint, { nodeId: number; at: number }>();
  readonly #lastTick = new Map<string, Timestamp>();
  readonly #background = new Set<Promise<unknown>>();
  #state: "new" | "running" | "closed" = "new";
  #consumer: Consumer | undefined;
  #loop: Promise<void> | undefined;
  #passTimer: NodeJS.Timeout | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #passRunning = false;
  #leasesRunning = false;

  constructor(deps: DataServiceDeps, options: DataServiceOptions = {}) {
    this.#d = deps;
    this.#o = resolveOptions(options);
    this.#log = deps.logger;
    this.#meta = new DataMeta(deps.kv);
    this.#indexes = new IndexCatalog(deps.kv, this.#mutex);
    this.#builds = new IndexBuilds(
      {
        kv: deps.kv,
        objects: deps.objects,
        logger: deps.logger,
        indexNodes: deps.indexNodes ?? (() => []),
        segment: (id) => {
          const s = this.#meta.segments.get(id);
          return s === undefined || s.state === SegmentState.DROPPED ? undefined : toSegmentInfo(s);
        },
        field: async (collectionId, fieldId) => {
          const f = (await this.#collection(collectionId)).info.schema.fields.find(
            (x) => x.fieldId === fieldId,
          );
          return f === undefined ? undefined : { dataType: f.dataType, dim: f.dim ?? 0 };
        },
        definition: (collectionId, indexId) =>
          this.#indexes.list(collectionId).find((d) => d.indexId === indexId),
        allocId: async () => (await this.#d.rootcoord.allocID(1)).start,
      },
      {
        minRows: this.#o.indexMinRows,
        pollMs: this.#o.indexPollMs,
        maxFailures: 3,
      },
    );
    this.#nodes = new NodeSessions(deps.kv, this.#o.nodeSessionTtlSeconds, deps.logger);
    this.#watches = new WatchDelivery({
      assigned: () =>
        [...this.#meta.channels.values()].flatMap((c) =>
          c.nodeId !== null && this.#nodes.has(c.nodeId) ? [{ channel: c.channel, nodeId: c.nodeId }] : [],
        ),
      ownerOf: (ch) => this.#meta.channels.get(ch)?.nodeId,
      resolve: (id) => this.#resolve(id),
      onError: (id, e) => this.#onNodeError(id, "watchDmChannels", e),
      running: () => this.#state === "running",
      spawn: (p) => this.#spawn(p),
      log: deps.logger,
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.#state !== "new") throw new StrataError("ParameterInvalid", "dataservice already started");
    const { mq } = this.#d;
    await mq.ensureChannel(this.#o.timeTickChannel);
    await mq.ensureChannel(this.#o.statsChannel);
    await this.#meta.load();
    await this.#indexes.load();
    await this.#builds.load();
    const owners = [...this.#meta.channels.values()].flatMap((c) => (c.nodeId === null ? [] : [c.nodeId]));
    await this.#nodes.recover(owners, (id) => this.#d.dataNodes(id) !== undefined);
    this.#consumer = await mq.consume(
      this.#o.timeTickChannel,
      { kind: "checkpoint", consumer: this.#o.consumerName },
      { maxBatch: 256 },
    );
    this.#state = "running";
    this.#loop = consumeTicks({
      consumer: this.#consumer,
      running: () => this.#state === "running",
      handle: (report, seq) => this.#handleReport(report, seq),
      saveCheckpoint: (seq) => this.#d.mq.saveCheckpoint(this.#o.consumerName, this.#o.timeTickChannel, seq),
      log: this.#log,
    });
    this.#passTimer = setInterval(() => this.#periodicPass(), this.#o.sealCheckIntervalMs);
    this.#passTimer.unref();
    this.#leaseTimer = setInterval(
      () => this.#spawn(this.#keepLeasesAlive()),
      Math.max(200, Math.floor((this.#o.nodeSessionTtlSeconds * 1000) / 3)),
    );
    this.#leaseTimer.unref();
    await this.#mutex.run(() => this.#assignOrphans());
    this.#watches.schedule();
    this.#builds.start();
    this.#spawn(this.#ensureBuilds());
    this.#log.info(
      { segments: this.#meta.segments.size, channels: this.#meta.channels.size, nodes: this.#nodes.ids() },
      "dataservice started",
    );
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    const wasRunning = this.#state === "running";
    this.#state = "closed";
    clearInterval(this.#passTimer);
    clearInterval(this.#leaseTimer);
    await this.#builds.close();
    await this.#consumer?.close();
    await this.#loop;
    if (wasRunning) {
      await this.#mutex
        .run(() => this.#meta.persistDirty())
        .catch((e: unknown) => {
          this.#log.warn({ err: e }, "could not persist row counts on close");
        });
    }
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
    this.#log.info("dataservice closed");
  }

  #ready(): void {
    if (this.#state === "new") throw new StrataError("ServiceNotReady", "dataservice is not started");
    if (this.#state === "closed") throw new StrataError("Closed", "dataservice is closed");
  }

  /** Runs `fn` under the meta lock, refusing once closed (queued work must not outlive close). */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(() => {
      this.#ready();
      return fn();
    });
  }

  #spawn(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => {
      if (this.#state === "closed" && isStrataError(e, "Closed")) return;
      this.#log.warn({ err: e }, "dataservice background task failed");
    });
    this.#background.add(q);
    void q.finally(() => this.#background.delete(q));
  }

  async #ttSeq(): Promise<number> {
    return (await this.#d.mq.lastSeq(this.#o.timeTickChannel)) ?? 0;
  }

  // ---------------------------------------------------------------- collections

  async #collection(
    collectionId: bigint,
    refresh = false,
  ): Promise<{ info: CollectionInfo; maxRows: number }> {
    const cached = this.#collections.get(collectionId);
    if (cached !== undefined && !refresh) return cached;
    const info = await this.#d.rootcoord.describeCollection(collectionId);
    const entry = { info, maxRows: maxRowsFor(info.schema, this.#o.segmentMaxBytes) };
    this.#collections.set(collectionId, entry);
    return entry;
  }

  // ---------------------------------------------------------------- seeds API

  async registerNode(req: NodeInfo): Promise<InitParams> {
    this.#ready();
    const info = checkNodeInfo(req);
    const nodeInfo: NodeInfo = { nodeId: info.nodeId, address: info.address };
    const handedOver = await this.#locked(async (): Promise<ChannelRecord[]> => {
      if (!this.#nodes.has(nodeInfo.nodeId)) {
        await this.#nodes.open(nodeInfo);
        this.#log.info({ nodeId: nodeInfo.nodeId }, "data node registered");
        await this.#assignOrphans();
        return this.#balanceChannels();
      }
      // Registering again means the node (re)started: it watches nothing and replays from the
      // checkpoints, so its channels are re-sent and its earlier tick reports fenced off.
      await this.#nodes.refresh(nodeInfo);
      const ttSeq = await this.#ttSeq();
      const mine = [...this.#meta.channels.values()].filter((c) => c.nodeId === nodeInfo.nodeId);
      await this.#meta.persist(
        [],
        mine.map((c) => ({ ...c, watchedAfterTtSeq: ttSeq })),
      );
      for (const c of mine) this.#forgetWatch(c.channel);
      this.#log.info({ nodeId: nodeInfo.nodeId, channels: mine.length }, "data node registered again");
      return [];
    });
    this.#releaseOn(handedOver);
    this.#watches.schedule();
    return {
      nodeId: nodeInfo.nodeId,
      timeTickChannel: this.#o.timeTickChannel,
      statsChannel: this.#o.statsChannel,
    };
  }

  async assignSegmentID(raw: AssignSegIDRequest): Promise<AssignSegIDResponse> {
    this.#ready();
    const req = checkAssignRequest(raw);
    if (req.perChannelRequest.length === 0) return { perChannelResponse: [] };
    const maxRows = new Map<bigint, number>();
    for (const r of req.perChannelRequest) {
      let c = await this.#collection(r.collectionId);
      if (!c.info.channels.includes(r.channelName)) {
        throw new StrataError(
          "ChannelNotFound",
          `channel ${r.channelName} is not a DML channel of collection ${r.collectionId}`,
        );
      }
      if (!c.info.partitions.some((p) => p.partitionId === r.partitionId)) {
        c = await this.#collection(r.collectionId, true);
        if (!c.info.partitions.some((p) => p.partitionId === r.partitionId)) {
          throw new StrataError(
            "PartitionNotFound",
            `partition ${r.partitionId} not found in collection ${r.collectionId}`,
          );
        }
      }
      maxRows.set(r.collectionId, c.maxRows);
      // Channels a crash kept from being announced are watched on first use.
      if (c.info.channels.some((ch) => !this.#meta.channels.has(ch))) {
        await this.watchChannels(r.collectionId, c.info.channels);
      }
    }
    return this.#locked(async () => {
      const now = await this.#d.rootcoord.allocTimestamp();
      const plan = await planAssignments(req.perChannelRequest, {
        segmentsOf: (ch) => this.#meta.channelSegments(ch),
        maxRowsOf: (id) => maxRows.get(id) ?? 1,
        newSegmentId: async () => (await this.#d.rootcoord.allocID(1)).start,
        now,
        expireTime: composeTs(physicalOf(now) + this.#o.assignmentExpirationMs, logicalOf(now)),
      });
      // Durable before the proxy can use it: a restarted dataservice knows every expiry it handed out.
      await this.#meta.persist(plan.touched);
      for (const s of plan.opened) {
        this.#log.info(
          { segmentId: s.segmentId.toString(), channel: s.channel, maxRows: s.maxRows },
          "segment opened",
        );
      }
      return { perChannelResponse: plan.out };
    });
  }

  async flush(req: FlushRequest): Promise<FlushResponse> {
    this.#ready();
    const collectionId = checkId(req?.collectionId, "collectionId");
    await this.#d.rootcoord.describeCollection(collectionId);
    return this.#locked(async () => {
      const growing: SegmentRecord[] = [];
      const ids: bigint[] = [];
      for (const s of this.#meta.segments.values()) {
        if (s.collectionId !== collectionId) continue;
        if (s.state === SegmentState.GROWING) growing.push(s);
        else if (s.state === SegmentState.SEALED || s.state === SegmentState.FLUSHING) ids.push(s.segmentId);
      }
      if (growing.length > 0) {
        const ts = await this.#d.rootcoord.allocTimestamp();
        await this.#meta.persist(growing.map((s) => transition(s, SegmentState.SEALED, { sealedTime: ts })));
        for (const s of growing) ids.push(s.segmentId);
        this.#log.info(
          { collectionId: collectionId.toString(), sealed: growing.map((s) => s.segmentId.toString()) },
          "flush sealed segments",
        );
      }
      return { segmentIds: ids.sort(byId) };
    });
  }

  async showSegments(req: ShowSegmentRequest): Promise<ShowSegmentResponse> {
    this.#ready();
    const collectionId = checkId(req?.collectionId, "collectionId");
    const partitionId = checkId(req?.partitionId, "partitionId");
    const ids: bigint[] = [];
    for (const s of this.#meta.segments.values()) {
      if (
        s.collectionId === collectionId &&
        s.partitionId === partitionId &&
        s.state !== SegmentState.DROPPED
      ) {
        ids.push(s.segmentId);
      }
    }
    return { segmentIds: ids.sort(byId) };
  }

  async getSegmentStates(req: SegmentStatesRequest): Promise<SegmentStatesResponse> {
    this.#ready();
    const s = this.#meta.segments.get(checkId(req?.segmentId, "segmentId"));
    if (s === undefined) return { state: SegmentState.NOT_EXIST, createTime: 0n, sealedTime: 0n, numRows: 0 };
    return { state: s.state, createTime: s.createTime, sealedTime: s.sealedTime, numRows: s.numRows };
  }

  async getInsertBinlogPaths(req: InsertBinlogPathRequest): Promise<InsertBinlogPathsResponse> {
    const s = this.#segment(req?.segmentId);
    const fieldIdToPaths = new Map<number, readonly string[]>();
    for (const f of s.binlogs)
      fieldIdToPaths.set(
        f.fieldId,
        f.binlogs.map((b) => b.path),
      );
    return { fieldIdToPaths };
  }

  async getInsertChannels(req: InsertChannelRequest): Promise<string[]> {
    this.#ready();
    const collectionId = checkId(req?.collectionId, "collectionId");
    const info = await this.#d.rootcoord.describeCollection(collectionId);
    return [...info.channels];
  }

  async getTimeTickChannel(): Promise<string> {
    this.#ready();
    return this.#o.timeTickChannel;
  }

  async getStatsChannel(): Promise<string> {
    this.#ready();
    return this.#o.statsChannel;
  }

  // ---------------------------------------------------------------- beyond the seeds

  #segment(segmentId: unknown): SegmentRecord {
    this.#ready();
    const id = checkId(segmentId, "segmentId");
    const s = this.#meta.segments.get(id);
    if (s === undefined) throw new StrataError("SegmentNotFound", `segment ${id} not found`);
    return s;
  }

  // ---------------------------------------------------------------- indexes

  async createIndex(def: NewIndexDefinition): Promise<IndexDefinition> {
    this.#ready();
    checkId(def.collectionId, "collectionId");
    await this.#d.rootcoord.describeCollection(def.collectionId);
    const created = await this.#indexes.create(def, async () => ({
      indexId: (await this.#d.rootcoord.allocID(1)).start,
      createTime: await this.#d.rootcoord.allocTimestamp(),
    }));
    await this.#ensureBuilds(def.collectionId);
    return created;
  }

  /** Records the builds flushed segments need (of one collection, or all). */
  async #ensureBuilds(collectionId?: bigint): Promise<void> {
    const segs: SegmentInfo[] = [];
    for (const s of this.#meta.segments.values()) {
      if (s.state !== SegmentState.FLUSHED) continue;
      if (collectionId !== undefined && s.collectionId !== collectionId) continue;
      segs.push(toSegmentInfo(s));
    }
    const colls = new Set(segs.map((s) => s.collectionId));
    const defs = [...colls].flatMap((c) => this.#indexes.list(c));
    if (defs.length > 0) await this.#builds.ensure(defs, segs);
  }

  async describeIndexBuilds(collectionId: bigint): Promise<IndexBuildsDescription> {
    this.#ready();
    return { builds: this.#builds.list(collectionId), minRows: this.#o.indexMinRows };
  }

  async getSegmentIndexes(segmentIds: readonly bigint[]): Promise<SegmentIndexFile[]> {
    this.#ready();
    return this.#builds.finished(segmentIds);
  }

  async reportIndexFault(buildId: bigint, fileKey: string, reason: string): Promise<void> {
    this.#ready();
    checkId(buildId, "buildId");
    await this.#builds.fault(buildId, String(fileKey), String(reason));
  }

  async describeIndexes(collectionId: bigint): Promise<IndexDefinition[]> {
    this.#ready();
    return this.#indexes.list(collectionId);
  }

  async dropIndex(collectionId: bigint, indexName: string): Promise<void> {
    this.#ready();
    const d = await this.#indexes.drop(collectionId, indexName);
    await this.#builds.remove((b) => b.collectionId === collectionId && b.indexId === d.indexId);
  }

  async listSegments(collectionId: bigint): Promise<SegmentInfo[]> {
    this.#ready();
    const out: SegmentInfo[] = [];
    for (const s of this.#meta.segments.values()) {
      if (s.collectionId === collectionId && s.state !== SegmentState.DROPPED) out.push(toSegmentInfo(s));
    }
    return out.sort((a, b) => byId(a.segmentId, b.segmentId));
  }

  async getSegmentInfo(segmentId: bigint): Promise<SegmentInfo> {
    return toSegmentInfo(this.#segment(segmentId));
  }

  async saveBinlogPaths(raw: SaveBinlogPathsRequest): Promise<void> {
    this.#ready();
    const { req, paths } = checkSaveRequest(raw);
    let flushed = false;
    await this.#locked(async () => {
      const seg = this.#meta.segments.get(req.segmentId);
      if (seg === undefined) throw new StrataError("SegmentNotFound", `segment ${req.segmentId} not found`);
      const plan = planSave(seg, this.#meta.channels.get(req.channel), req, paths);
      if (plan === undefined) return;
      await this.#meta.persist([plan.seg], plan.chan === undefined ? [] : [plan.chan]);
      // A delta-only save on an already FLUSHED segment is routine, not a flush.
      if (plan.seg.state === SegmentState.FLUSHED && seg.state !== SegmentState.FLUSHED) {
        this.#flushAsked.delete(seg.segmentId);
        this.#log.info({ segmentId: seg.segmentId.toString(), rows: req.persistedRows }, "segment flushed");
        flushed = true;
      }
    });
    if (flushed) this.#spawn(this.#ensureBuilds(req.collectionId));
  }

  async getVChannelInfo(channel: string): Promise<VChannelInfo> {
    this.#ready();
    const name = checkChannelName(channel);
    const c = this.#meta.channels.get(name);
    if (c === undefined) throw new StrataError("ChannelNotFound", `channel ${name} is not watched`);
    const segments: SegmentInfo[] = [];
    for (const s of this.#meta.channelSegments(name)) {
      if (s.state !== SegmentState.DROPPED) segments.push(toSegmentInfo(s));
    }
    segments.sort((a, b) => byId(a.segmentId, b.segmentId));
    return { collectionId: c.collectionId, channel: name, checkpoint: c.checkpoint, segments };
  }

  async watchChannels(collectionId: bigint, channels: readonly string[]): Promise<void> {
    this.#ready();
    checkId(collectionId, "collectionId");
    if (!Array.isArray(channels) || channels.length === 0) {
      throw new StrataError("ParameterInvalid", "watchChannels needs at least one channel");
    }
    for (const ch of channels) checkChannelName(ch);
    for (const ch of channels) await this.#d.mq.ensureChannel(ch);
    await this.#locked(async () => {
      for (const ch of channels) {
        const c = this.#meta.channels.get(ch);
        if (c !== undefined && c.collectionId !== collectionId) {
          throw new StrataError(
            "ParameterInvalid",
            `channel ${ch} already belongs to collection ${c.collectionId}`,
          );
        }
      }
      const fresh: ChannelRecord[] = [...new Set(channels)]
        .filter((ch) => !this.#meta.channels.has(ch))
        .map((channel) => ({
          channel,
          collectionId,
          nodeId: null,
          checkpoint: { channel, seq: 0, timestamp: 0n },
          watchedAfterTtSeq: 0,
        }));
      await this.#meta.persist([], fresh);
      await this.#assignOrphans();
    });
    this.#watches.schedule();
  }

  async dropCollection(collectionId: bigint): Promise<void> {
    this.#ready();
    checkId(collectionId, "collectionId");
    const released = await this.#locked(async () => {
      const segs: SegmentRecord[] = [];
      for (const s of this.#meta.segments.values()) {
        if (s.collectionId === collectionId && s.state !== SegmentState.DROPPED) {
          segs.push(transition(s, SegmentState.DROPPED, { allocations: [] }));
        }
      }
      const chans = [...this.#meta.channels.values()].filter((c) => c.collectionId === collectionId);
      // Segments first: a crash in between leaves the channels, and a retried drop finishes the job.
      await this.#meta.persist(segs);
      await this.#meta.persist(
        [],
        [],
        chans.map((c) => c.channel),
      );
      await this.#indexes.dropCollection(collectionId);
      for (const s of segs) this.#flushAsked.delete(s.segmentId);
      for (const c of chans) {
        this.#forgetWatch(c.channel);
        this.#lastTick.delete(c.channel);
      }
      this.#collections.delete(collectionId);
      this.#log.info(
        { collectionId: collectionId.toString(), segments: segs.length, channels: chans.length },
        "collection dropped",
      );
      return chans;
    });
    this.#releaseOn(released);
    await this.#builds.remove((b) => b.collectionId === collectionId);
  }

  async unregisterNode(nodeId: number): Promise<void> {
    this.#ready();
    checkNodeId(nodeId);
    await this.#nodeGone(nodeId, "unregistered", true);
  }

  async describeNodes(): Promise<DataNodeStatus[]> {
    this.#ready();
    return this.#nodes
      .values()
      .map((n) => ({
        nodeId: n.info.nodeId,
        address: n.info.address,
        channels: [...this.#meta.channels.values()]
          .filter((c) => c.nodeId === n.info.nodeId)
          .map((c) => c.channel)
          .sort(),
      }))
      .sort((a, b) => a.nodeId - b.nodeId);
  }

  // ---------------------------------------------------------------- data nodes

  #forgetWatch(channel: string): void {
    this.#watches.forget(channel);
    for (const s of this.#meta.channelSegments(channel)) this.#flushAsked.delete(s.segmentId);
  }

  /**
   * Gives every channel without a live owner to the least loaded live node (ties: lowest ID),
   * fencing off tick reports older than the new watch. With no live node the channels stay
   * unassigned (nodeId null). Caller holds the lock.
   */
  async #assignOrphans(): Promise<void> {
    const orphans = [...this.#meta.channels.values()]
      .filter((c) => c.nodeId === null || !this.#nodes.has(c.nodeId))
      .sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
    if (orphans.length === 0) return;
    if (this.#nodes.size === 0) {
      const stale = orphans.filter((c) => c.nodeId !== null).map((c) => ({ ...c, nodeId: null }));
      await this.#meta.persist([], stale);
      return;
    }
    const load = new Map<number, number>();
    for (const id of this.#nodes.ids()) load.set(id, 0);
    for (const c of this.#meta.channels.values()) {
      if (c.nodeId !== null && load.has(c.nodeId)) load.set(c.nodeId, (load.get(c.nodeId) ?? 0) + 1);
    }
    const ttSeq = await this.#ttSeq();
    const updates: ChannelRecord[] = [];
    for (const c of orphans) {
      let best = -1;
      let bestLoad = Number.POSITIVE_INFINITY;
      for (const [id, n] of load) {
        if (n < bestLoad || (n === bestLoad && id < best)) {
          best = id;
          bestLoad = n;
        }
      }
      load.set(best, bestLoad + 1);
      updates.push({ ...c, nodeId: best, watchedAfterTtSeq: ttSeq });
    }
    await this.#meta.persist([], updates);
    // The channel's last tick is kept: the new owner replays from the checkpoint, and its reports
    // count only once they pass what the old owner had reached.
    for (const c of updates) {
      this.#forgetWatch(c.channel);
      this.#log.info({ channel: c.channel, nodeId: c.nodeId }, "channel assigned");
    }
  }

  /**
   * Evens out channels per live node (a node that joins takes over channels): while the busiest
   * node has two more than the idlest, its last channel moves. The new owner replays from the
   * checkpoint; the old one's later saves are refused (it no longer owns the channel) and it is
   * told to release. Caller holds the lock. Returns the channels as they were (old owners).
   */
  async #balanceChannels(): Promise<ChannelRecord[]> {
    const byNode = new Map<number, ChannelRecord[]>();
    for (const id of this.#nodes.ids()) byNode.set(id, []);
    const sorted = [...this.#meta.channels.values()].sort((a, b) =>
      a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0,
    );
    for (const c of sorted) if (c.nodeId !== null) byNode.get(c.nodeId)?.push(c);
    if (byNode.size < 2) return [];
    const moved: ChannelRecord[] = [];
    const updates: ChannelRecord[] = [];
    const ttSeq = await this.#ttSeq();
    for (;;) {
      const order = [...byNode].sort((a, b) => a[1].length - b[1].length || a[0] - b[0]);
      const [minId, minList] = order[0] as [number, ChannelRecord[]];
      const [, maxList] = order[order.length - 1] as [number, ChannelRecord[]];
      if (maxList.length - minList.length < 2) break;
      const c = maxList.pop() as ChannelRecord;
      moved.push(c);
      const next: ChannelRecord = { ...c, nodeId: minId, watchedAfterTtSeq: ttSeq };
      minList.push(next);
      updates.push(next);
    }
    if (updates.length === 0) return [];
    await this.#meta.persist([], updates);
    for (const c of updates) {
      this.#forgetWatch(c.channel);
      this.#log.info({ channel: c.channel, nodeId: c.nodeId }, "channel handed over to balance data nodes");
    }
    return moved;
  }

  /** The node is gone (unregistered, unreachable, closed): its session ends, its channels move. */
  async #nodeGone(nodeId: number, reason: string, release = false): Promise<void> {
    const moved = await this.#locked(async () => {
      if (!(await this.#nodes.end(nodeId))) return [];
      const mine = [...this.#meta.channels.values()].filter((c) => c.nodeId === nodeId);
      this.#log.warn({ nodeId, reason, channels: mine.map((c) => c.channel) }, "data node gone");
      await this.#assignOrphans();
      return mine;
    });
    if (release && moved.length > 0) {
      const node = this.#d.dataNodes(nodeId);
      if (node !== undefined) {
        this.#spawn(
          node.releaseDmChannels(moved.map((c) => c.channel)).catch((e: unknown) => {
            if (!isStrataError(e, "Closed")) throw e;
          }),
        );
      }
    }
    this.#watches.schedule();
  }

  /** Tells the owners of dropped channels to stop their flowgraphs (best effort). */
  #releaseOn(chans: readonly ChannelRecord[]): void {
    const byNode = new Map<number, string[]>();
    for (const c of chans) {
      if (c.nodeId === null) continue;
      const list = byNode.get(c.nodeId) ?? [];
      list.push(c.channel);
      byNode.set(c.nodeId, list);
    }
    for (const [nodeId, list] of byNode) {
      const node = this.#d.dataNodes(nodeId);
      if (node === undefined) continue;
      this.#spawn(
        node.releaseDmChannels(list).catch((e: unknown) => {
          if (!isStrataError(e, "Closed")) throw e;
        }),
      );
    }
  }

  /** A call to the node failed: Closed means it is gone; anything else is retried later. */
  #onNodeError(nodeId: number, what: string, e: unknown): void {
    if (isStrataError(e, "Closed")) {
      this.#spawn(this.#nodeGone(nodeId, `${what} failed: closed`));
    } else {
      this.#log.warn({ err: e, nodeId }, `data node ${what} failed; will retry`);
    }
  }

  #resolve(nodeId: number): DataNode | undefined {
    const node = this.#d.dataNodes(nodeId);
    if (node === undefined) {
      const n = this.#nodes.get(nodeId);
      if (n !== undefined && Date.now() - n.registeredAt > this.#o.nodeSessionTtlSeconds * 1000) {
        this.#spawn(this.#nodeGone(nodeId, "no longer resolvable"));
      }
    }
    return node;
  }

  async #keepLeasesAlive(): Promise<void> {
    if (this.#state !== "running" || this.#leasesRunning) return;
    this.#leasesRunning = true;
    try {
      await this.#nodes.keepAlive();
    } finally {
      this.#leasesRunning = false;
    }
  }

  // ---------------------------------------------------------------- policies and ticks

  /** Seals GROWING segments (of one channel, or all) by size, lifetime and idle time. Caller holds the lock. */
  async #applySealPolicies(changed: Map<bigint, SegmentRecord>, channel?: string): Promise<void> {
    const nowMs = Date.now();
    const toSeal: { seg: SegmentRecord; reason: string }[] = [];
    const pool = channel === undefined ? this.#meta.segments.values() : this.#meta.channelSegments(channel);
    for (const s of pool) {
      const seg = changed.get(s.segmentId) ?? s;
      const reason = sealReason(seg, nowMs, this.#o);
      if (reason !== undefined) toSeal.push({ seg, reason });
    }
    if (toSeal.length === 0) return;
    const ts = await this.#d.rootcoord.allocTimestamp();
    for (const { seg, reason } of toSeal) {
      changed.set(seg.segmentId, transition(seg, SegmentState.SEALED, { sealedTime: ts }));
      this.#log.info({ segmentId: seg.segmentId.toString(), reason, rows: seg.numRows }, "segment sealed");
    }
  }

  async #handleReport(r: ChannelTickReport, seq: number): Promise<void> {
    const ask = await this.#locked(async () => {
      const ch = this.#meta.channels.get(r.channel);
      if (
        ch === undefined ||
        ch.collectionId !== r.collectionId ||
        ch.nodeId !== r.nodeId ||
        !this.#nodes.has(r.nodeId) ||
        seq <= ch.watchedAfterTtSeq
      ) {
        return undefined;
      }
      const last = this.#lastTick.get(r.channel);
      if (last !== undefined && r.timestamp < last) return undefined;
      this.#lastTick.set(r.channel, r.timestamp);
      const tick = r.timestamp;
      const reported = new Map<bigint, number>();
      for (const s of r.segments) reported.set(s.segmentId, s.numRows);
      for (const seg of this.#meta.channelSegments(r.channel)) {
        if (!OPEN_STATES.has(seg.state)) continue;
        const next = applyTick(seg, tick, reported.get(seg.segmentId));
        if (next !== seg) this.#meta.updateSoft(next);
      }
      const changed = new Map<bigint, SegmentRecord>();
      await this.#applySealPolicies(changed, r.channel);
      for (const s of this.#meta.channelSegments(r.channel)) {
        const seg = changed.get(s.segmentId) ?? s;
        if (seg.state === SegmentState.SEALED && flushable(seg, tick)) {
          changed.set(seg.segmentId, transition(seg, SegmentState.FLUSHING));
        }
      }
      await this.#meta.persist([...changed.values()]);
      const now = Date.now();
      const ids: bigint[] = [];
      for (const seg of this.#meta.channelSegments(r.channel)) {
        if (seg.state !== SegmentState.FLUSHING || !flushable(seg, tick)) continue;
        const asked = this.#flushAsked.get(seg.segmentId);
        if (
          asked !== undefined &&
          asked.nodeId === r.nodeId &&
          now - asked.at < this.#o.flushRetryIntervalMs
        ) {
          continue;
        }
        this.#flushAsked.set(seg.segmentId, { nodeId: r.nodeId, at: now });
        ids.push(seg.segmentId);
      }
      return ids.length === 0 ? undefined : { nodeId: r.nodeId, segmentIds: ids.sort(byId) };
    });
    if (ask === undefined) return;
    const node = this.#resolve(ask.nodeId);
    if (node === undefined) return;
    this.#log.info(
      { nodeId: ask.nodeId, channel: r.channel, segments: ask.segmentIds.map(String) },
      "asking data node to flush",
    );
    this.#spawn(
      node
        .flush({ dbId: 0n, collectionId: r.collectionId, segmentIds: ask.segmentIds })
        .catch((e: unknown) => this.#onNodeError(ask.nodeId, "flush", e)),
    );
  }

  /** Timer: node liveness, seal policies for all channels, row-count persistence, watch retries. */
  #periodicPass(): void {
    if (this.#passRunning || this.#state !== "running") return;
    this.#passRunning = true;
    const run = async (): Promise<void> => {
      for (const nodeId of this.#nodes.ids()) this.#resolve(nodeId);
      await this.#locked(async () => {
        const changed = new Map<bigint, SegmentRecord>();
        await this.#applySealPolicies(changed);
        await this.#meta.persist([...changed.values()]);
        await this.#meta.persistDirty();
      });
      this.#watches.schedule();
    };
    this.#spawn(
      run()
        .catch((e: unknown) => {
          if (this.#state === "running") throw e;
        })
        .finally(() => {
          this.#passRunning = false;
        }),
    );
  }
}

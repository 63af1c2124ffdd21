import { isStrataError, StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { Mutex } from "../common/mutex.ts";
import type { DataService, NodeInfo } from "../dataservice/types.ts";
import type { MetaKv } from "../kv/types.ts";
import type { MessageQueue } from "../mq/types.ts";
import type { QueryNode } from "../querynode/types.ts";
import type { RootCoord } from "../rootcoord/types.ts";
import {
  collectWork,
  due,
  groupBy,
  type LoadWork,
  type QueryChannelWork,
  type ReleaseCall,
  releaseChannelsCall,
  releaseSegmentsCall,
  retryDelay,
  type Want,
  type WatchWork,
  type Work,
} from "./calls.ts";
import { fresh, LoadedCollection, type PartitionEntry, type Progress } from "./collections.ts";
import { nodeStatuses, partitionCosts, type QueryNodeStatus, serviceDescription } from "./describe.ts";
import type { QueryServiceEvent } from "./events.ts";
import { type ListingResult, listPartition } from "./listing.ts";
import { type NodeEntry, NodeRegistry } from "./nodes.ts";
import { type QueryServiceOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { assignOrphans } from "./placement.ts";
import { type Move, planMoves } from "./rebalance.ts";
import {
  COLLECTION_PREFIX,
  collectionKey,
  decodeCollection,
  decodeQueryChannel,
  encodeRecord,
  QUERY_CHANNEL_PREFIX,
  type QueryChannelRecord,
  queryChannelKey,
} from "./records.ts";
import { distributionOf, LoadWaiters, stateName } from "./routing.ts";
import {
  type DescribePartitionRequest,
  type Distribution,
  type LoadPartitionRequest,
  NodeState,
  type PartitionDescriptions,
  PartitionState,
  type QueryChannels,
  type QueryInitParams,
  type QueryService,
  type ReleasePartitionRequest,
  type ResourceCost,
  type ServiceDescription,
} from "./types.ts";
import { checkId, checkNodeId, checkNodeInfo, checkPartitionRequest, checkTimeout } from "./validate.ts";

export interface QueryServiceDeps {
  readonly kv: MetaKv;
  readonly mq: MessageQueue;
  readonly dataservice: Pick<
    DataService,
    "showSegments" | "getSegmentInfo" | "getSegmentStates" | "getInsertChannels"
  >;
  readonly rootcoord: Pick<RootCoord, "describeCollection">;
  /**
   * Resolves a registered query node. Undefined means the node is gone, once it has been
   * registered for longer than `resolveGraceMs`.
   */
  readonly queryNodes: (nodeId: number) => QueryNode | undefined;
  readonly logger: Logger;
  /** Every partition and node state transition, in order (tests, the web UI). Must not throw. */
  readonly onStateChange?: (e: QueryServiceEvent) => void;
}

/** The `QueryService` plus the calls of whoever runs the query nodes (wiring, tests, the web UI). */
export interface ManagedQueryService extends QueryService {
  /** A query node leaves for good: its work moves to the other nodes. Idempotent. */
  unregisterNode(nodeId: number): Promise<void>;
  /**
   * Resolves once every loaded partition of the collection is IN_MEMORY.
   * @throws StrataError CollectionNotLoaded (not loaded, or released while waiting), Timeout, Closed.
   */
  waitLoaded(collectionId: bigint, timeoutMs: number): Promise<void>;
  /** Registered nodes with their state and placed work. */
  describeNodes(): Promise<QueryNodeStatus[]>;
}

const ZERO_COST: ResourceCost = { memUsage: 0, cpuUsage: 0 };
const byBigint = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

export class QueryServiceImpl implements ManagedQueryService {
  readonly #d: QueryServiceDeps;
  readonly #o: ResolvedOptions;
  readonly #log: Logger;
  /** Every state and placement change runs under this lock; node calls never do. */
  readonly #mutex = new Mutex();
  readonly #nodes: NodeRegistry;
  readonly #collections = new Map<bigint, LoadedCollection>();
  readonly #queryChannels: QueryChannelRecord[] = [];
  readonly #waiters = new LoadWaiters((id) => this.#collections.get(id));
  readonly #background = new Set<Promise<unknown>>();
  /** Release calls under way per `itemKey`. */
  readonly #releasing = new Map<string, number>();
  #state: "new" | "running" | "closed" = "new";
  #timer: NodeJS.Timeout | undefined;
  #passRunning = false;
  #passAgain = false;
  #lastProbe = 0;
  #lastRebalance = 0;
  #rebalancing = false;
  #token = 0;

  constructor(deps: QueryServiceDeps, options: QueryServiceOptions = {}) {
    this.#d = deps;
    this.#o = resolveOptions(options);
    this.#log = deps.logger;
    this.#nodes = new NodeRegistry(deps.kv, (e) => this.#emit(e));
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.#state !== "new") throw new StrataError("ParameterInvalid", "queryservice already started");
    const { mq, kv } = this.#d;
    await mq.ensureChannel(this.#o.timeTickChannel);
    await mq.ensureChannel(this.#o.statsChannel);
    for (const e of await kv.getPrefix(QUERY_CHANNEL_PREFIX)) {
      this.#queryChannels.push(decodeQueryChannel(e.key, e.value));
    }
    await this.#nodes.recover(
      (id) => this.#d.queryNodes(id) !== undefined,
      this.#queryChannels.map((q) => q.n),
    );
    const records = (await kv.getPrefix(COLLECTION_PREFIX)).map((e) => decodeCollection(e.key, e.value));
    this.#state = "running";
    await this.#mutex.run(async () => {
      for (const r of records) {
        const coll = LoadedCollection.fromRecord(r, () => this.#nextToken());
        if (this.#assignOrphans(coll)) await this.#persist(coll);
        this.#collections.set(coll.collectionId, coll);
        this.#recompute(coll, "recovered");
      }
    });
    this.#timer = setInterval(() => this.#kick(), this.#o.handoffIntervalMs);
    this.#timer.unref();
    this.#kick();
    this.#log.info(
      { collections: records.length, nodes: this.#nodes.values().map((n) => n.info.nodeId) },
      "queryservice started",
    );
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearInterval(this.#timer);
    this.#waiters.failAll(new StrataError("Closed", "queryservice is closed"));
    await this.#mutex.run(() => undefined);
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
    this.#log.info("queryservice closed");
  }

  #ready(): void {
    if (this.#state === "new") throw new StrataError("ServiceNotReady", "queryservice is not started");
    if (this.#state === "closed") throw new StrataError("Closed", "queryservice is closed");
  }

  /** Runs `fn` under the lock, refusing once closed (queued work must not outlive close). */
  #locked<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.#mutex.run(() => {
      this.#ready();
      return fn();
    });
  }

  #spawn(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => {
      if (this.#state === "closed" && isStrataError(e, "Closed")) return;
      this.#log.warn({ err: e }, "queryservice background task failed");
    });
    this.#background.add(q);
    void q.finally(() => this.#background.delete(q));
  }

  #nextToken(): number {
    this.#token += 1;
    return this.#token;
  }

  #emit(e: QueryServiceEvent): void {
    if (e.kind === "partition") {
      this.#log.info(
        {
          collectionId: e.collectionId.toString(),
          partitionId: e.partitionId.toString(),
          from: stateName(e.from),
          to: stateName(e.to),
          reason: e.reason,
        },
        "partition state",
      );
    } else {
      this.#log.info({ nodeId: e.nodeId, from: e.from, to: e.to, reason: e.reason }, "query node state");
    }
    try {
      this.#d.onStateChange?.(e);
    } catch (err) {
      this.#log.warn({ err }, "onStateChange listener threw");
    }
  }

  // ---------------------------------------------------------------- nodes

  async registerNode(req: NodeInfo): Promise<QueryInitParams> {
    this.#ready();
    const info = checkNodeInfo(req);
    const { again, pair } = await this.#locked(async () => {
      const first = this.#queryChannels[0] ?? (await this.#newQueryChannelPair());
      const existing = this.#nodes.get(info.nodeId);
      if (existing !== undefined) {
        // Registering again is taken as a restart: the node may hold nothing, so everything
        // placed on it is sent again (the calls are idempotent for a node that kept it all).
        await this.#nodes.updateAddress(info);
        for (const q of this.#queryChannels) existing.pendingQueryChannels.add(q.n);
        existing.queryChannelRetryAt = 0;
        return { again: true, pair: first };
      }
      await this.#nodes.add(
        info,
        this.#queryChannels.map((q) => q.n),
      );
      for (const coll of [...this.#collections.values()]) {
        const draft = coll.clone();
        if (!this.#assignOrphans(draft)) continue;
        await this.#persist(draft);
        this.#collections.set(draft.collectionId, draft);
        this.#recompute(draft, "placed");
      }
      return { again: false, pair: first };
    });
    this.#log.info(
      { nodeId: info.nodeId, again },
      again ? "query node registered again" : "query node registered",
    );
    if (again) this.#spawn(this.#dispatch(() => true, info.nodeId));
    else this.#spawn(this.#dispatch(due));
    return { nodeId: info.nodeId, queryChannels: pair.channels };
  }

  async unregisterNode(nodeId: number): Promise<void> {
    this.#ready();
    checkNodeId(nodeId);
    const held = await this.#nodeGone(nodeId, "unregistered");
    // It leaves for good: ask it to free what it held (best effort, it may already be down).
    if (held !== undefined && this.#d.queryNodes(nodeId) !== undefined) await this.#startReleases(held);
  }

  async describeNodes(): Promise<QueryNodeStatus[]> {
    this.#ready();
    return nodeStatuses(this.#nodes.values(), this.#collections.values());
  }

  /** The node's own measured cost; zero when it cannot be reached. */
  #measured(nodeId: number): ResourceCost {
    const node = this.#d.queryNodes(nodeId);
    if (node === undefined) return ZERO_COST;
    try {
      const c = node.resourceCost();
      return { memUsage: c.memUsage, cpuUsage: c.cpuUsage };
    } catch (e) {
      this.#noteFailure(nodeId, "resourceCost", e);
      return ZERO_COST;
    }
  }

  #noteSuccess(nodeId: number, what: string): void {
    this.#nodes.setState(nodeId, NodeState.HEALTHY, `${what} succeeded`);
  }

  #noteFailure(nodeId: number, what: string, e: unknown): void {
    if (!this.#nodes.has(nodeId)) return;
    this.#nodes.setState(nodeId, NodeState.ABNORMAL, `${what} failed`);
    if (isStrataError(e, "Closed")) {
      this.#spawn(this.#nodeGone(nodeId, `${what} failed: closed`));
    } else {
      this.#log.warn({ err: e, nodeId }, `query node ${what} failed; will retry`);
    }
  }

  /** Calls a node; success and failure update its state. Resolves with the error, if any. */
  async #callNode(
    nodeId: number,
    what: string,
    run: (node: QueryNode) => Promise<void>,
  ): Promise<unknown | undefined> {
    const node = this.#d.queryNodes(nodeId);
    if (node === undefined) {
      const err = new StrataError("NodeNotFound", `query node ${nodeId} is not reachable`);
      this.#noteFailure(nodeId, what, err);
      return err;
    }
    try {
      await run(node);
      this.#noteSuccess(nodeId, what);
      return undefined;
    } catch (e) {
      this.#noteFailure(nodeId, what, e);
      return e ?? new Error("unknown failure");
    }
  }

  /**
   * Sends release calls. What they free is marked as being released at once (callers start them
   * under the lock, before any load of the same thing can be collected) and unmarked when the node
   * answered; then the loads that waited are sent.
   */
  #startReleases(calls: readonly ReleaseCall[]): Promise<void> {
    if (calls.length === 0) return Promise.resolve();
    for (const c of calls) for (const k of c.keys) this.#releasing.set(k, (this.#releasing.get(k) ?? 0) + 1);
    const run = async (c: ReleaseCall): Promise<void> => {
      try {
        const err = await this.#callNode(c.nodeId, c.what, c.run);
        if (err !== undefined && !isStrataError(err, "Closed") && !isStrataError(err, "NodeNotFound")) {
          this.#log.warn({ err, nodeId: c.nodeId }, `query node ${c.what} failed`);
        }
      } finally {
        for (const k of c.keys) {
          const n = (this.#releasing.get(k) ?? 1) - 1;
          if (n <= 0) this.#releasing.delete(k);
          else this.#releasing.set(k, n);
        }
      }
    };
    const all = Promise.all(calls.map(run)).then(() => {
      this.#spawn(this.#dispatch(due));
    });
    this.#spawn(all);
    return all;
  }

  /**
   * The node is gone (closed, unreachable, unregistered): ABNORMAL, then dropped, and its channels
   * and segments are placed on the other nodes. The partitions that lost something fall back from
   * IN_MEMORY to PARTIAL_IN_MEMORY until the new placement is loaded. Resolves with release calls
   * for what it held (for a node that leaves politely), or undefined when it was not registered.
   */
  async #nodeGone(nodeId: number, reason: string): Promise<ReleaseCall[] | undefined> {
    const held = await this.#mutex.run(async () => {
      if (this.#state !== "running" || !this.#nodes.has(nodeId)) return undefined;
      const drafts: { draft: LoadedCollection; affected: Set<bigint>; changed: boolean }[] = [];
      const releases: ReleaseCall[] = [];
      for (const coll of this.#collections.values()) {
        const draft = coll.clone();
        const affected = new Set<bigint>();
        const channels: string[] = [];
        for (const ch of draft.channels.values()) {
          if (ch.nodeId !== nodeId) continue;
          channels.push(ch.channel);
          Object.assign(ch, fresh(null, this.#nextToken()));
          for (const p of draft.partitions.values()) {
            affected.add(p.partitionId);
            p.caughtUp = false;
          }
        }
        if (channels.length > 0) releases.push(releaseChannelsCall(nodeId, channels));
        const segs: [bigint, bigint][] = [];
        for (const s of draft.segments.values()) {
          if (s.nodeId !== nodeId) continue;
          segs.push([s.partitionId, s.segmentId]);
          Object.assign(s, fresh(null, this.#nextToken()));
          affected.add(s.partitionId);
        }
        for (const [pid, ids] of groupBy(segs)) {
          releases.push(releaseSegmentsCall(nodeId, draft.dbId, draft.collectionId, pid, ids));
        }
        const changed = channels.length > 0 || segs.length > 0;
        if (changed) this.#assignOrphans(draft, nodeId);
        drafts.push({ draft, affected, changed });
      }
      // The store first: until it has the new placement, nothing changes in memory.
      for (const d of drafts) if (d.changed) await this.#persist(d.draft);
      await this.#nodes.remove(nodeId, reason);
      for (const { draft, affected } of drafts) {
        this.#collections.set(draft.collectionId, draft);
        this.#regress(draft, affected, "node down");
        this.#recompute(draft, "placed");
      }
      this.#log.warn({ nodeId, reason }, "query node dropped");
      return releases;
    });
    if (held !== undefined) {
      this.#spawn(this.#dispatch(due));
      this.#kick();
    }
    return held;
  }

  /** Places what `draft` has without a live node (see `assignOrphans`); `exclude` is a node on its way out. */
  #assignOrphans(draft: LoadedCollection, exclude?: number): boolean {
    const live = new Set(this.#nodes.values().map((n) => n.info.nodeId));
    if (exclude !== undefined) live.delete(exclude);
    return assignOrphans(draft, {
      live,
      measure: () =>
        this.#nodes.values().flatMap((n) =>
          live.has(n.info.nodeId)
            ? [
                {
                  nodeId: n.info.nodeId,
                  abnormal: n.state === NodeState.ABNORMAL,
                  memBytes: this.#measured(n.info.nodeId).memUsage,
                  channels: 0,
                },
              ]
            : [],
        ),
      others: [...this.#collections.values()].filter((c) => c.collectionId !== draft.collectionId),
      nextToken: () => this.#nextToken(),
    });
  }

  // ---------------------------------------------------------------- states

  #transition(coll: LoadedCollection, p: PartitionEntry, to: PartitionState, reason: string): void {
    if (p.state === to) return;
    const from = p.state;
    p.state = to;
    if (to === PartitionState.IN_MEMORY) p.everInMemory = true;
    this.#emit({
      kind: "partition",
      collectionId: coll.collectionId,
      partitionId: p.partitionId,
      from,
      to,
      reason,
    });
  }

  /** Moves each partition forward to what its placement supports (never backwards), then wakes waiters. */
  #recompute(coll: LoadedCollection, reason: string): void {
    for (const p of coll.partitions.values()) {
      if (p.state === PartitionState.NOT_PRESENT) this.#transition(coll, p, PartitionState.ON_DISK, reason);
      const target = coll.target(p.partitionId);
      if (target > p.state) this.#transition(coll, p, target, reason);
    }
    this.#waiters.notify();
  }

  /** Partitions that lost loaded data go back from IN_MEMORY to PARTIAL_IN_MEMORY. */
  #regress(coll: LoadedCollection, partitionIds: Iterable<bigint>, reason: string): void {
    for (const id of partitionIds) {
      const p = coll.partitions.get(id);
      if (p !== undefined && p.state === PartitionState.IN_MEMORY) {
        this.#transition(coll, p, PartitionState.PARTIAL_IN_MEMORY, reason);
      }
    }
  }

  async #persist(coll: LoadedCollection): Promise<void> {
    await this.#d.kv.put(collectionKey(coll.collectionId), encodeRecord(coll.toRecord()));
  }

  // ---------------------------------------------------------------- load / release

  async loadPartitions(raw: LoadPartitionRequest): Promise<void> {
    this.#ready();
    const req = checkPartitionRequest(raw, "loadPartitions");
    const info = await this.#d.rootcoord.describeCollection(req.collectionId);
    const exists = new Set(info.partitions.map((p) => p.partitionId));
    for (const id of req.partitionIds) {
      if (!exists.has(id)) {
        throw new StrataError(
          "PartitionNotFound",
          `partition ${id} not found in collection ${req.collectionId}`,
        );
      }
    }
    const wanted = req.partitionIds.length > 0 ? req.partitionIds : [...exists];
    const placed = await this.#locked(async () => {
      const cur = this.#collections.get(req.collectionId);
      const added = wanted.filter((id) => cur?.partitions.has(id) !== true).sort(byBigint);
      if (added.length === 0) return false;
      if (this.#nodes.size === 0) {
        throw new StrataError("ServiceUnavailable", "no query node is registered: cannot load");
      }
      const draft = cur?.clone() ?? new LoadedCollection(req.collectionId, info.dbId);
      if (cur === undefined) {
        const channels = await this.#d.dataservice.getInsertChannels({
          dbId: info.dbId,
          collectionId: req.collectionId,
        });
        for (const channel of channels)
          draft.channels.set(channel, { channel, ...fresh(null, this.#nextToken()) });
      }
      const channelsReady = draft.channels.size > 0 && draft.allChannelsReady();
      for (const id of added) {
        draft.partitions.set(id, {
          partitionId: id,
          state: PartitionState.NOT_PRESENT,
          caughtUp: channelsReady,
          everInMemory: false,
        });
        await this.#list(draft, id);
      }
      this.#assignOrphans(draft);
      await this.#persist(draft);
      this.#collections.set(draft.collectionId, draft);
      this.#log.info(
        {
          collectionId: req.collectionId.toString(),
          partitions: added.map(String),
          segments: draft.segments.size,
          channels: draft.channels.size,
        },
        "load: placement decided",
      );
      this.#recompute(draft, "load");
      return true;
    });
    if (placed) this.#spawn(this.#dispatch(due));
  }

  async releasePartitions(raw: ReleasePartitionRequest): Promise<void> {
    this.#ready();
    const req = checkPartitionRequest(raw, "releasePartitions");
    const { done } = await this.#locked(async () => {
      const coll = this.#collections.get(req.collectionId);
      if (coll === undefined) return { done: Promise.resolve() };
      const ids = req.partitionIds.length > 0 ? req.partitionIds : [...coll.partitions.keys()];
      return { done: this.#startReleases(await this.#release(coll, ids, "release")) };
    });
    await done;
  }

  /**
   * Forgets the partitions (their segments, and the channels when none stays loaded), persists,
   * and returns the node calls that free them. Caller holds the lock.
   */
  async #release(
    coll: LoadedCollection,
    partitionIds: readonly bigint[],
    reason: string,
  ): Promise<ReleaseCall[]> {
    const ids = partitionIds.filter((id) => coll.partitions.has(id));
    if (ids.length === 0) return [];
    const { draft, calls, whole } = coll.withoutPartitions(ids);
    if (whole) {
      await this.#d.kv.delete(collectionKey(coll.collectionId));
      this.#collections.delete(coll.collectionId);
    } else {
      await this.#persist(draft);
      this.#collections.set(draft.collectionId, draft);
    }
    for (const id of ids) {
      const p = coll.partitions.get(id);
      if (p !== undefined) this.#transition(draft, { ...p }, PartitionState.NOT_PRESENT, reason);
    }
    this.#log.info(
      { collectionId: coll.collectionId.toString(), partitions: ids.map(String), whole, reason },
      "partitions released",
    );
    this.#waiters.notify();
    return calls;
  }

  /** Lists a partition's segments into the draft (see `listPartition`). Caller holds the lock. */
  async #list(draft: LoadedCollection, partitionId: bigint): Promise<ListingResult> {
    const r = await listPartition(this.#d.dataservice, draft, partitionId, () => this.#nextToken());
    for (const id of r.dropped) {
      this.#log.info({ segmentId: id.toString() }, "segment dropped: releasing");
    }
    return r;
  }

  /**
   * One handoff pass over a collection: drops what rootcoord no longer has, places newly FLUSHED
   * segments, releases DROPPED ones, places orphans. Caller holds the lock.
   */
  async #sync(collectionId: bigint): Promise<ReleaseCall[]> {
    const coll = this.#collections.get(collectionId);
    if (coll === undefined) return [];
    let partitions: Set<bigint>;
    try {
      const info = await this.#d.rootcoord.describeCollection(collectionId);
      partitions = new Set(info.partitions.map((p) => p.partitionId));
    } catch (e) {
      if (isStrataError(e, "CollectionNotFound")) {
        return this.#release(coll, [...coll.partitions.keys()], "collection dropped");
      }
      throw e;
    }
    const calls: ReleaseCall[] = [];
    const gone = [...coll.partitions.keys()].filter((id) => !partitions.has(id));
    if (gone.length > 0) calls.push(...(await this.#release(coll, gone, "partition dropped")));
    const cur = this.#collections.get(collectionId);
    if (cur === undefined) return calls;
    const draft = cur.clone();
    // Snapshot before listing: only a listing that started while every channel was followed counts.
    const channelsReady = draft.allChannelsReady();
    let changed = false;
    for (const p of draft.partitions.values()) {
      const r = await this.#list(draft, p.partitionId);
      changed = r.changed || changed;
      calls.push(...r.releases);
      if (channelsReady) p.caughtUp = true;
    }
    changed = this.#assignOrphans(draft) || changed;
    if (changed) await this.#persist(draft);
    this.#collections.set(collectionId, draft);
    this.#recompute(draft, "placed");
    return calls;
  }

  // ---------------------------------------------------------------- node calls

  /** Issues the calls `collectWork` selects; resolves when every one has been answered. */
  async #dispatch(want: Want, onlyNode?: number): Promise<void> {
    const work = await this.#mutex.run(() =>
      this.#state === "running"
        ? collectWork(
            this.#collections.values(),
            this.#nodes,
            this.#queryChannels,
            want,
            (key) => this.#releasing.has(key),
            onlyNode,
          )
        : [],
    );
    await Promise.all(work.map((w) => this.#issue(w)));
  }

  async #issue(w: Work): Promise<void> {
    switch (w.kind) {
      case "watch": {
        const err = await this.#callNode(w.nodeId, "watchDmChannels", (n) =>
          n.watchDmChannels(w.items.map((i) => i.channel)),
        );
        await this.#answer(w, err);
        return;
      }
      case "load": {
        const err = await this.#callNode(w.nodeId, "loadSegments", (n) =>
          n.loadSegments({
            dbId: w.dbId,
            collectionId: w.collectionId,
            partitionId: w.partitionId,
            segmentIds: w.items.map((i) => i.segmentId),
            fieldIds: [],
          }),
        );
        await this.#answer(w, err);
        return;
      }
      case "queryChannels": {
        let err: unknown;
        for (const p of w.pairs) {
          err = await this.#callNode(w.nodeId, "addQueryChannel", (n) => n.addQueryChannel(p.channels));
          if (err !== undefined) break;
          this.#nodes.get(w.nodeId)?.pendingQueryChannels.delete(p.n);
        }
        this.#answerQueryChannels(w, err);
        return;
      }
    }
  }

  #answerQueryChannels(w: QueryChannelWork, err: unknown): void {
    const n: NodeEntry | undefined = this.#nodes.get(w.nodeId);
    if (n === undefined) return;
    n.queryChannelsInflight = false;
    if (err === undefined) {
      n.queryChannelFailures = 0;
    } else {
      n.queryChannelFailures += 1;
      n.queryChannelRetryAt =
        Date.now() + retryDelay(n.queryChannelFailures, this.#o.handoffIntervalMs, this.#o.maxRetryDelayMs);
    }
  }

  /**
   * A watch or load call answered. Placements still matching the call's tokens become ready (or
   * back off after a failure); an answer for a placement that moved or was released meanwhile
   * means the node now holds something nobody routes to: it is freed there.
   */
  async #answer(w: WatchWork | LoadWork, err: unknown): Promise<void> {
    await this.#mutex.run((): void => {
      if (this.#state !== "running") return;
      const coll = this.#collections.get(w.collectionId);
      const now = Date.now();
      const lost = new Set<bigint>();
      const staleKeys: (string | bigint)[] = [];
      for (const item of w.items) {
        const p: (Progress & { partitionId?: bigint }) | undefined =
          "channel" in item ? coll?.channels.get(item.channel) : coll?.segments.get(item.segmentId);
        const key = "channel" in item ? item.channel : item.segmentId;
        if (p === undefined || p.token !== item.token) {
          if (err === undefined && (p === undefined || p.nodeId !== w.nodeId)) staleKeys.push(key);
          continue;
        }
        p.inflight = false;
        if (err === undefined) {
          p.ready = true;
          p.failures = 0;
          continue;
        }
        if (p.ready && coll !== undefined) {
          if (p.partitionId === undefined) for (const id of coll.partitions.keys()) lost.add(id);
          else lost.add(p.partitionId);
        }
        p.ready = false;
        p.failures += 1;
        p.retryAt = now + retryDelay(p.failures, this.#o.handoffIntervalMs, this.#o.maxRetryDelayMs);
      }
      if (coll !== undefined) {
        this.#regress(coll, lost, `${w.kind} failed`);
        this.#recompute(coll, w.kind === "watch" ? "channel watched" : "segments loaded");
        // Every channel is followed now: list again at once so the partitions can catch up.
        if (w.kind === "watch" && err === undefined && coll.allChannelsReady()) this.#kick();
      }
      if (staleKeys.length === 0) return;
      void this.#startReleases([
        w.kind === "watch"
          ? releaseChannelsCall(w.nodeId, staleKeys as string[])
          : releaseSegmentsCall(w.nodeId, w.dbId, w.collectionId, w.partitionId, staleKeys as bigint[]),
      ]);
    });
  }

  // ---------------------------------------------------------------- the handoff pass

  #kick(): void {
    if (this.#state !== "running") return;
    if (this.#passRunning) {
      this.#passAgain = true;
      return;
    }
    this.#passRunning = true;
    const loop = async (): Promise<void> => {
      try {
        do {
          this.#passAgain = false;
          await this.#pass();
        } while (this.#passAgain && this.#state === "running");
      } finally {
        this.#passRunning = false;
      }
    };
    this.#spawn(loop());
  }

  /** Node liveness, then per loaded collection a sync, then the calls that are due. */
  async #pass(): Promise<void> {
    const now = Date.now();
    for (const n of this.#nodes.values()) {
      if (this.#state !== "running") return;
      const id = n.info.nodeId;
      if (this.#d.queryNodes(id) === undefined && now - n.registeredAt > this.#o.resolveGraceMs) {
        await this.#nodeGone(id, "no longer resolvable");
      }
    }
    if (now - this.#lastProbe >= this.#o.probeIntervalMs) {
      this.#lastProbe = now;
      this.#spawn(this.#probe());
    }
    if (
      !this.#rebalancing &&
      this.#o.rebalanceMaxMoves > 0 &&
      now - this.#lastRebalance >= this.#o.rebalanceIntervalMs
    ) {
      this.#lastRebalance = now;
      this.#rebalancing = true;
      this.#spawn(
        this.#rebalance().finally(() => {
          this.#rebalancing = false;
        }),
      );
    }
    for (const id of [...this.#collections.keys()]) {
      if (this.#state !== "running") return;
      try {
        await this.#mutex.run(async () => {
          if (this.#state === "running") void this.#startReleases(await this.#sync(id));
        });
      } catch (e) {
        this.#log.warn({ err: e, collectionId: id.toString() }, "handoff pass failed; will retry");
      }
    }
    this.#spawn(this.#dispatch(due));
  }

  // ---------------------------------------------------------------- rebalance

  /** One rebalance round (see rebalance.ts): only while every registered node is healthy. */
  async #rebalance(): Promise<void> {
    const moves = await this.#mutex.run(() => {
      if (this.#state !== "running") return [];
      const nodes = this.#nodes.values();
      if (nodes.some((n) => n.state !== NodeState.HEALTHY)) return [];
      return planMoves(
        this.#collections.values(),
        nodes.map((n) => n.info.nodeId),
        this.#o.rebalanceMaxMoves,
      );
    });
    const groups = groupBy(
      moves.map((m) => [`${m.collectionId}/${m.partitionId}/${m.from}/${m.to}`, m] as const),
    );
    for (const group of groups.values()) {
      if (this.#state !== "running") return;
      await this.#moveSegments(group);
    }
  }

  /** Loads the segments on the target, switches their placement, frees the source's copies later. */
  async #moveSegments(group: readonly Move[]): Promise<void> {
    const first = group[0];
    if (first === undefined) return;
    const { collectionId, dbId, partitionId, from, to } = first;
    const ids = group.map((m) => m.segmentId);
    const err = await this.#callNode(to, "loadSegments", (n) =>
      n.loadSegments({ dbId, collectionId, partitionId, segmentIds: ids, fieldIds: [] }),
    );
    const switched = new Set<bigint>();
    const elsewhere = new Set<bigint>();
    await this.#mutex.run(async () => {
      const coll = this.#collections.get(collectionId);
      if (coll === undefined || this.#state !== "running") return;
      const draft = coll.clone();
      for (const m of group) {
        const s = draft.segments.get(m.segmentId);
        if (s?.nodeId === to) elsewhere.add(m.segmentId);
        if (err !== undefined || s === undefined || s.token !== m.token || s.nodeId !== from || !s.ready)
          continue;
        Object.assign(s, fresh(to, this.#nextToken()), { ready: true });
        switched.add(m.segmentId);
      }
      if (switched.size === 0) return;
      await this.#persist(draft);
      this.#collections.set(collectionId, draft);
    });
    // The target holds copies nobody routes to when the switch did not happen.
    const unused = ids.filter((id) => !switched.has(id) && !elsewhere.has(id));
    if (unused.length > 0)
      void this.#startReleases([releaseSegmentsCall(to, dbId, collectionId, partitionId, unused)]);
    if (switched.size === 0) return;
    this.#log.info(
      { collectionId: collectionId.toString(), from, to, segments: [...switched].map(String) },
      "segments moved to balance rows",
    );
    this.#spawn(
      new Promise((r) => setTimeout(r, this.#o.rebalanceReleaseDelayMs)).then(() =>
        this.#mutex.run(() => {
          if (this.#state !== "running") return;
          const coll = this.#collections.get(collectionId);
          // A segment placed back on the source meanwhile keeps its copy there.
          const free = [...switched].filter((id) => coll?.segments.get(id)?.nodeId !== from);
          if (free.length > 0)
            void this.#startReleases([releaseSegmentsCall(from, dbId, collectionId, partitionId, free)]);
        }),
      ),
    );
  }

  /**
   * Asks every node about one collection's partitions (none: the cheapest answer there is): one
   * it holds work for, else any loaded one. A closed node throws Closed and is dropped like on any other call.
   */
  async #probe(): Promise<void> {
    const asks: { nodeId: number; dbId: bigint; collectionId: bigint }[] = [];
    const any = this.#collections.values().next().value;
    for (const n of this.#nodes.values()) {
      const id = n.info.nodeId;
      // A node with no work is asked about any loaded collection: an idle node that died must
      // not stay registered (and be chosen for the next placement) just because nobody called it.
      let ask = any;
      for (const c of this.#collections.values()) {
        if (this.#holders(c).includes(id)) {
          ask = c;
          break;
        }
      }
      if (ask !== undefined) asks.push({ nodeId: id, dbId: ask.dbId, collectionId: ask.collectionId });
    }
    await Promise.all(asks.map((a) => this.#askPartitions(a.nodeId, a.dbId, a.collectionId, [])));
  }

  // ---------------------------------------------------------------- describe

  async describeService(): Promise<ServiceDescription> {
    this.#ready();
    return serviceDescription(this.#nodes.values(), this.#collections.values(), (id) => this.#measured(id));
  }

  async describePartition(raw: DescribePartitionRequest): Promise<PartitionDescriptions> {
    this.#ready();
    const req = checkPartitionRequest(raw, "describePartition");
    const info = await this.#d.rootcoord.describeCollection(req.collectionId);
    const exists = new Set(info.partitions.map((p) => p.partitionId));
    const ids = req.partitionIds.length > 0 ? req.partitionIds : [...exists].sort(byBigint);
    const coll = this.#collections.get(req.collectionId);
    const loaded = coll === undefined ? [] : ids.filter((id) => exists.has(id) && coll.partitions.has(id));
    const costs =
      coll === undefined || loaded.length === 0
        ? new Map<bigint, ResourceCost>()
        : await partitionCosts(coll.collectionId, loaded, {
            holders: this.#holders(coll),
            ask: (nodeId) => this.#askPartitions(nodeId, coll.dbId, coll.collectionId, loaded),
            measured: (nodeId) => this.#measured(nodeId),
            collections: () => this.#collections.values(),
          });
    return {
      partitionDescriptions: ids.map((id) => ({
        id,
        state: !exists.has(id)
          ? PartitionState.NOT_EXIST
          : (this.#collections.get(req.collectionId)?.partitions.get(id)?.state ??
            PartitionState.NOT_PRESENT),
        resourceCost: costs.get(id) ?? ZERO_COST,
      })),
    };
  }

  /** Registered nodes holding any channel or segment of the collection. */
  #holders(coll: LoadedCollection): number[] {
    const ids = new Set<number>();
    for (const p of [...coll.channels.values(), ...coll.segments.values()]) {
      if (p.nodeId !== null && this.#nodes.has(p.nodeId)) ids.add(p.nodeId);
    }
    return [...ids];
  }

  async #askPartitions(
    nodeId: number,
    dbId: bigint,
    collectionId: bigint,
    partitionIds: readonly bigint[],
  ): Promise<PartitionDescriptions | undefined> {
    let answer: PartitionDescriptions | undefined;
    await this.#callNode(nodeId, "describePartition", async (n) => {
      answer = await n.describePartition({ dbId, collectionId, partitionIds });
    });
    return answer;
  }

  // ---------------------------------------------------------------- channels

  /** Creates, records and announces pair number max + 1. Caller holds the lock. */
  async #newQueryChannelPair(): Promise<QueryChannelRecord> {
    const n = (this.#queryChannels.at(-1)?.n ?? 0) + 1;
    const p = this.#o.queryChannelPrefix;
    const channels: QueryChannels = {
      requestChannel: `${p}-request-${n}`,
      resultChannel: `${p}-result-${n}`,
    };
    await this.#d.mq.ensureChannel(channels.requestChannel);
    await this.#d.mq.ensureChannel(channels.resultChannel);
    const rec: QueryChannelRecord = { n, channels };
    await this.#d.kv.put(queryChannelKey(n), encodeRecord(rec));
    this.#queryChannels.push(rec);
    for (const node of this.#nodes.values()) node.pendingQueryChannels.add(n);
    this.#log.info({ ...channels }, "query channel pair created");
    return rec;
  }

  async createQueryChannel(): Promise<QueryChannels> {
    this.#ready();
    const rec = await this.#locked(() => this.#newQueryChannelPair());
    // Registered nodes serve it before the caller gets it (failures are retried by the pass).
    await this.#dispatch(() => false);
    return rec.channels;
  }

  async getTimeTickChannel(): Promise<string> {
    this.#ready();
    return this.#o.timeTickChannel;
  }

  async getStatsChannel(): Promise<string> {
    this.#ready();
    return this.#o.statsChannel;
  }

  // ---------------------------------------------------------------- routing

  async getDistribution(collectionId: bigint): Promise<Distribution> {
    this.#ready();
    checkId(collectionId, "collectionId");
    return distributionOf(this.#collections.get(collectionId), collectionId);
  }

  waitLoaded(collectionId: bigint, timeoutMs: number): Promise<void> {
    this.#ready();
    checkId(collectionId, "collectionId");
    checkTimeout(timeoutMs);
    return this.#waiters.wait(collectionId, timeoutMs);
  }
}

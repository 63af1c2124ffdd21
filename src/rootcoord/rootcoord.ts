import { StrataError } from "../common/errors.ts";
import type { IdAllocator } from "../common/id-allocator.ts";
import type { Logger } from "../common/log.ts";
import { encodeMsg, MsgType } from "../common/msg/index.ts";
import { Mutex } from "../common/mutex.ts";
import { validateName } from "../common/names.ts";
import { validateSchema } from "../common/schema.ts";
import type { Timestamp } from "../common/timestamp.ts";
import type { TimestampOracle } from "../common/tso.ts";
import { CONSISTENCY_LEVELS } from "../common/types.ts";
import type { DataService } from "../dataservice/types.ts";
import type { MetaKv } from "../kv/types.ts";
import type { MessageQueue } from "../mq/types.ts";
import {
  collectionKey,
  collectionNameKey,
  decodeCollection,
  encodeCollection,
  loadCatalog,
} from "./catalog.ts";
import { TimeTickMerger } from "./timetick.ts";
import {
  type CollectionInfo,
  type CreateCollectionRequest,
  DEFAULT_PARTITION,
  DEFAULT_SHARDS,
  MAX_PARTITIONS,
  MAX_SHARDS,
  type PartitionInfo,
  type ProxyTimeTickReport,
  type RootCoord,
} from "./types.ts";

export interface RootCoordDeps {
  readonly kv: MetaKv;
  readonly mq: MessageQueue;
  readonly tso: TimestampOracle;
  readonly ids: IdAllocator;
  /** Late-bound: the dataservice needs the root coordinator too. */
  readonly dataservice: () => DataService;
  readonly logger: Logger;
}

export interface RootCoordOptions {
  /** How often merged time ticks are written into the DML channels (default 200 ms). */
  readonly timeTickIntervalMs?: number;
  /** A proxy silent for this long no longer holds ticks back (default 30 s). */
  readonly proxyTimeoutMs?: number;
  readonly ddChannel?: string;
}

const enc = new TextEncoder();

export function dmlChannelName(collectionId: bigint, shard: number): string {
  return `dml_${collectionId}_${shard}`;
}

/** A root coordinator plus the start-up step the wiring needs. */
export interface ManagedRootCoord extends RootCoord {
  /**
   * Loads the catalogue from the meta store without starting anything else, so roles that
   * recover before `start()` (the dataservice re-watching channels) can already describe
   * collections. Idempotent; `start()` calls it too.
   */
  loadCatalog(): Promise<void>;
}

class RootCoordImpl implements ManagedRootCoord {
  readonly #d: RootCoordDeps;
  readonly #tickMs: number;
  readonly #proxyTimeoutMs: number;
  readonly #dd: string;
  readonly #ddl = new Mutex();
  readonly #byId = new Map<bigint, { info: CollectionInfo; modRevision: number }>();
  readonly #byName = new Map<string, bigint>();
  readonly #merger = new TimeTickMerger();
  readonly #lastTick = new Map<string, Timestamp>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> = Promise.resolve();
  #closed = false;
  #loaded = false;

  constructor(deps: RootCoordDeps, opts: RootCoordOptions) {
    this.#d = deps;
    this.#tickMs = opts.timeTickIntervalMs ?? 200;
    this.#proxyTimeoutMs = opts.proxyTimeoutMs ?? 30_000;
    this.#dd = opts.ddChannel ?? "dd";
  }

  async loadCatalog(): Promise<void> {
    if (this.#loaded) return;
    await this.#d.mq.ensureChannel(this.#dd);
    for (const c of await loadCatalog(this.#d.kv)) {
      this.#byId.set(c.info.collectionId, c);
      this.#byName.set(c.info.schema.name, c.info.collectionId);
    }
    this.#loaded = true;
  }

  async start(): Promise<void> {
    await this.loadCatalog();
    // A crash between the catalogue commit and the dataservice call leaves channels unwatched:
    // re-announcing is idempotent.
    for (const { info } of this.#byId.values()) {
      for (const ch of info.channels) await this.#d.mq.ensureChannel(ch);
      await this.#d.dataservice().watchChannels(info.collectionId, info.channels);
    }
    this.#timer = setInterval(() => {
      this.#ticking = this.#ticking
        .then(() => this.#writeTicks())
        .catch((e: unknown) => {
          this.#d.logger.warn({ err: e }, "time tick round failed");
        });
    }, this.#tickMs);
    this.#timer.unref();
    this.#d.logger.info({ collections: this.#byId.size }, "rootcoord started");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#ticking;
    await this.#ddl.run(() => undefined);
  }

  #check(): void {
    if (this.#closed) throw new StrataError("Closed", "rootcoord is closed");
  }

  async #writeTicks(): Promise<void> {
    if (this.#closed) return;
    const now = Date.now();
    for (const id of this.#merger.expire(now, this.#proxyTimeoutMs)) {
      this.#d.logger.warn({ proxyId: id }, "proxy stopped reporting time ticks; no longer waited for");
    }
    let fresh: Timestamp | undefined;
    const writes: Promise<unknown>[] = [];
    for (const { info } of this.#byId.values()) {
      for (const ch of info.channels) {
        let t = this.#merger.tickFor(ch);
        if (t === undefined) {
          fresh ??= await this.#d.tso.allocate();
          t = fresh;
        }
        if (t > (this.#lastTick.get(ch) ?? 0n)) {
          this.#lastTick.set(ch, t);
          writes.push(this.#d.mq.produce(ch, [encodeMsg({ type: MsgType.TimeTick, timestamp: t })]));
        }
      }
    }
    await Promise.all(writes);
  }

  #get(nameOrId: string | bigint): { info: CollectionInfo; modRevision: number } {
    const id = typeof nameOrId === "bigint" ? nameOrId : this.#byName.get(nameOrId);
    const c = id === undefined ? undefined : this.#byId.get(id);
    if (c === undefined)
      throw new StrataError("CollectionNotFound", `collection ${String(nameOrId)} not found`);
    return c;
  }

  async #announce(
    type:
      | typeof MsgType.CreateCollection
      | typeof MsgType.DropCollection
      | typeof MsgType.CreatePartition
      | typeof MsgType.DropPartition,
    ts: Timestamp,
    collectionId: bigint,
    partitionId: bigint,
    body: unknown,
  ): Promise<void> {
    const payload = encodeMsg({
      type,
      timestamp: ts,
      collectionId,
      partitionId,
      body: JSON.stringify(body, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
    });
    await this.#d.mq.produce(this.#dd, [payload]);
  }

  createCollection(req: CreateCollectionRequest): Promise<CollectionInfo> {
    return this.#ddl.run(async () => {
      this.#check();
      const schema = validateSchema(req.schema);
      if (req.consistencyLevel !== undefined && !CONSISTENCY_LEVELS.includes(req.consistencyLevel)) {
        throw new StrataError(
          "ParameterInvalid",
          `unknown consistency level ${String(req.consistencyLevel)}`,
        );
      }
      const shards = req.shardsNum ?? DEFAULT_SHARDS;
      if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
        throw new StrataError(
          "ParameterInvalid",
          `shards_num must be an integer in [1, ${MAX_SHARDS}], got ${shards}`,
        );
      }
      if (this.#byName.has(schema.name)) {
        throw new StrataError("ParameterInvalid", `collection ${schema.name} already exists`);
      }
      const ids = await this.#d.ids.allocate(2);
      const collectionId = ids.start;
      const ts = await this.#d.tso.allocate();
      const channels = Array.from({ length: shards }, (_, i) => dmlChannelName(collectionId, i));
      const info: CollectionInfo = {
        collectionId,
        dbId: 0n,
        schema,
        shardsNum: shards,
        channels,
        partitions: [{ partitionId: ids.start + 1n, name: DEFAULT_PARTITION, createTs: ts }],
        createTs: ts,
        consistencyLevel: req.consistencyLevel ?? "Bounded",
        ...(req.properties === undefined ? {} : { properties: { ...req.properties } }),
      };
      for (const ch of channels) await this.#d.mq.ensureChannel(ch);
      const res = await this.#d.kv.txn({
        compare: [{ key: collectionNameKey(schema.name), target: "version", op: "==", value: 0 }],
        success: [
          { type: "put", key: collectionNameKey(schema.name), value: enc.encode(collectionId.toString()) },
          { type: "put", key: collectionKey(collectionId), value: encodeCollection(info) },
        ],
      });
      if (!res.succeeded)
        throw new StrataError("ParameterInvalid", `collection ${schema.name} already exists`);
      this.#byId.set(collectionId, { info, modRevision: res.revision });
      this.#byName.set(schema.name, collectionId);
      await this.#announce(MsgType.CreateCollection, ts, collectionId, 0n, { name: schema.name, channels });
      await this.#d.dataservice().watchChannels(collectionId, channels);
      this.#d.logger.info(
        { collection: schema.name, collectionId: collectionId.toString(), shards },
        "collection created",
      );
      return info;
    });
  }

  dropCollection(name: string): Promise<void> {
    return this.#ddl.run(async () => {
      this.#check();
      const { info } = this.#get(name);
      const ts = await this.#d.tso.allocate();
      await this.#d.kv.txn({
        compare: [],
        success: [
          { type: "delete", key: collectionNameKey(name) },
          { type: "delete", key: collectionKey(info.collectionId) },
        ],
      });
      this.#byId.delete(info.collectionId);
      this.#byName.delete(name);
      for (const ch of info.channels) this.#lastTick.delete(ch);
      await this.#announce(MsgType.DropCollection, ts, info.collectionId, 0n, { name });
      await this.#d.dataservice().dropCollection(info.collectionId);
      this.#d.logger.info({ collection: name }, "collection dropped");
    });
  }

  async hasCollection(name: string): Promise<boolean> {
    this.#check();
    return this.#byName.has(name);
  }

  async describeCollection(nameOrId: string | bigint): Promise<CollectionInfo> {
    this.#check();
    return this.#get(nameOrId).info;
  }

  async showCollections(): Promise<string[]> {
    this.#check();
    return [...this.#byName.keys()].sort();
  }

  async #updateInfo(
    prev: { info: CollectionInfo; modRevision: number },
    info: CollectionInfo,
  ): Promise<void> {
    const key = collectionKey(info.collectionId);
    const res = await this.#d.kv.txn({
      compare: [{ key, target: "modRevision", op: "==", value: prev.modRevision }],
      success: [
        { type: "put", key, value: encodeCollection(info) },
        { type: "get", key },
      ],
    });
    if (!res.succeeded)
      throw new StrataError("TxnConflict", `collection ${info.schema.name} changed concurrently`);
    const stored = res.gets[0];
    this.#byId.set(info.collectionId, {
      info: stored === undefined ? info : decodeCollection(stored.value),
      modRevision: stored?.modRevision ?? res.revision,
    });
  }

  createPartition(collection: string, partition: string): Promise<PartitionInfo> {
    return this.#ddl.run(async () => {
      this.#check();
      validateName("partition", partition);
      const c = this.#get(collection);
      if (c.info.partitions.some((p) => p.name === partition)) {
        throw new StrataError("ParameterInvalid", `partition ${partition} already exists in ${collection}`);
      }
      if (c.info.partitions.length >= MAX_PARTITIONS) {
        throw new StrataError("ParameterInvalid", `a collection has at most ${MAX_PARTITIONS} partitions`);
      }
      const partitionId = await this.#d.ids.allocateOne();
      const ts = await this.#d.tso.allocate();
      const p: PartitionInfo = { partitionId, name: partition, createTs: ts };
      await this.#updateInfo(c, { ...c.info, partitions: [...c.info.partitions, p] });
      await this.#announce(MsgType.CreatePartition, ts, c.info.collectionId, partitionId, {
        name: partition,
      });
      return p;
    });
  }

  dropPartition(collection: string, partition: string): Promise<void> {
    return this.#ddl.run(async () => {
      this.#check();
      if (partition === DEFAULT_PARTITION)
        throw new StrataError("ParameterInvalid", "the _default partition cannot be dropped");
      const c = this.#get(collection);
      const p = c.info.partitions.find((x) => x.name === partition);
      if (p === undefined)
        throw new StrataError("PartitionNotFound", `partition ${partition} not found in ${collection}`);
      const ts = await this.#d.tso.allocate();
      await this.#updateInfo(c, { ...c.info, partitions: c.info.partitions.filter((x) => x !== p) });
      await this.#announce(MsgType.DropPartition, ts, c.info.collectionId, p.partitionId, {
        name: partition,
      });
    });
  }

  async hasPartition(collection: string, partition: string): Promise<boolean> {
    this.#check();
    return this.#get(collection).info.partitions.some((p) => p.name === partition);
  }

  async showPartitions(collection: string): Promise<PartitionInfo[]> {
    this.#check();
    return [...this.#get(collection).info.partitions];
  }

  allocTimestamp(count = 1): Promise<Timestamp> {
    return this.#d.tso.allocate(count);
  }

  async allocID(count: number): Promise<{ start: bigint; count: number }> {
    const r = await this.#d.ids.allocate(count);
    return { start: r.start, count };
  }

  async registerProxy(proxyId: number): Promise<void> {
    this.#check();
    this.#merger.register(proxyId, Date.now());
  }

  async unregisterProxy(proxyId: number): Promise<void> {
    this.#merger.unregister(proxyId);
  }

  async updateChannelTimeTick(report: ProxyTimeTickReport): Promise<void> {
    this.#check();
    this.#merger.report(report, Date.now());
  }

  async getDdChannel(): Promise<string> {
    return this.#dd;
  }
}

export function createRootCoord(deps: RootCoordDeps, opts: RootCoordOptions = {}): ManagedRootCoord {
  return new RootCoordImpl(deps, opts);
}

import { StrataError } from "../common/errors.ts";
import { encodeJsonBytes } from "../common/json.ts";
import type { Logger } from "../common/log.ts";
import { type DeleteMsg, type InsertMsg, MsgType } from "../common/msg/index.ts";
import { runLimited, withRetry } from "../common/retry.ts";
import { type CollectionSchema, type FieldSchema, primaryField } from "../common/schema.ts";
import { physicalOf, type Timestamp } from "../common/timestamp.ts";
import { DataType } from "../common/types.ts";
import {
  type ChannelCheckpoint,
  type ChannelTickReport,
  type SaveBinlogPathsRequest,
  type SegmentInfo,
  SegmentState,
} from "../dataservice/types.ts";
import {
  type FlowGraph,
  type FlowGraphEnd,
  flowGraph,
  type Pack,
  type Stage,
  TickInput,
} from "../flowgraph/index.ts";
import { PkStats, type PrimaryKey } from "../storage/pkstats.ts";
import type { DataNodeDeps, ResolvedOptions } from "./options.ts";
import { DeleteBuffer, InsertBuffer } from "./segment-buffer.ts";
import { writeSegmentFiles } from "./sync.ts";

/** What the channel needs from its node. */
export interface ChannelEnv {
  readonly deps: DataNodeDeps;
  readonly opts: ResolvedOptions;
  readonly logger: Logger;
  timeTickChannel(): string | undefined;
  statsChannel(): string | undefined;
}

type SegState = "active" | "flushed" | "dropped";

/** One segment of the channel as this node sees it. */
interface SegmentEntry {
  readonly segmentId: bigint;
  readonly partitionId: bigint;
  state: SegState;
  /** Messages with seq ≤ this are already in the segment's binlogs and delta logs. */
  persistedSeq: number;
  persistedRows: number;
  /** PK statistics of every persisted sync (for delete routing; kept after the flush too). */
  persistedStats: PkStats[];
  insert: InsertBuffer | undefined;
  deletes: DeleteBuffer | undefined;
  /** Smallest seq of any buffered insert or delete; 0 when nothing is buffered. */
  firstBufferedSeq: number;
  /** Timestamp of the last tick before `firstBufferedSeq` (the checkpoint's timestamp). */
  firstBufferedTickTs: Timestamp;
  /** Physical ms of the tick of the pack that buffered the first row (age-based sync). */
  bufferedSinceMs: number;
  warnedLate: boolean;
}

interface DmlPack {
  readonly inserts: readonly { readonly seq: number; readonly msg: InsertMsg }[];
  readonly deletes: readonly { readonly seq: number; readonly msg: DeleteMsg }[];
  readonly tickSeq: number;
  readonly tickTs: Timestamp;
}

interface TickDone {
  readonly tickSeq: number;
  readonly tickTs: Timestamp;
  readonly synced: number;
}

function hasBuffered(e: SegmentEntry): boolean {
  return (e.insert !== undefined && e.insert.rows > 0) || (e.deletes !== undefined && e.deletes.count > 0);
}

function bufferedBytes(e: SegmentEntry): number {
  return (e.insert?.bytes ?? 0) + (e.deletes?.bytes ?? 0);
}

/**
 * One watched DML channel: its segment table and its flowgraph
 * input → filter → insert buffer → delete buffer → sync → report.
 * The segment table is only changed by the stages (which run one pack at a time); requests from
 * outside (flush marks, partition drops) are recorded and picked up by the next pack.
 */
export class DataChannel {
  readonly name: string;
  readonly collectionId: bigint;
  readonly done: Promise<FlowGraphEnd>;
  private readonly env: ChannelEnv;
  private readonly log: Logger;
  private readonly schema: CollectionSchema;
  private readonly pkField: FieldSchema;
  private readonly pkType: typeof DataType.Int64 | typeof DataType.VarChar;
  private readonly segments = new Map<bigint, SegmentEntry>();
  private readonly droppedPartitions = new Set<bigint>();
  private readonly pendingPartitionDrops: bigint[] = [];
  /** Segments to flush → the tick timestamp their flush must wait for (their last assignment's expiry). */
  private readonly flushMarks = new Map<bigint, Timestamp>();
  private lastTick: { seq: number; ts: Timestamp };
  private lastStatsAt = 0;
  private graph: FlowGraph | undefined;
  private closing = false;
  private readonly resolveDone: (e: FlowGraphEnd) => void;

  private constructor(
    env: ChannelEnv,
    name: string,
    collectionId: bigint,
    schema: CollectionSchema,
    checkpoint: ChannelCheckpoint,
  ) {
    this.env = env;
    this.name = name;
    this.collectionId = collectionId;
    this.schema = schema;
    this.pkField = primaryField(schema);
    if (this.pkField.dataType !== DataType.Int64 && this.pkField.dataType !== DataType.VarChar) {
      throw new StrataError("CollectionIllegalSchema", `primary key of type ${this.pkField.dataType}`);
    }
    this.pkType = this.pkField.dataType;
    this.lastTick = { seq: checkpoint.seq, ts: checkpoint.timestamp };
    this.log = env.logger.child({ channel: name });
    let resolveDone: (e: FlowGraphEnd) => void = () => undefined;
    this.done = new Promise((r) => {
      resolveDone = r;
    });
    this.resolveDone = resolveDone;
  }

  /**
   * Reads where to resume from the dataservice, loads the persisted PK statistics of the channel's
   * segments (open and FLUSHED: deletes still reach flushed rows) and starts the flowgraph after
   * the checkpoint.
   * @throws StrataError ChannelNotFound (from the dataservice), CollectionNotFound, Corrupted/IoFailed
   *   for unreadable stats logs.
   */
  static async open(env: ChannelEnv, name: string): Promise<DataChannel> {
    const { dataservice, rootcoord, mq } = env.deps;
    const info = await dataservice.getVChannelInfo(name);
    const coll = await rootcoord.describeCollection(info.collectionId);
    const ch = new DataChannel(env, name, info.collectionId, coll.schema, info.checkpoint);
    await ch.loadSegments(info.segments);
    // The dataservice knows the channel, so it may exist before its first message.
    await mq.ensureChannel(name);
    const input = await TickInput.open({ mq, channel: name, afterSeq: info.checkpoint.seq });
    ch.start(input);
    ch.log.info(
      { checkpoint: info.checkpoint.seq, segments: info.segments.length, collectionId: info.collectionId },
      "channel watched",
    );
    return ch;
  }

  /**
   * Marks a segment for its final sync. The flush happens at the first tick whose timestamp is at
   * least the segment's `lastExpireTime`: every row assigned to it has a timestamp ≤ that, so the
   * segment is complete there even while this node is still replaying older packs. A segment the
   * channel has not seen yet (no row so far) is added from `info`. False when it is not active here.
   */
  markFlush(info: SegmentInfo): boolean {
    if (info.collectionId !== this.collectionId || info.channel !== this.name) return false;
    let e = this.segments.get(info.segmentId);
    if (e === undefined) {
      if (info.state === SegmentState.FLUSHED || info.state === SegmentState.DROPPED) return false;
      e = this.entryFrom(info);
      this.segments.set(info.segmentId, e);
    }
    if (e.state !== "active") return false;
    this.flushMarks.set(info.segmentId, info.lastExpireTime);
    return true;
  }

  /** The partition's buffers are discarded and its messages ignored from the next pack on. */
  dropPartition(partitionId: bigint): void {
    this.pendingPartitionDrops.push(partitionId);
  }

  /** Waiters of `drain`, released after the next sync stage that drained every buffer. */
  private drainWaiters: (() => void)[] = [];

  /** Persists every buffer at the next tick (see DataNode.drain). */
  async drain(timeoutMs: number): Promise<void> {
    if (this.graph === undefined || this.closing) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((r) => this.drainWaiters.push(r)),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Stops the flowgraph; buffered rows are not persisted (they stay in the log). Idempotent. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.graph === undefined) return;
    await this.graph.close();
    await this.done;
  }

  // --- setup ---

  private entryFrom(
    info: Pick<SegmentInfo, "segmentId" | "partitionId" | "state" | "persistedSeq" | "persistedRows">,
  ): SegmentEntry {
    const state: SegState =
      info.state === SegmentState.FLUSHED
        ? "flushed"
        : info.state === SegmentState.DROPPED
          ? "dropped"
          : "active";
    return {
      segmentId: info.segmentId,
      partitionId: info.partitionId,
      state,
      persistedSeq: info.persistedSeq,
      persistedRows: info.persistedRows,
      persistedStats: [],
      insert: undefined,
      deletes: undefined,
      firstBufferedSeq: 0,
      firstBufferedTickTs: 0n,
      bufferedSinceMs: 0,
      warnedLate: false,
    };
  }

  private async loadSegments(infos: readonly SegmentInfo[]): Promise<void> {
    const { objects } = this.env.deps;
    const { opts } = this.env;
    const signal = new AbortController().signal;
    const tasks: (() => Promise<void>)[] = [];
    for (const info of infos) {
      if (info.collectionId !== this.collectionId) continue;
      const entry = this.entryFrom(info);
      this.segments.set(info.segmentId, entry);
      if (entry.state === "dropped") continue;
      for (const fb of info.statslogs) {
        if (fb.fieldId !== this.pkField.fieldId) continue;
        for (const b of fb.binlogs) {
          tasks.push(async () => {
            const bytes = await withRetry(() => objects.get(b.path), {
              attempts: opts.retryAttempts,
              baseMs: opts.retryBaseMs,
              signal,
              logger: this.log,
              what: `get ${b.path}`,
            });
            const stats = PkStats.decode(bytes);
            if (stats.pkType !== this.pkType) {
              throw new StrataError("Corrupted", `stats log ${b.path} has pk type ${stats.pkType}`);
            }
            entry.persistedStats.push(stats);
          });
        }
      }
    }
    await runLimited(tasks, opts.maxFilesInFlight);
  }

  private start(input: TickInput): void {
    const stage = <I, O>(name: string, fn: (x: I, signal: AbortSignal) => Promise<O> | O): Stage<I, O> => ({
      name,
      process: (x, ctx) => fn(x, ctx.signal),
    });
    this.graph = flowGraph(input)
      .pipe(stage<Pack, DmlPack>("filter", (p) => this.filter(p)))
      .pipe(stage<DmlPack, DmlPack>("insertBuffer", (p) => this.bufferInserts(p)))
      .pipe(stage<DmlPack, DmlPack>("deleteBuffer", (p) => this.bufferDeletes(p)))
      .pipe(stage<DmlPack, TickDone>("sync", (p, signal) => this.sync(p, signal)))
      .pipe(stage<TickDone, undefined>("report", (t) => this.report(t)))
      .start({ queueCapacity: this.env.opts.queueCapacity, logger: this.log });
    void this.graph.done.then((end) => {
      if (end.kind === "failed") {
        this.log.error(
          { err: end.error, stage: end.stage },
          "channel flowgraph stopped; unpersisted rows stay in the log for replay",
        );
      } else if (end.kind === "ended" && !this.closing) {
        this.log.error("channel input ended (message queue closed?)");
      }
      this.resolveDone(end);
    });
  }

  // --- stages ---

  private filter(pack: Pack): DmlPack {
    for (const partitionId of this.pendingPartitionDrops.splice(0)) {
      this.droppedPartitions.add(partitionId);
      for (const e of this.segments.values()) {
        if (e.partitionId !== partitionId) continue;
        e.state = "dropped";
        this.clearBuffers(e);
        e.persistedStats = [];
        this.flushMarks.delete(e.segmentId);
      }
    }
    const inserts: { seq: number; msg: InsertMsg }[] = [];
    const deletes: { seq: number; msg: DeleteMsg }[] = [];
    for (const { seq, msg } of pack.msgs) {
      if (msg.type === MsgType.Insert) {
        if (msg.collectionId !== this.collectionId || msg.channel !== this.name) continue;
        if (this.droppedPartitions.has(msg.partitionId)) continue;
        const e = this.segments.get(msg.segmentId);
        if (e !== undefined) {
          if (seq <= e.persistedSeq) continue;
          if (e.state !== "active") {
            if (e.state === "flushed" && !e.warnedLate) {
              e.warnedLate = true;
              this.log.warn({ segmentId: e.segmentId, seq }, "insert into a flushed segment ignored");
            }
            continue;
          }
        }
        inserts.push({ seq, msg });
      } else if (msg.type === MsgType.Delete) {
        if (msg.collectionId !== this.collectionId || msg.channel !== this.name) continue;
        if (msg.partitionId !== -1n && this.droppedPartitions.has(msg.partitionId)) continue;
        deletes.push({ seq, msg });
      }
    }
    return { inserts, deletes, tickSeq: pack.tickSeq, tickTs: pack.tickTs };
  }

  private bufferInserts(pack: DmlPack): DmlPack {
    for (const { seq, msg } of pack.inserts) {
      let e = this.segments.get(msg.segmentId);
      if (e === undefined) {
        e = this.entryFrom({
          segmentId: msg.segmentId,
          partitionId: msg.partitionId,
          state: SegmentState.GROWING,
          persistedSeq: 0,
          persistedRows: 0,
        });
        this.segments.set(msg.segmentId, e);
      } else if (e.partitionId !== msg.partitionId) {
        throw new StrataError(
          "Corrupted",
          `insert at seq ${seq} puts segment ${msg.segmentId} in partition ${msg.partitionId}, it is in ${e.partitionId}`,
        );
      }
      e.insert ??= new InsertBuffer(this.schema, this.pkField);
      e.insert.append(msg);
      if (msg.rowIds.length > 0) this.noteBuffered(e, seq, pack.tickTs);
    }
    return pack;
  }

  private bufferDeletes(pack: DmlPack): DmlPack {
    if (pack.deletes.length === 0) return pack;
    // Flushed segments too: their rows are final, but a later delete must still hide them.
    const live = [...this.segments.values()].filter((e) => e.state !== "dropped");
    for (const { seq, msg } of pack.deletes) {
      const isInt = msg.pks instanceof BigInt64Array;
      if (isInt !== (this.pkType === DataType.Int64)) {
        throw new StrataError(
          "Corrupted",
          `delete at seq ${seq} has keys of the wrong type for the primary key`,
        );
      }
      const targets = live.filter(
        (e) => seq > e.persistedSeq && (msg.partitionId === -1n || e.partitionId === msg.partitionId),
      );
      if (targets.length === 0) continue;
      for (const pk of msg.pks as Iterable<PrimaryKey>) {
        for (const e of targets) {
          if (!(e.insert?.hasPk(pk) === true || e.persistedStats.some((s) => s.mayContain(pk)))) continue;
          e.deletes ??= new DeleteBuffer(this.pkType);
          e.deletes.add(pk, msg.timestamp);
          this.noteBuffered(e, seq, pack.tickTs);
        }
      }
    }
    return pack;
  }

  /**
   * Syncs, at the tick that ends `pack`: open segments over `insertBufBytes` or buffered for
   * `syncPeriodMs`, segments due to flush, and every flushed segment holding deletes. The last are
   * synced at once rather than by size/age: `flush()` never reaches a segment that is already
   * flushed, so nothing else would bound how long its deletes wait, and they hold back the channel
   * checkpoint meanwhile. The cost is one small delta log per flushed segment per tick that deleted
   * from it, for compaction to merge.
   */
  private async sync(pack: DmlPack, signal: AbortSignal): Promise<TickDone> {
    const { insertBufBytes, syncPeriodMs } = this.env.opts;
    const nowMs = physicalOf(pack.tickTs);
    const waiters = this.drainWaiters.splice(0);
    const draining = waiters.length > 0;
    const due: { e: SegmentEntry; flush: boolean }[] = [];
    for (const e of this.segments.values()) {
      if (e.state === "flushed" && e.deletes !== undefined && e.deletes.count > 0) {
        due.push({ e, flush: false });
        continue;
      }
      if (e.state !== "active") continue;
      const notBefore = this.flushMarks.get(e.segmentId);
      const flush = notBefore !== undefined && pack.tickTs >= notBefore;
      const buffered = hasBuffered(e);
      if (
        flush ||
        (buffered &&
          (draining || bufferedBytes(e) >= insertBufBytes || nowMs - e.bufferedSinceMs >= syncPeriodMs))
      ) {
        due.push({ e, flush });
      }
    }
    for (const { e, flush } of due) {
      if (signal.aborted) throw new StrataError("Closed", "channel closing");
      await this.syncSegment(e, flush, pack, signal);
    }
    for (const w of waiters) w();
    return { tickSeq: pack.tickSeq, tickTs: pack.tickTs, synced: due.length };
  }

  /**
   * Writes the segment's buffered files and commits them with `saveBinlogPaths` at the pack's tick.
   * For a flushed segment that is a delta-only save (the filter drops inserts into it, so it never
   * holds rows): the dataservice appends the delta log and moves `persistedSeq` past the deletes,
   * which is what keeps a replay from persisting them twice.
   */
  private async syncSegment(
    e: SegmentEntry,
    flush: boolean,
    pack: DmlPack,
    signal: AbortSignal,
  ): Promise<void> {
    const { deps, opts } = this.env;
    const files = await writeSegmentFiles(
      {
        collectionId: this.collectionId,
        partitionId: e.partitionId,
        segmentId: e.segmentId,
        schema: this.schema,
        pkField: this.pkField,
        insert: e.insert,
        deletes: e.deletes,
        bloomFpr: opts.bloomFpr,
      },
      {
        objects: deps.objects,
        rootcoord: deps.rootcoord,
        maxFilesInFlight: opts.maxFilesInFlight,
        retryAttempts: opts.retryAttempts,
        retryBaseMs: opts.retryBaseMs,
        signal,
        logger: this.log,
      },
    );
    const req: SaveBinlogPathsRequest = {
      nodeId: deps.nodeId,
      segmentId: e.segmentId,
      collectionId: this.collectionId,
      partitionId: e.partitionId,
      channel: this.name,
      fieldBinlogs: files.fieldBinlogs,
      statslogs: files.statslogs,
      deltalogs: files.deltalogs,
      persistedRows: e.persistedRows + files.rows,
      persistedSeq: pack.tickSeq,
      checkpoint: this.checkpoint(e, pack),
      flushed: flush,
    };
    await withRetry(() => deps.dataservice.saveBinlogPaths(req), {
      attempts: opts.retryAttempts,
      baseMs: opts.retryBaseMs,
      signal,
      logger: this.log,
      what: `saveBinlogPaths segment ${e.segmentId}`,
    });
    e.persistedRows = req.persistedRows;
    e.persistedSeq = pack.tickSeq;
    if (files.stats !== undefined) e.persistedStats.push(files.stats);
    this.clearBuffers(e);
    if (flush) {
      e.state = "flushed";
      this.flushMarks.delete(e.segmentId);
    }
    this.log.info(
      {
        segmentId: e.segmentId,
        rows: files.rows,
        deletes: files.deltalogs[0]?.entries ?? 0,
        persistedSeq: req.persistedSeq,
        checkpoint: req.checkpoint.seq,
        flushed: flush,
      },
      "segment synced",
    );
  }

  /**
   * The channel position to commit with the sync of `syncing`: just before the first buffered
   * message of any other segment still holding data, else the tick itself. Never past unpersisted
   * data, so a replacement node that resumes there loses nothing.
   */
  private checkpoint(syncing: SegmentEntry, pack: DmlPack): ChannelCheckpoint {
    let seq = pack.tickSeq;
    let timestamp = pack.tickTs;
    for (const e of this.segments.values()) {
      if (e === syncing || e.firstBufferedSeq === 0) continue;
      if (e.firstBufferedSeq - 1 < seq) {
        seq = e.firstBufferedSeq - 1;
        timestamp = e.firstBufferedTickTs;
      }
    }
    return { channel: this.name, seq, timestamp };
  }

  private async report(t: TickDone): Promise<undefined> {
    this.lastTick = { seq: t.tickSeq, ts: t.tickTs };
    const { mq, nodeId } = this.env.deps;
    const segments: { segmentId: bigint; numRows: number; memSize: number }[] = [];
    for (const e of this.segments.values()) {
      if (e.state !== "active") continue;
      const numRows = e.persistedRows + (e.insert?.rows ?? 0);
      if (numRows > 0) segments.push({ segmentId: e.segmentId, numRows, memSize: bufferedBytes(e) });
    }
    const tt = this.env.timeTickChannel();
    if (tt !== undefined) {
      const report: ChannelTickReport = {
        nodeId,
        channel: this.name,
        collectionId: this.collectionId,
        timestamp: t.tickTs,
        seq: t.tickSeq,
        segments: segments.map(({ segmentId, numRows }) => ({ segmentId, numRows })),
      };
      try {
        await mq.produce(tt, [encodeJsonBytes(report)]);
      } catch (e) {
        this.log.warn({ err: e }, "time-tick report not published");
      }
    }
    const statsChannel = this.env.statsChannel();
    const now = Date.now();
    if (
      statsChannel !== undefined &&
      (t.synced > 0 || now - this.lastStatsAt >= this.env.opts.statsIntervalMs)
    ) {
      this.lastStatsAt = now;
      try {
        await mq.produce(statsChannel, [encodeJsonBytes({ nodeId, channel: this.name, segments })]);
      } catch (e) {
        this.log.warn({ err: e }, "segment statistics not published");
      }
    }
    return undefined;
  }

  // --- helpers ---

  private noteBuffered(e: SegmentEntry, seq: number, packTickTs: Timestamp): void {
    if (e.firstBufferedSeq === 0 || seq < e.firstBufferedSeq) {
      if (e.firstBufferedSeq === 0) e.bufferedSinceMs = physicalOf(packTickTs);
      e.firstBufferedSeq = seq;
      e.firstBufferedTickTs = this.lastTick.ts;
    }
  }

  private clearBuffers(e: SegmentEntry): void {
    e.insert = undefined;
    e.deletes = undefined;
    e.firstBufferedSeq = 0;
    e.firstBufferedTickTs = 0n;
    e.bufferedSinceMs = 0;
  }
}

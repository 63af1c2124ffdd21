import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { type DeleteMsg, MsgType } from "../common/msg/index.ts";
import type { Timestamp } from "../common/timestamp.ts";
import { DataType } from "../common/types.ts";
import type { DataService } from "../dataservice/types.ts";
import { type FlowGraph, flowGraph, type Pack, type Stage, TickInput } from "../flowgraph/index.ts";
import type { MessageQueue } from "../mq/types.ts";
import type { CollectionState } from "./collection.ts";
import { DeleteBuffer } from "./delete-buffer.ts";
import { GrowingSegment, type SealedSegment, type Segment } from "./segment.ts";
import type { TSafe } from "./tsafe.ts";

/** What a channel needs from its node. */
export interface ChannelHost {
  readonly mq: MessageQueue;
  readonly dataservice: Pick<DataService, "getVChannelInfo">;
  readonly tsafe: TSafe;
  readonly logger: Logger;
  readonly queueCapacity: number;
  readonly pruneIntervalMs: number;
  /** Sealed segments of the channel loaded on this node (they receive the channel's deletes). */
  sealedOf(channel: string): Iterable<SealedSegment>;
  hasSealed(segmentId: bigint): boolean;
  /** The delete buffer lost records (pruned): loads in flight must re-read delta logs. */
  bumpEpoch(channel: string): void;
}

interface DeletePack {
  readonly deletes: readonly { seq: number; msg: DeleteMsg }[];
  readonly tickTs: Timestamp;
}

/**
 * One watched DML channel: the manipulation service's flowgraph (input → inserts into growing
 * segments → deletes applied, tSafe advanced at the tick), the channel's growing segments and its
 * delete buffer.
 */
export class DmChannel {
  readonly name: string;
  readonly collection: CollectionState;
  readonly growing = new Map<bigint, GrowingSegment>();
  /** Segments whose inserts are ignored: flushed at watch time, handed off, or released. */
  readonly skip = new Set<bigint>();
  /** Per segment, the seq up to which its rows were loaded from binlogs at watch time. */
  readonly persistedSeq = new Map<bigint, number>();
  /** Segments whose growing copy was dropped because the sealed copy was loaded on this node. */
  readonly handedOff = new Set<bigint>();
  readonly buffer: DeleteBuffer;
  /** Set when the flowgraph stopped on an error: reads of the channel fail with it. */
  failure: StrataError | undefined;
  private readonly host: ChannelHost;
  private readonly log: Logger;
  private graph: FlowGraph | undefined;
  private closing = false;
  private lastPruneMs = Date.now();
  private pruning = false;

  constructor(host: ChannelHost, name: string, collection: CollectionState, checkpointSeq: number) {
    this.host = host;
    this.name = name;
    this.collection = collection;
    this.buffer = new DeleteBuffer(checkpointSeq);
    this.log = host.logger.child({ channel: name });
  }

  get bytes(): number {
    let n = this.buffer.bytes;
    for (const g of this.growing.values()) n += g.bytes;
    return n;
  }

  /** Creates (or returns) the growing segment for rows of `partitionId`. */
  growingSegment(segmentId: bigint, partitionId: bigint): GrowingSegment {
    let g = this.growing.get(segmentId);
    if (g === undefined) {
      g = new GrowingSegment(
        { segmentId, collectionId: this.collection.collectionId, partitionId, channel: this.name },
        this.collection.pkField.fieldId,
        this.collection.fields,
      );
      this.growing.set(segmentId, g);
    } else if (g.meta.partitionId !== partitionId) {
      throw new StrataError(
        "Corrupted",
        `channel ${this.name}: segment ${segmentId} is in partition ${g.meta.partitionId}, an insert says ${partitionId}`,
      );
    }
    return g;
  }

  /** Starts following the channel after `afterSeq`. */
  async start(afterSeq: number): Promise<void> {
    const input = await TickInput.open({ mq: this.host.mq, channel: this.name, afterSeq });
    const stage = <I, O>(name: string, fn: (x: I) => Promise<O> | O): Stage<I, O> => ({
      name,
      process: (x) => fn(x),
    });
    this.graph = flowGraph(input)
      .pipe(stage<Pack, DeletePack>("insert", (p) => this.inserts(p)))
      .pipe(stage<DeletePack, undefined>("delete", (p) => this.deletes(p)))
      .start({ queueCapacity: this.host.queueCapacity, logger: this.log });
    void this.graph.done.then((end) => {
      if (end.kind === "failed") {
        this.failure = new StrataError(
          "ServiceUnavailable",
          `channel ${this.name} stopped at stage ${end.stage}: ${end.error instanceof Error ? end.error.message : String(end.error)}`,
          { cause: end.error },
        );
        this.log.error({ err: end.error, stage: end.stage }, "query node channel flowgraph stopped");
      } else if (!this.closing) {
        this.failure = new StrataError("ServiceUnavailable", `channel ${this.name}: input ended`);
        this.log.error("query node channel input ended (message queue closed?)");
      }
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.graph?.close();
  }

  /** Segments a delete of this channel may reach on this node, for `partitionId` (-1: all). */
  private targets(partitionId: bigint): Segment[] {
    const out: Segment[] = [];
    for (const g of this.growing.values()) {
      if (partitionId === -1n || g.meta.partitionId === partitionId) out.push(g);
    }
    for (const s of this.host.sealedOf(this.name)) {
      if (
        s.meta.collectionId === this.collection.collectionId &&
        (partitionId === -1n || s.meta.partitionId === partitionId)
      ) {
        out.push(s);
      }
    }
    return out;
  }

  private inserts(pack: Pack): DeletePack {
    const deletes: { seq: number; msg: DeleteMsg }[] = [];
    const collectionId = this.collection.collectionId;
    for (const { seq, msg } of pack.msgs) {
      if (msg.type === MsgType.Delete) {
        if (msg.collectionId === collectionId && msg.channel === this.name) deletes.push({ seq, msg });
        continue;
      }
      if (msg.type !== MsgType.Insert || msg.collectionId !== collectionId || msg.channel !== this.name)
        continue;
      const id = msg.segmentId;
      if (this.skip.has(id) || this.host.hasSealed(id)) continue;
      if (seq <= (this.persistedSeq.get(id) ?? 0)) continue;
      const ts = new BigInt64Array(msg.rowIds.length).fill(BigInt.asIntN(64, msg.timestamp));
      this.growingSegment(id, msg.partitionId).append(msg.rowIds, ts, msg.fields);
    }
    return { deletes, tickTs: pack.tickTs };
  }

  /**
   * Deletes run after the pack's inserts: a delete hides only rows with a smaller timestamp, and
   * every such row is in this pack or an earlier one.
   */
  private deletes(pack: DeletePack): undefined {
    const pkIsInt = this.collection.pkType === DataType.Int64;
    for (const { seq, msg } of pack.deletes) {
      if (msg.pks instanceof BigInt64Array !== pkIsInt) {
        throw new StrataError("Corrupted", `channel ${this.name} seq ${seq}: delete keys of the wrong type`);
      }
      for (const seg of this.targets(msg.partitionId)) seg.applyDeletes(msg.pks, msg.timestamp);
      this.buffer.add({ seq, ts: msg.timestamp, partitionId: msg.partitionId, pks: msg.pks });
    }
    this.host.tsafe.advance(this.name, pack.tickTs);
    this.maybePrune();
    return undefined;
  }

  private maybePrune(): void {
    const now = Date.now();
    if (this.pruning || now - this.lastPruneMs < this.host.pruneIntervalMs || this.buffer.size === 0) return;
    this.pruning = true;
    this.lastPruneMs = now;
    this.host.dataservice
      .getVChannelInfo(this.name)
      .then((info) => {
        if (this.closing || info.checkpoint.seq <= this.buffer.coveredAfterSeq) return;
        this.buffer.prune(info.checkpoint.seq);
        this.host.bumpEpoch(this.name);
      })
      .catch((e: unknown) => this.log.warn({ err: e }, "delete buffer not pruned (checkpoint unavailable)"))
      .finally(() => {
        this.pruning = false;
      });
  }
}

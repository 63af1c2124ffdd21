/**
 * In-test stand-ins for the dataservice and rootcoord: they keep state in memory the way the real
 * roles do (segments with persistedSeq/binlogs, channel checkpoints, an ID counter) and record every
 * call, so the data-node tests can check what was committed. The real dataservice is tested with the
 * data node end to end elsewhere.
 */
import { StrataError } from "../../src/common/errors.ts";
import { encodeJson } from "../../src/common/json.ts";
import type { CollectionSchema } from "../../src/common/schema.ts";
import type {
  AssignSegIDResponse,
  Binlog,
  ChannelCheckpoint,
  DataService,
  FieldBinlogs,
  FlushResponse,
  InitParams,
  InsertBinlogPathsResponse,
  NodeInfo,
  SaveBinlogPathsRequest,
  SegmentInfo,
  SegmentStatesResponse,
  ShowSegmentResponse,
  VChannelInfo,
} from "../../src/dataservice/types.ts";
import { SegmentState } from "../../src/dataservice/types.ts";
import type { CollectionInfo, RootCoord } from "../../src/rootcoord/types.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface SaveRecord {
  readonly req: SaveBinlogPathsRequest;
  /** persistedSeq and state of every segment right after this call committed. */
  readonly after: ReadonlyMap<bigint, { persistedSeq: number; state: SegmentState }>;
}

export class FakeDataService implements DataService {
  readonly segments = new Map<bigint, Mutable<SegmentInfo>>();
  readonly channels = new Map<string, { collectionId: bigint; checkpoint: ChannelCheckpoint }>();
  readonly saves: SaveRecord[] = [];
  readonly registered: NodeInfo[] = [];
  /** Requests a correct data node never sends (the channel stops on them; tests assert none). */
  readonly violations: string[] = [];
  readonly ttChannel: string;
  readonly statsChannel: string;
  /** Called before each saveBinlogPaths; a returned error is thrown instead of committing. */
  failSave: ((req: SaveBinlogPathsRequest, attempt: number) => StrataError | undefined) | undefined;
  private attempts = 0;
  private last: string | undefined;

  constructor(prefix: string) {
    this.ttChannel = `${prefix}_tt`;
    this.statsChannel = `${prefix}_stats`;
  }

  addChannel(channel: string, collectionId: bigint): void {
    this.channels.set(channel, { collectionId, checkpoint: { channel, seq: 0, timestamp: 0n } });
  }

  addSegment(segmentId: bigint, collectionId: bigint, partitionId: bigint, channel: string): void {
    this.segments.set(segmentId, {
      segmentId,
      collectionId,
      partitionId,
      channel,
      state: SegmentState.GROWING,
      createTime: 1n,
      sealedTime: 0n,
      numRows: 0,
      persistedRows: 0,
      maxRows: 1_000_000,
      lastExpireTime: 0n,
      persistedSeq: 0,
      binlogs: [],
      statslogs: [],
      deltalogs: [],
    });
  }

  seg(id: bigint): Mutable<SegmentInfo> {
    const s = this.segments.get(id);
    if (s === undefined) throw new Error(`test bug: no segment ${id}`);
    return s;
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}

  async registerNode(req: NodeInfo): Promise<InitParams> {
    this.registered.push(req);
    return { nodeId: req.nodeId, timeTickChannel: this.ttChannel, statsChannel: this.statsChannel };
  }

  async getTimeTickChannel(): Promise<string> {
    return this.ttChannel;
  }

  async getStatsChannel(): Promise<string> {
    return this.statsChannel;
  }

  // The data node never touches index meta.
  async createIndex(): Promise<never> {
    throw new StrataError("Unimplemented", "fake dataservice has no indexes");
  }
  async describeIndexes(): Promise<never[]> {
    return [];
  }
  async describeIndexBuilds(): Promise<{ builds: never[]; minRows: number }> {
    return { builds: [], minRows: 1024 };
  }
  async getSegmentIndexes(): Promise<never[]> {
    return [];
  }
  async reportIndexFault(): Promise<void> {}
  async dropIndex(): Promise<never> {
    throw new StrataError("Unimplemented", "fake dataservice has no indexes");
  }
  async listSegments(collectionId: bigint): Promise<SegmentInfo[]> {
    return [...this.segments.values()]
      .filter((s) => s.collectionId === collectionId)
      .map((s) => structuredClone(s));
  }

  async getSegmentInfo(segmentId: bigint): Promise<SegmentInfo> {
    const s = this.segments.get(segmentId);
    if (s === undefined) throw new StrataError("SegmentNotFound", `segment ${segmentId}`);
    return structuredClone(s);
  }

  async getVChannelInfo(channel: string): Promise<VChannelInfo> {
    const c = this.channels.get(channel);
    if (c === undefined) throw new StrataError("ChannelNotFound", `channel ${channel}`);
    return structuredClone({
      collectionId: c.collectionId,
      channel,
      checkpoint: c.checkpoint,
      segments: [...this.segments.values()].filter(
        (s) => s.channel === channel && s.state !== SegmentState.DROPPED,
      ),
    });
  }

  async saveBinlogPaths(req: SaveBinlogPathsRequest): Promise<void> {
    const injected = this.failSave?.(req, ++this.attempts);
    if (injected !== undefined) throw injected;
    const key = encodeJson(req);
    if (key === this.last) return; // an identical retry
    const s = this.segments.get(req.segmentId);
    if (s === undefined) throw new StrataError("SegmentNotFound", `segment ${req.segmentId}`);
    if (s.state === SegmentState.DROPPED) {
      throw new StrataError("ParameterInvalid", `segment ${req.segmentId} is ${s.state}`);
    }
    if (s.state === SegmentState.FLUSHED) {
      // Like the real dataservice: only deletes, strictly past what the segment has persisted.
      const deltaOnly =
        !req.flushed &&
        req.fieldBinlogs.length === 0 &&
        req.statslogs.length === 0 &&
        req.deltalogs.length > 0 &&
        req.persistedRows === s.persistedRows &&
        req.persistedSeq > s.persistedSeq;
      if (!deltaOnly) {
        const msg = `not a delta-only save on FLUSHED segment ${req.segmentId}`;
        this.violations.push(msg);
        throw new Error(msg);
      }
    }
    const ch = this.channels.get(req.channel);
    if (ch === undefined || s.channel !== req.channel || req.checkpoint.channel !== req.channel) {
      throw new StrataError("ParameterInvalid", "channel mismatch");
    }
    if (req.persistedSeq < s.persistedSeq)
      throw new Error(`persistedSeq went back for segment ${req.segmentId}`);
    if (req.checkpoint.seq < ch.checkpoint.seq) throw new Error(`checkpoint went back on ${req.channel}`);
    const rowsAdded = req.fieldBinlogs[0]?.binlogs.reduce((n, b) => n + b.entries, 0) ?? 0;
    if (req.persistedRows !== s.persistedRows + rowsAdded) {
      throw new Error(`persistedRows ${req.persistedRows} != ${s.persistedRows} + ${rowsAdded}`);
    }
    s.binlogs = mergeFieldBinlogs(s.binlogs, req.fieldBinlogs);
    s.statslogs = mergeFieldBinlogs(s.statslogs, req.statslogs);
    s.deltalogs = [...s.deltalogs, ...req.deltalogs];
    s.persistedRows = req.persistedRows;
    s.persistedSeq = req.persistedSeq;
    if (req.flushed) s.state = SegmentState.FLUSHED;
    ch.checkpoint = req.checkpoint;
    this.last = key;
    const after = new Map<bigint, { persistedSeq: number; state: SegmentState }>();
    for (const [id, x] of this.segments) after.set(id, { persistedSeq: x.persistedSeq, state: x.state });
    this.saves.push({ req, after });
  }

  async assignSegmentID(): Promise<AssignSegIDResponse> {
    throw new StrataError("Unimplemented", "fake");
  }
  async flush(): Promise<FlushResponse> {
    throw new StrataError("Unimplemented", "fake");
  }
  async showSegments(): Promise<ShowSegmentResponse> {
    throw new StrataError("Unimplemented", "fake");
  }
  async getSegmentStates(): Promise<SegmentStatesResponse> {
    throw new StrataError("Unimplemented", "fake");
  }
  async getInsertBinlogPaths(): Promise<InsertBinlogPathsResponse> {
    throw new StrataError("Unimplemented", "fake");
  }
  async getInsertChannels(): Promise<string[]> {
    throw new StrataError("Unimplemented", "fake");
  }
  async watchChannels(): Promise<void> {
    throw new StrataError("Unimplemented", "fake");
  }
  async dropCollection(): Promise<void> {
    throw new StrataError("Unimplemented", "fake");
  }
}

function mergeFieldBinlogs(have: readonly FieldBinlogs[], add: readonly FieldBinlogs[]): FieldBinlogs[] {
  const out = new Map<number, Binlog[]>(have.map((f) => [f.fieldId, [...f.binlogs]]));
  for (const f of add) out.set(f.fieldId, [...(out.get(f.fieldId) ?? []), ...f.binlogs]);
  return [...out].map(([fieldId, binlogs]) => ({ fieldId, binlogs }));
}

export class FakeRootCoord implements Pick<RootCoord, "describeCollection" | "allocID"> {
  private readonly collections = new Map<bigint, CollectionInfo>();
  private nextId = 1000n;
  allocCalls = 0;

  addCollection(collectionId: bigint, schema: CollectionSchema, channels: string[]): void {
    this.collections.set(collectionId, {
      collectionId,
      dbId: 1n,
      schema,
      shardsNum: channels.length,
      channels,
      partitions: [],
      createTs: 1n,
    });
  }

  async describeCollection(nameOrId: string | bigint): Promise<CollectionInfo> {
    const c = typeof nameOrId === "bigint" ? this.collections.get(nameOrId) : undefined;
    if (c === undefined) throw new StrataError("CollectionNotFound", `collection ${String(nameOrId)}`);
    return c;
  }

  async allocID(count: number): Promise<{ start: bigint; count: number }> {
    this.allocCalls++;
    const start = this.nextId;
    this.nextId += BigInt(count);
    return { start, count };
  }
}

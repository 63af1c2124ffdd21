/**
 * A query node for the query-service tests: it records every call, holds "loaded" segments as a
 * byte count (rows × ROW_BYTES, rows from the real dataservice), and can be told to hold calls
 * at a gate, fail them, or behave as closed. No search engine: the real query node is tested on
 * its own.
 */
import { StrataError } from "../../src/common/errors.ts";
import type { Timestamp } from "../../src/common/timestamp.ts";
import type { DataService } from "../../src/dataservice/types.ts";
import type {
  LoadSegmentRequest,
  NodeQueryRequest,
  NodeQueryResult,
  NodeSearchRequest,
  NodeSearchResult,
  QueryNode,
  ReleaseSegmentRequest,
} from "../../src/querynode/types.ts";
import {
  type DescribePartitionRequest,
  type PartitionDescriptions,
  PartitionState,
  type QueryChannels,
  type ResourceCost,
} from "../../src/queryservice/types.ts";

export const ROW_BYTES = 1000;

export interface Call {
  readonly method: string;
  readonly args: unknown;
  readonly at: number;
}

interface Held {
  readonly partitionId: bigint;
  readonly collectionId: bigint;
  readonly bytes: number;
}

/** A promise that stays pending until `open()`. */
export class Gate {
  #open!: () => void;
  readonly #p: Promise<void>;
  #isOpen = false;
  constructor() {
    this.#p = new Promise((r) => {
      this.#open = r;
    });
  }
  wait(): Promise<void> {
    return this.#p;
  }
  open(): void {
    this.#isOpen = true;
    this.#open();
  }
  get isOpen(): boolean {
    return this.#isOpen;
  }
}

export class RecordingNode implements QueryNode {
  readonly nodeId: number;
  readonly calls: Call[] = [];
  /** Memory the node reports beyond its loaded segments. */
  baseMem: number;
  readonly loaded = new Map<bigint, Held>();
  readonly watched = new Set<string>();
  readonly queryChannels: QueryChannels[] = [];
  /** When set, every call throws `Closed` (as a node that shut down). */
  closed = false;
  /** Calls of these methods throw this error while set. */
  failWith: { readonly methods: ReadonlySet<string>; readonly error: Error; remaining: number } | undefined;
  /** Calls of a method wait at its gate (after being recorded) while one is set. */
  readonly gates = new Map<string, Gate>();
  /** When set, every call first waits this many ms (drawn per call). */
  delay: (() => number) | undefined;
  readonly #ds: Pick<DataService, "getSegmentInfo">;

  constructor(nodeId: number, ds: Pick<DataService, "getSegmentInfo">, baseMem = 0) {
    this.nodeId = nodeId;
    this.#ds = ds;
    this.baseMem = baseMem;
  }

  callsOf(method: string): Call[] {
    return this.calls.filter((c) => c.method === method);
  }

  async #enter(method: string, args: unknown): Promise<void> {
    this.calls.push({ method, args, at: Date.now() });
    if (this.closed) throw new StrataError("Closed", `query node ${this.nodeId} is closed`);
    const f = this.failWith;
    if (f?.methods.has(method) && f.remaining > 0) {
      f.remaining -= 1;
      throw f.error;
    }
    const g = this.gates.get(method);
    if (g !== undefined) await g.wait();
    const d = this.delay?.() ?? 0;
    if (d > 0) await new Promise((r) => setTimeout(r, d));
    if (this.closed) throw new StrataError("Closed", `query node ${this.nodeId} is closed`);
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }

  async addQueryChannel(channels: QueryChannels): Promise<void> {
    await this.#enter("addQueryChannel", channels);
    if (!this.queryChannels.some((q) => q.requestChannel === channels.requestChannel)) {
      this.queryChannels.push(channels);
    }
  }

  async removeQueryChannel(channels: QueryChannels): Promise<void> {
    await this.#enter("removeQueryChannel", channels);
  }

  async watchDmChannels(channelIds: readonly string[]): Promise<void> {
    await this.#enter("watchDmChannels", [...channelIds]);
    for (const c of channelIds) this.watched.add(c);
  }

  async releaseDmChannels(channelIds: readonly string[]): Promise<void> {
    await this.#enter("releaseDmChannels", [...channelIds]);
    for (const c of channelIds) this.watched.delete(c);
  }

  async loadSegments(req: LoadSegmentRequest): Promise<void> {
    await this.#enter("loadSegments", req);
    for (const id of req.segmentIds) {
      const info = await this.#ds.getSegmentInfo(id);
      this.loaded.set(id, {
        partitionId: req.partitionId,
        collectionId: req.collectionId,
        bytes: info.numRows * ROW_BYTES,
      });
    }
  }

  async releaseSegments(req: ReleaseSegmentRequest): Promise<void> {
    await this.#enter("releaseSegments", req);
    for (const id of req.segmentIds) this.loaded.delete(id);
  }

  async describePartition(req: DescribePartitionRequest): Promise<PartitionDescriptions> {
    await this.#enter("describePartition", req);
    return {
      partitionDescriptions: req.partitionIds.map((id) => {
        let mem = 0;
        for (const h of this.loaded.values()) {
          if (h.collectionId === req.collectionId && h.partitionId === id) mem += h.bytes;
        }
        return {
          id,
          state: mem > 0 ? PartitionState.IN_MEMORY : PartitionState.NOT_PRESENT,
          resourceCost: { memUsage: mem, cpuUsage: 0 },
        };
      }),
    };
  }

  tSafe(_channel: string): Timestamp {
    return 0n;
  }

  /** Answers even when closed (as the real node does): liveness must come from calls. */
  resourceCost(): ResourceCost {
    let mem = this.baseMem;
    for (const h of this.loaded.values()) mem += h.bytes;
    return { memUsage: mem, cpuUsage: 0.25 };
  }

  segments(): { readonly sealed: readonly bigint[]; readonly growing: readonly bigint[] } {
    return { sealed: [...this.loaded.keys()], growing: [] };
  }

  async search(_req: NodeSearchRequest): Promise<NodeSearchResult> {
    throw new StrataError("Unimplemented", "recording node does not search");
  }

  async query(_req: NodeQueryRequest): Promise<NodeQueryResult> {
    throw new StrataError("Unimplemented", "recording node does not query");
  }
}

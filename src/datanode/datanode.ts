import { isStrataError, StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { decodeMsg, MsgType } from "../common/msg/index.ts";
import type { SegmentInfo } from "../dataservice/types.ts";
import type { Consumer } from "../mq/types.ts";
import { DataChannel } from "./channel.ts";
import { type DataNodeDeps, type DataNodeOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import type { DataNode, FlushSegmentsRequest } from "./types.ts";

function checkChannelName(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length === 0) {
    throw new StrataError("ParameterInvalid", `${what} must be a non-empty string, got ${String(v)}`);
  }
  return v;
}

function checkChannelList(ids: unknown): string[] {
  if (!Array.isArray(ids))
    throw new StrataError("ParameterInvalid", "channel IDs must be an array of strings");
  return ids.map((c) => checkChannelName(c, "channel ID"));
}

/**
 * Creates a data node (not started). See `DataNode` for the contract and docs/write-path.md for the
 * flowgraph it runs per channel.
 * @throws StrataError ParameterInvalid for bad options.
 */
export function createDataNode(deps: DataNodeDeps, options: DataNodeOptions = {}): DataNode {
  return new DataNodeImpl(deps, resolveOptions(options));
}

class DataNodeImpl implements DataNode {
  private readonly deps: DataNodeDeps;
  private readonly opts: ResolvedOptions;
  private readonly log: Logger;
  private readonly channels = new Map<string, DataChannel>();
  private readonly opening = new Map<string, Promise<DataChannel>>();
  private ttChannel: string | undefined;
  private statsChannelName: string | undefined;
  private dd: { channel: string; consumer: Consumer; loop: Promise<void> } | undefined;
  private closed = false;

  constructor(deps: DataNodeDeps, opts: ResolvedOptions) {
    this.deps = deps;
    this.opts = opts;
    this.log = deps.logger;
  }

  async start(): Promise<void> {
    this.checkOpen();
    const params = await this.deps.dataservice.registerNode({ nodeId: this.deps.nodeId, address: "" });
    this.ttChannel ??= params.timeTickChannel;
    this.statsChannelName ??= params.statsChannel;
    if (this.opts.ddChannel !== undefined) await this.watchDdChannel(this.opts.ddChannel);
    this.log.info(
      { timeTickChannel: this.ttChannel, statsChannel: this.statsChannelName },
      "data node started",
    );
  }

  async drain(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.channels.values()].map((c) => c.drain(timeoutMs)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const opening = [...this.opening.values()];
    await Promise.allSettled(opening);
    await Promise.all([...this.channels.values()].map((c) => c.close()));
    this.channels.clear();
    const dd = this.dd;
    this.dd = undefined;
    if (dd !== undefined) {
      await dd.consumer.close();
      await dd.loop;
    }
    this.log.info("data node closed");
  }

  async watchDmChannels(channelIds: readonly string[]): Promise<void> {
    this.checkOpen();
    const names = checkChannelList(channelIds);
    const results = await Promise.allSettled(names.map((n) => this.watchOne(n)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  async watchDdChannel(channelId: string): Promise<void> {
    this.checkOpen();
    const name = checkChannelName(channelId, "DD channel");
    if (this.dd?.channel === name) return;
    const previous = this.dd;
    this.dd = undefined;
    if (previous !== undefined) {
      await previous.consumer.close();
      await previous.loop;
    }
    await this.deps.mq.ensureChannel(name);
    const consumer = await this.deps.mq.consume(name, { kind: "latest" });
    if (this.closed) {
      await consumer.close();
      throw new StrataError("Closed", "data node is closed");
    }
    this.dd = { channel: name, consumer, loop: this.ddLoop(name, consumer) };
  }

  async setTimeTickChannel(channelId: string): Promise<void> {
    this.checkOpen();
    this.ttChannel = checkChannelName(channelId, "time-tick channel");
  }

  async setStatsChannel(channelId: string): Promise<void> {
    this.checkOpen();
    this.statsChannelName = checkChannelName(channelId, "stats channel");
  }

  async flush(req: FlushSegmentsRequest): Promise<void> {
    this.checkOpen();
    if (typeof req !== "object" || req === null || !Array.isArray(req.segmentIds)) {
      throw new StrataError("ParameterInvalid", "flush needs { segmentIds: bigint[] }");
    }
    for (const id of req.segmentIds) {
      if (typeof id !== "bigint")
        throw new StrataError("ParameterInvalid", `segment ID ${String(id)} is not a bigint`);
    }
    await Promise.allSettled([...this.opening.values()]);
    for (const id of req.segmentIds) {
      // The dataservice's view gives the channel and the last assignment expiry the flush waits for.
      let info: SegmentInfo;
      try {
        info = await this.deps.dataservice.getSegmentInfo(id);
      } catch (e) {
        if (isStrataError(e, "SegmentNotFound")) continue;
        throw e;
      }
      this.channels.get(info.channel)?.markFlush(info);
    }
  }

  async releaseDmChannels(channelIds: readonly string[]): Promise<void> {
    this.checkOpen();
    const names = checkChannelList(channelIds);
    await Promise.all(names.map((n) => this.releaseOne(n)));
  }

  watchedChannels(): readonly string[] {
    return [...this.channels.keys()].sort();
  }

  // --- internals ---

  private checkOpen(): void {
    if (this.closed) throw new StrataError("Closed", "data node is closed");
  }

  private async watchOne(name: string): Promise<void> {
    if (this.channels.has(name)) return;
    const pending = this.opening.get(name);
    if (pending !== undefined) {
      await pending;
      return;
    }
    const p = DataChannel.open(
      {
        deps: this.deps,
        opts: this.opts,
        logger: this.log,
        timeTickChannel: () => this.ttChannel,
        statsChannel: () => this.statsChannelName,
      },
      name,
    );
    this.opening.set(name, p);
    let ch: DataChannel;
    try {
      ch = await p;
    } finally {
      this.opening.delete(name);
    }
    if (this.closed) {
      await ch.close();
      throw new StrataError("Closed", "data node is closed");
    }
    this.channels.set(name, ch);
    void ch.done.then(() => {
      // A failed flowgraph leaves the watched set, so the channel can be watched again.
      if (this.channels.get(name) === ch) this.channels.delete(name);
    });
  }

  private async releaseOne(name: string): Promise<void> {
    const pending = this.opening.get(name);
    if (pending !== undefined) await pending.catch(() => undefined);
    const ch = this.channels.get(name);
    if (ch === undefined) return;
    this.channels.delete(name);
    await ch.close();
    this.log.info({ channel: name }, "channel released");
  }

  private async ddLoop(name: string, consumer: Consumer): Promise<void> {
    for (;;) {
      let batch: Awaited<ReturnType<Consumer["next"]>>;
      try {
        batch = await consumer.next();
      } catch (e) {
        this.log.error({ err: e, channel: name }, "DD channel read failed; DDL is no longer followed");
        return;
      }
      if (batch.length === 0) return;
      for (const rec of batch) {
        let msg: ReturnType<typeof decodeMsg>;
        try {
          msg = decodeMsg(rec.payload);
        } catch (e) {
          this.log.warn({ err: e, seq: rec.seq }, "undecodable DD record skipped");
          continue;
        }
        if (msg.type === MsgType.DropCollection) {
          // A channel still opening would otherwise miss the drop.
          await Promise.allSettled([...this.opening.values()]);
          const names = [...this.channels.values()]
            .filter((c) => c.collectionId === msg.collectionId)
            .map((c) => c.name);
          this.log.info({ collectionId: msg.collectionId, channels: names }, "collection dropped");
          await Promise.all(names.map((n) => this.releaseOne(n)));
        } else if (msg.type === MsgType.DropPartition) {
          await Promise.allSettled([...this.opening.values()]);
          for (const c of this.channels.values()) {
            if (c.collectionId === msg.collectionId) c.dropPartition(msg.partitionId);
          }
        }
      }
    }
  }
}

/** Segments the dataservice decided to flush (their channel's tick passed their last assignment's expiry). */
export interface FlushSegmentsRequest {
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly segmentIds: readonly bigint[];
}

/**
 * The DataNode of the seeds. One time-ticked flowgraph per watched DML channel:
 * input → filter → insert buffer → delete buffer → sync to binlogs → time tick and checkpoint.
 */
export interface DataNode {
  /** Registers with the dataservice and starts consuming the DD channel. */
  start(): Promise<void>;
  /** Stops every flowgraph; buffered, unsynced rows stay in the log and are replayed by the next owner. */
  close(): Promise<void>;
  /**
   * Graceful-shutdown step: at each channel's next time tick, persists every buffered row and
   * delete (growing segments stay GROWING) and moves the checkpoint past them, so the next start
   * replays nothing already received. Resolves when every channel did, or after `timeoutMs`
   * (rows not drained simply replay). Call it once writes have stopped, before `close`.
   */
  drain(timeoutMs?: number): Promise<void>;

  /**
   * Starts one flowgraph per channel, resuming from the checkpoint the dataservice holds and
   * skipping what each segment already persisted (exactly-once). Idempotent per channel.
   * @throws StrataError ChannelNotFound
   */
  watchDmChannels(channelIds: readonly string[]): Promise<void>;
  /** Consumes DDL announcements (dropped collections/partitions release their flowgraphs and buffers). */
  watchDdChannel(channelId: string): Promise<void>;
  /** Where per-channel time-tick reports go (the dataservice's `getTimeTickChannel`). */
  setTimeTickChannel(channelId: string): Promise<void>;
  /** Where segment statistics go (the dataservice's `getStatsChannel`). */
  setStatsChannel(channelId: string): Promise<void>;

  /**
   * Persists the listed segments at the next time tick and reports them flushed to the
   * dataservice. Idempotent; segments on channels this node does not watch are ignored.
   */
  flush(req: FlushSegmentsRequest): Promise<void>;

  // --- beyond the seeds ---

  /** Stops the channels' flowgraphs without persisting (the channels move to another node). Idempotent. */
  releaseDmChannels(channelIds: readonly string[]): Promise<void>;
  /** Channels currently watched. */
  watchedChannels(): readonly string[];
}

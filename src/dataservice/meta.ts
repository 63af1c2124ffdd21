import type { MetaKv, TxnOp } from "../kv/types.ts";
import {
  CHANNEL_PREFIX,
  type ChannelRecord,
  channelKey,
  decodeChannel,
  decodeSegment,
  encodeRecord,
  SEGMENT_PREFIX,
  type SegmentRecord,
  segmentKey,
} from "./records.ts";

/** etcd's default --max-txn-ops is 128 and its request limit 1.5 MiB: stay well under both. */
const TXN_MAX_OPS = 64;
const TXN_MAX_BYTES = 1024 * 1024;

/**
 * The dataservice's segment and channel records: an in-memory copy of what the meta store holds,
 * changed only by writing the store first. Not locked itself: the service serialises mutations.
 */
export class DataMeta {
  readonly #kv: MetaKv;
  readonly #segments = new Map<bigint, SegmentRecord>();
  readonly #byChannel = new Map<string, Set<bigint>>();
  readonly #channels = new Map<string, ChannelRecord>();
  /** Segments whose in-memory row count or allocations are newer than the store (written lazily). */
  readonly #dirty = new Set<bigint>();

  constructor(kv: MetaKv) {
    this.#kv = kv;
  }

  async load(): Promise<void> {
    for (const e of await this.#kv.getPrefix(SEGMENT_PREFIX)) this.#set(decodeSegment(e.key, e.value));
    for (const e of await this.#kv.getPrefix(CHANNEL_PREFIX)) {
      const r = decodeChannel(e.key, e.value);
      this.#channels.set(r.channel, r);
    }
  }

  get segments(): ReadonlyMap<bigint, SegmentRecord> {
    return this.#segments;
  }

  get channels(): ReadonlyMap<string, ChannelRecord> {
    return this.#channels;
  }

  *channelSegments(channel: string): Generator<SegmentRecord> {
    for (const id of this.#byChannel.get(channel) ?? []) {
      const s = this.#segments.get(id);
      if (s !== undefined) yield s;
    }
  }

  /** Changes only soft state (reported rows, expired allocations) in memory; written by `persistDirty`. */
  updateSoft(r: SegmentRecord): void {
    this.#set(r);
    this.#dirty.add(r.segmentId);
  }

  #set(r: SegmentRecord): void {
    this.#segments.set(r.segmentId, r);
    let set = this.#byChannel.get(r.channel);
    if (set === undefined) {
      set = new Set();
      this.#byChannel.set(r.channel, set);
    }
    set.add(r.segmentId);
    this.#dirty.delete(r.segmentId);
  }

  /**
   * Writes the records, then applies them in memory. One transaction when the writes fit (every
   * per-request mutation does); larger sets (flush or drop of many segments) go in chunks in the
   * order given, each chunk leaving every record self-consistent.
   */
  async persist(
    segs: readonly SegmentRecord[],
    chans: readonly ChannelRecord[] = [],
    channelDeletes: readonly string[] = [],
  ): Promise<void> {
    const items: { op: TxnOp; bytes: number; apply: () => void }[] = [];
    for (const s of segs) {
      const value = encodeRecord(s);
      const key = segmentKey(s.collectionId, s.segmentId);
      items.push({ op: { type: "put", key, value }, bytes: value.length, apply: () => this.#set(s) });
    }
    for (const c of chans) {
      const value = encodeRecord(c);
      items.push({
        op: { type: "put", key: channelKey(c.channel), value },
        bytes: value.length,
        apply: () => this.#channels.set(c.channel, c),
      });
    }
    for (const ch of channelDeletes) {
      items.push({
        op: { type: "delete", key: channelKey(ch) },
        bytes: ch.length,
        apply: () => this.#channels.delete(ch),
      });
    }
    let chunk: typeof items = [];
    let bytes = 0;
    const commit = async (): Promise<void> => {
      if (chunk.length === 0) return;
      await this.#kv.txn({ compare: [], success: chunk.map((i) => i.op) });
      for (const i of chunk) i.apply();
      chunk = [];
      bytes = 0;
    };
    for (const it of items) {
      if (chunk.length > 0 && (chunk.length >= TXN_MAX_OPS || bytes + it.bytes > TXN_MAX_BYTES)) {
        await commit();
      }
      chunk.push(it);
      bytes += it.bytes;
    }
    await commit();
  }

  async persistDirty(): Promise<void> {
    const recs: SegmentRecord[] = [];
    for (const id of this.#dirty) {
      const r = this.#segments.get(id);
      if (r !== undefined) recs.push(r);
    }
    await this.persist(recs);
  }
}

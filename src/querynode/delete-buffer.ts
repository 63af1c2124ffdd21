import type { Timestamp } from "../common/timestamp.ts";

/** One delete record of the channel as the buffer keeps it (keys copied off the log buffer). */
export interface BufferedDelete {
  readonly seq: number;
  readonly ts: Timestamp;
  /** -1 = every partition. */
  readonly partitionId: bigint;
  readonly pks: BigInt64Array | readonly string[];
}

/**
 * The channel's recent deletes, for sealed segments loaded after the deletes went by. It holds
 * every delete with seq > `coveredAfterSeq` the channel has processed; older ones are in the
 * segments' delta logs (pruning follows the channel checkpoint the dataservice reports).
 */
export class DeleteBuffer {
  private chunks: BufferedDelete[] = [];
  private held = 0;
  /** Every processed delete with a seq above this is buffered. */
  coveredAfterSeq: number;

  constructor(startSeq: number) {
    this.coveredAfterSeq = startSeq;
  }

  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.chunks.length;
  }

  add(d: BufferedDelete): void {
    const pks = d.pks instanceof BigInt64Array ? d.pks.slice() : [...d.pks];
    this.chunks.push({ seq: d.seq, ts: d.ts, partitionId: d.partitionId, pks });
    this.held += byteSize(pks);
  }

  /** Drops records at or below `seq` (they are in delta logs now). */
  prune(seq: number): void {
    if (seq <= this.coveredAfterSeq) return;
    const keep = this.chunks.filter((c) => c.seq > seq);
    this.held = keep.reduce((n, c) => n + byteSize(c.pks), 0);
    this.chunks = keep;
    this.coveredAfterSeq = seq;
  }

  entries(): readonly BufferedDelete[] {
    return this.chunks;
  }
}

function byteSize(pks: BigInt64Array | readonly string[]): number {
  if (pks instanceof BigInt64Array) return pks.byteLength + 16;
  let n = 16;
  for (const s of pks) n += s.length * 2;
  return n;
}

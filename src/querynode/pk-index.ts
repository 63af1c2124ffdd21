import type { PrimaryKey } from "../storage/pkstats.ts";

/** A segment's primary-key column: Int64 keys or VarChar keys. */
export type PkColumn = BigInt64Array | readonly string[];

function mix(lo: number, hi: number): number {
  let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi ^ 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix(h, s.length);
}

/**
 * Exact primary key → rows of one segment: an open-addressing hash table of row numbers in an
 * Int32Array (about 8 bytes per row at most, no per-row objects). Keys are read from the segment's
 * PK column, which the caller passes in (it may be a fresh view after the column grew). A key may
 * have several rows (upsert history, duplicate inserts): lookup returns all of them.
 */
export class PkIndex {
  private slots: Int32Array;
  private mask: number;
  private size = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));

  constructor(expectedRows = 0) {
    let cap = 16;
    while (cap < expectedRows * 2) cap *= 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
  }

  get bytes(): number {
    return this.slots.byteLength;
  }

  /** Indexes rows [from, to) of `pks`. */
  add(pks: PkColumn, from: number, to: number): void {
    if ((this.size + (to - from)) * 2 > this.slots.length) this.grow(pks, this.size + (to - from));
    this.insertRange(pks, from, to);
    this.size += to - from;
  }

  /** Appends to `out` every row r < `rows` whose key is `pk`. */
  lookup(pks: PkColumn, rows: number, pk: PrimaryKey, out: number[]): void {
    if (pks instanceof BigInt64Array) {
      if (typeof pk !== "bigint") return;
      this.scratch.setBigInt64(0, BigInt.asIntN(64, pk), true);
      let i = mix(this.scratch.getUint32(0, true), this.scratch.getUint32(4, true)) & this.mask;
      for (;;) {
        const r = this.slots[i] as number;
        if (r < 0) return;
        if (r < rows && pks[r] === pk) out.push(r);
        i = (i + 1) & this.mask;
      }
    }
    if (typeof pk !== "string") return;
    let i = hashString(pk) & this.mask;
    for (;;) {
      const r = this.slots[i] as number;
      if (r < 0) return;
      if (r < rows && pks[r] === pk) out.push(r);
      i = (i + 1) & this.mask;
    }
  }

  private grow(pks: PkColumn, need: number): void {
    let cap = this.slots.length;
    while (cap < need * 2) cap *= 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.insertRange(pks, 0, this.size);
  }

  private insertRange(pks: PkColumn, from: number, to: number): void {
    const slots = this.slots;
    const mask = this.mask;
    if (pks instanceof BigInt64Array) {
      const words = new Uint32Array(pks.buffer, pks.byteOffset, pks.length * 2);
      for (let r = from; r < to; r++) {
        let i = mix(words[2 * r] as number, words[2 * r + 1] as number) & mask;
        while ((slots[i] as number) >= 0) i = (i + 1) & mask;
        slots[i] = r;
      }
      return;
    }
    for (let r = from; r < to; r++) {
      let i = hashString(pks[r] as string) & mask;
      while ((slots[i] as number) >= 0) i = (i + 1) & mask;
      slots[i] = r;
    }
  }
}

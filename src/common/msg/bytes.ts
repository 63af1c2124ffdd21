import { StrataError } from "../errors.ts";

/**
 * Collects parts and lays them out once, 8-byte aligned where asked, so typed-array columns can
 * be decoded as zero-copy views. Encoding costs one allocation and one copy per part.
 */
export class ByteWriter {
  readonly #parts: { offset: number; bytes: Uint8Array }[] = [];
  readonly #deferred: { offset: number; size: number; fill: (dst: Uint8Array) => void }[] = [];
  #size = 0;
  readonly #scratch = new DataView(new ArrayBuffer(8));

  get size(): number {
    return this.#size;
  }

  align(n = 8): void {
    this.#size = Math.ceil(this.#size / n) * n;
  }

  bytes(b: Uint8Array): void {
    if (b.byteLength > 0) this.#parts.push({ offset: this.#size, bytes: b });
    this.#size += b.byteLength;
  }

  /** Reserves `size` bytes that `fill` writes straight into the output at `finish` (no staging copy). */
  deferred(size: number, fill: (dst: Uint8Array) => void): void {
    if (size > 0) this.#deferred.push({ offset: this.#size, size, fill });
    this.#size += size;
  }

  /** A typed array's raw little-endian bytes (the platform is little-endian). */
  view(a: ArrayBufferView): void {
    this.bytes(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }

  #fixed(n: number, set: (dv: DataView) => void): void {
    set(this.#scratch);
    this.bytes(new Uint8Array(this.#scratch.buffer.slice(0, n)));
  }

  u8(v: number): void {
    this.#fixed(1, (dv) => dv.setUint8(0, v));
  }
  u16(v: number): void {
    this.#fixed(2, (dv) => dv.setUint16(0, v, true));
  }
  u32(v: number): void {
    this.#fixed(4, (dv) => dv.setUint32(0, v, true));
  }
  i32(v: number): void {
    this.#fixed(4, (dv) => dv.setInt32(0, v, true));
  }
  i64(v: bigint): void {
    this.#fixed(8, (dv) => dv.setBigInt64(0, v, true));
  }
  u64(v: bigint): void {
    this.#fixed(8, (dv) => dv.setBigUint64(0, v, true));
  }

  finish(): Uint8Array {
    // ArrayBuffer allocation guarantees 8-byte alignment of offset 0.
    const out = new Uint8Array(new ArrayBuffer(this.#size));
    for (const p of this.#parts) out.set(p.bytes, p.offset);
    for (const d of this.#deferred) d.fill(out.subarray(d.offset, d.offset + d.size));
    return out;
  }
}

function truncated(what: string): StrataError {
  return new StrataError("Corrupted", `message truncated while reading ${what}`);
}

/** Reads what `ByteWriter` wrote; every overrun is a typed Corrupted error. */
export class ByteReader {
  readonly #buf: Uint8Array;
  readonly #dv: DataView;
  #pos = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.#buf.byteLength - this.#pos;
  }

  align(n = 8): void {
    this.#pos = Math.ceil(this.#pos / n) * n;
  }

  #need(n: number, what: string): number {
    if (n < 0 || this.#pos + n > this.#buf.byteLength) throw truncated(what);
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(what: string): number {
    return this.#dv.getUint8(this.#need(1, what));
  }
  u16(what: string): number {
    return this.#dv.getUint16(this.#need(2, what), true);
  }
  u32(what: string): number {
    return this.#dv.getUint32(this.#need(4, what), true);
  }
  i32(what: string): number {
    return this.#dv.getInt32(this.#need(4, what), true);
  }
  i64(what: string): bigint {
    return this.#dv.getBigInt64(this.#need(8, what), true);
  }
  u64(what: string): bigint {
    return this.#dv.getBigUint64(this.#need(8, what), true);
  }

  /** `n` bytes as a view (no copy). */
  bytes(n: number, what: string): Uint8Array {
    const at = this.#need(n, what);
    return this.#buf.subarray(at, at + n);
  }

  /**
   * `count` elements as a typed array: a view when aligned, else a copy. Views share memory with
   * the message buffer, which the codec's callers treat as immutable.
   */
  typed<T extends ArrayBufferView>(
    ctor: { new (buffer: ArrayBuffer, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number },
    count: number,
    what: string,
  ): T {
    const bytes = this.bytes(count * ctor.BYTES_PER_ELEMENT, what);
    if (bytes.byteOffset % ctor.BYTES_PER_ELEMENT === 0) {
      return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
    }
    const copy = new Uint8Array(bytes);
    return new ctor(copy.buffer, 0, count);
  }
}

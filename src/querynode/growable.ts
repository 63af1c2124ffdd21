export type TypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array;

interface Settable {
  set(a: ArrayLike<number> | ArrayLike<bigint>, at?: number): void;
}

/**
 * An append-only typed array whose capacity doubles. Appends copy, so a growing segment never
 * keeps a view on a decoded log record (those pin the log's shared read buffers).
 */
export class Growable<T extends TypedArray> {
  private readonly make: (n: number) => T;
  private buf: T;
  private len = 0;

  /** `make(n)` allocates n elements (on a SharedArrayBuffer for data the search workers read). */
  constructor(make: (n: number) => T, initial = 64) {
    this.make = make;
    this.buf = make(initial);
  }

  get length(): number {
    return this.len;
  }

  /** Bytes allocated (what the process actually holds for this buffer). */
  get capacityBytes(): number {
    return this.buf.byteLength;
  }

  append(src: T): void {
    const need = this.len + src.length;
    if (need > this.buf.length) {
      let cap = Math.max(this.buf.length * 2, 64);
      while (cap < need) cap *= 2;
      const next = this.make(cap);
      (next as unknown as Settable).set(this.buf.subarray(0, this.len) as unknown as ArrayLike<number>);
      this.buf = next;
    }
    (this.buf as unknown as Settable).set(src as unknown as ArrayLike<number>, this.len);
    this.len = need;
  }

  /**
   * The first `n` elements (default: all) as a view. Later appends never change the elements a
   * view covers (they go past its end or into a new buffer), so a view is a stable snapshot.
   */
  view(n = this.len): T {
    return this.buf.subarray(0, n) as T;
  }
}

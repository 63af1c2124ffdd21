type TypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array;

export interface TypedCtor<T extends TypedArray> {
  new (length: number): T;
}

/**
 * An append-only typed array: appends copy whole chunks with `set`, capacity doubles. Copying
 * (rather than keeping views on decoded messages) matters because log payloads are views on the
 * log's shared read buffers, which a view would keep alive.
 */
export class Growable<T extends TypedArray> {
  private readonly ctor: TypedCtor<T>;
  private buf: T;
  private len = 0;

  constructor(ctor: TypedCtor<T>, initial = 64) {
    this.ctor = ctor;
    this.buf = new ctor(initial);
  }

  get length(): number {
    return this.len;
  }

  /** Makes room for `n` more elements and returns the offset they start at. */
  reserve(n: number): number {
    const need = this.len + n;
    if (need > this.buf.length) {
      let cap = Math.max(this.buf.length * 2, 64);
      while (cap < need) cap *= 2;
      const next = new this.ctor(cap);
      (next as unknown as { set(a: T): void }).set(this.buf.subarray(0, this.len) as T);
      this.buf = next;
    }
    const at = this.len;
    this.len = need;
    return at;
  }

  append(src: T): void {
    const at = this.reserve(src.length);
    (this.buf as unknown as { set(a: T, at: number): void }).set(src, at);
  }

  push(v: T extends BigInt64Array ? bigint : number): void {
    const at = this.reserve(1);
    (this.buf as unknown as Record<number, bigint | number>)[at] = v;
  }

  /** The appended elements (a view; valid until the next append). */
  view(): T {
    return this.buf.subarray(0, this.len) as T;
  }
}

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
 * An append-only typed array whose capacity doubles. Appends copy: a buffer never keeps a view on
 * a decoded log record (those pin the log's shared read buffers). A view of the first n elements
 * is a stable snapshot: later appends go past its end or into a new buffer.
 */
export class Growable<T extends TypedArray> {
  readonly #make: (n: number) => T;
  #buf: T;
  #len = 0;

  /** `make(n)` allocates n elements (e.g. on a SharedArrayBuffer for data search workers read). */
  constructor(make: (n: number) => T, initial = 64) {
    this.#make = make;
    this.#buf = make(initial);
  }

  get length(): number {
    return this.#len;
  }

  /** Bytes allocated (what the process actually holds for this buffer). */
  get capacityBytes(): number {
    return this.#buf.byteLength;
  }

  /** Makes room for `n` more elements and returns the offset they start at. */
  reserve(n: number): number {
    const need = this.#len + n;
    if (need > this.#buf.length) {
      let cap = Math.max(this.#buf.length * 2, 64);
      while (cap < need) cap *= 2;
      const next = this.#make(cap);
      (next as unknown as Settable).set(this.#buf.subarray(0, this.#len) as unknown as ArrayLike<number>);
      this.#buf = next;
    }
    const at = this.#len;
    this.#len = need;
    return at;
  }

  append(src: T): void {
    const at = this.reserve(src.length);
    (this.#buf as unknown as Settable).set(src as unknown as ArrayLike<number>, at);
  }

  push(v: T extends BigInt64Array ? bigint : number): void {
    const at = this.reserve(1);
    (this.#buf as unknown as Record<number, bigint | number>)[at] = v;
  }

  /** The first `n` elements (default: all) as a view. */
  view(n = this.#len): T {
    return this.#buf.subarray(0, n) as T;
  }
}

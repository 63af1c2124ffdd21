/** Per-query top-k results: `offsets[q * topk + i]` is query q's i-th best row, best first. */
export interface SearchResult {
  readonly nq: number;
  readonly topk: number;
  /** Row offsets in the segment; -1 pads when fewer than topk rows qualified. */
  readonly offsets: Int32Array;
  /** Scores in the metric's own sense (distance or similarity); NaN pads. */
  readonly scores: Float32Array;
}

/** An all-padding result. */
export function emptyResult(nq: number, topk: number): SearchResult {
  return {
    nq,
    topk,
    offsets: new Int32Array(nq * topk).fill(-1),
    scores: new Float32Array(nq * topk).fill(Number.NaN),
  };
}

/**
 * nq bounded max-heaps in flat typed arrays. Keys are float32 and smaller-is-better (distances as
 * they are, similarities negated), so one heap serves every metric. The root is the worst entry: the
 * largest key, and on equal keys the larger offset, which makes ties resolve to the lower offset
 * whatever order candidates arrive in.
 */
export class TopKHeaps {
  readonly nq: number;
  readonly k: number;
  private readonly keys: Float32Array;
  private readonly ids: Int32Array;
  private readonly sizes: Int32Array;
  /**
   * Per query, the largest key that can still enter: +Infinity while the heap has room, then the
   * root's key. Scan loops test `key <= bound[q]` before calling push; NaN never passes.
   */
  readonly bound: Float64Array;

  constructor(nq: number, k: number) {
    this.nq = nq;
    this.k = k;
    this.keys = new Float32Array(nq * k);
    this.ids = new Int32Array(nq * k);
    this.sizes = new Int32Array(nq);
    this.bound = new Float64Array(nq).fill(Number.POSITIVE_INFINITY);
  }

  /** Offers (key, id) to query q's heap. `key` must be a float32 value and not NaN. */
  push(q: number, key: number, id: number): void {
    const k = this.k;
    const base = q * k;
    const keys = this.keys;
    const ids = this.ids;
    const n = this.sizes[q]!;
    if (n < k) {
      let i = n;
      while (i > 0) {
        const p = (i - 1) >> 1;
        const pk = keys[base + p]!;
        if (pk > key || (pk === key && ids[base + p]! > id)) break;
        keys[base + i] = pk;
        ids[base + i] = ids[base + p]!;
        i = p;
      }
      keys[base + i] = key;
      ids[base + i] = id;
      this.sizes[q] = n + 1;
      if (n + 1 === k) this.bound[q] = keys[base]!;
      return;
    }
    const rk = keys[base]!;
    if (key > rk || (key === rk && id > ids[base]!)) return;
    siftDown(keys, ids, base, k, 0, key, id);
    this.bound[q] = keys[base]!;
  }

  /** Sorts every heap best-first into a result; scores are negated back when `negate`. */
  finish(negate: boolean): SearchResult {
    const { nq, k, keys, ids } = this;
    const offsets = new Int32Array(nq * k).fill(-1);
    const scores = new Float32Array(nq * k).fill(Number.NaN);
    for (let q = 0; q < nq; q++) {
      const base = q * k;
      const n = this.sizes[q]!;
      // In-place heapsort: popping the worst to the end leaves the heap ascending by (key, id).
      for (let end = n - 1; end > 0; end--) {
        const lastKey = keys[base + end]!;
        const lastId = ids[base + end]!;
        keys[base + end] = keys[base]!;
        ids[base + end] = ids[base]!;
        siftDown(keys, ids, base, end, 0, lastKey, lastId);
      }
      for (let i = 0; i < n; i++) {
        offsets[base + i] = ids[base + i]!;
        // `0 - x` keeps a similarity of zero at +0 rather than -0.
        scores[base + i] = negate ? 0 - keys[base + i]! : keys[base + i]!;
      }
    }
    return { nq, topk: k, offsets, scores };
  }
}

/** Places (key, id) at slot i of a heap of size n and restores the max-heap order below it. */
function siftDown(
  keys: Float32Array,
  ids: Int32Array,
  base: number,
  n: number,
  start: number,
  key: number,
  id: number,
): void {
  let i = start;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    let ck = keys[base + c]!;
    let cid = ids[base + c]!;
    const r = c + 1;
    if (r < n) {
      const rk = keys[base + r]!;
      const rid = ids[base + r]!;
      if (rk > ck || (rk === ck && rid > cid)) {
        c = r;
        ck = rk;
        cid = rid;
      }
    }
    if (key > ck || (key === ck && id > cid)) break;
    keys[base + i] = ck;
    ids[base + i] = cid;
    i = c;
  }
  keys[base + i] = key;
  ids[base + i] = id;
}

/**
 * Merges results of one segment scanned in parts (row ranges) into one result. Offsets are global,
 * so this is a plain top-k over the union; the tie rule makes it independent of the part order.
 */
export function mergeOffsetResults(parts: readonly SearchResult[], negate: boolean): SearchResult {
  const first = parts[0];
  if (first === undefined) throw new Error("mergeOffsetResults needs at least one part");
  if (parts.length === 1) return first;
  const { nq, topk } = first;
  const heaps = new TopKHeaps(nq, topk);
  for (const part of parts) {
    for (let q = 0; q < nq; q++) {
      const base = q * topk;
      for (let i = 0; i < topk; i++) {
        const off = part.offsets[base + i]!;
        if (off < 0) break;
        const s = part.scores[base + i]!;
        const key = negate ? 0 - s : s;
        if (key <= heaps.bound[q]!) heaps.push(q, key, off);
      }
    }
  }
  return heaps.finish(negate);
}

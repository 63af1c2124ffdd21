import { StrataError } from "../common/errors.ts";
import { largerIsBetter, type MetricType } from "./metric.ts";

/** One query's hits from one segment (or node), best first, with primary keys instead of offsets. */
export interface ScoredPks {
  readonly pks: BigInt64Array | readonly string[];
  /** Same length as pks. NaN entries are padding and are skipped. */
  readonly scores: Float32Array;
}

/**
 * Merges one query's hit lists from several segments or nodes into the global top `topk`, best
 * first in the metric's direction, each primary key at most once. A key present in several lists
 * keeps its best score; on equal scores the earliest list wins, and equal-scored distinct keys
 * are ordered by list, then by position in the list. Every list must be best-first (as searchExact
 * returns them) and all lists must use the same key type (Int64 or VarChar); otherwise
 * ParameterInvalid. Cost: O((topk + duplicates) log lists).
 */
export function mergeTopK(lists: readonly ScoredPks[], topk: number, metric: MetricType): ScoredPks {
  if (!Number.isInteger(topk) || topk < 0) {
    throw new StrataError("ParameterInvalid", `mergeTopK: topk must be a non-negative integer, got ${topk}`);
  }
  const larger = largerIsBetter(metric);
  const stringKeys = checkLists(lists, larger);
  const L = lists.length;
  // Cursor per list, and a binary heap of list indices ordered by their head entry.
  const pos = new Int32Array(L);
  const heap = new Int32Array(L);
  let size = 0;
  const head = (l: number) => lists[l]!.scores[pos[l]!]!;
  /** True when list a's head should come out before list b's. */
  const before = (a: number, b: number) => {
    const sa = head(a);
    const sb = head(b);
    if (sa !== sb) return larger ? sa > sb : sa < sb;
    return a < b;
  };
  const skipPadding = (l: number) => {
    const s = lists[l]!.scores;
    while (pos[l]! < s.length && Number.isNaN(s[pos[l]!]!)) pos[l]!++;
    return pos[l]! < s.length;
  };
  const siftUp = (i0: number) => {
    let i = i0;
    const x = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(x, heap[p]!)) break;
      heap[i] = heap[p]!;
      i = p;
    }
    heap[i] = x;
  };
  const siftDown = (i0: number) => {
    let i = i0;
    const x = heap[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && before(heap[c + 1]!, heap[c]!)) c++;
      if (!before(heap[c]!, x)) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = x;
  };
  for (let l = 0; l < L; l++) {
    if (skipPadding(l)) {
      heap[size++] = l;
      siftUp(size - 1);
    }
  }
  const outScores: number[] = [];
  const outBig: bigint[] = [];
  const outStr: string[] = [];
  const seen = new Set<bigint | string>();
  while (size > 0 && outScores.length < topk) {
    const l = heap[0]!;
    const list = lists[l]!;
    const p = pos[l]!;
    const pk = list.pks[p]!;
    if (!seen.has(pk)) {
      seen.add(pk);
      outScores.push(list.scores[p]!);
      if (stringKeys) outStr.push(pk as string);
      else outBig.push(pk as bigint);
    }
    pos[l] = p + 1;
    if (skipPadding(l)) siftDown(0);
    else {
      size--;
      if (size > 0) {
        heap[0] = heap[size]!;
        siftDown(0);
      }
    }
  }
  return {
    pks: stringKeys ? outStr : BigInt64Array.from(outBig),
    scores: Float32Array.from(outScores),
  };
}

/** Checks shape and order; returns true for string keys. */
function checkLists(lists: readonly ScoredPks[], larger: boolean): boolean {
  let stringKeys: boolean | undefined;
  lists.forEach((list, i) => {
    const isStr = Array.isArray(list.pks);
    if (!isStr && !(list.pks instanceof BigInt64Array)) {
      throw new StrataError(
        "ParameterInvalid",
        `mergeTopK: list ${i} pks must be a BigInt64Array or string[]`,
      );
    }
    if (stringKeys !== undefined && stringKeys !== isStr) {
      throw new StrataError("ParameterInvalid", "mergeTopK: lists mix Int64 and VarChar primary keys");
    }
    stringKeys = isStr;
    if (!(list.scores instanceof Float32Array) || list.scores.length !== list.pks.length) {
      throw new StrataError("ParameterInvalid", `mergeTopK: list ${i} needs one float32 score per pk`);
    }
    let prev = Number.NaN;
    for (let j = 0; j < list.scores.length; j++) {
      const s = list.scores[j]!;
      if (Number.isNaN(s)) continue;
      if (!Number.isNaN(prev) && (larger ? s > prev : s < prev)) {
        throw new StrataError("ParameterInvalid", `mergeTopK: list ${i} is not ordered best-first at ${j}`);
      }
      prev = s;
    }
  });
  return stringKeys ?? false;
}

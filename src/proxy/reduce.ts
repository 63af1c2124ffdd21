import type { Column } from "../common/column.ts";
import { gather } from "../common/gather.ts";
import type { FieldColumn } from "../common/msg/index.ts";
import { largerIsBetter, mergeTopK } from "../index/index.ts";
import type { Hits, MetricType } from "../querynode/types.ts";

/**
 * Merges one query's hits from several nodes with the index's `mergeTopK` (best first in the
 * metric's direction, each primary key once, ties by node order then rank), then applies
 * `offset`/`limit`. Output-field rows follow their hits: each kept key's row is the occurrence
 * `mergeTopK` kept (its best score, earliest node on ties).
 */
export function reduceHits(
  lists: readonly Hits[],
  metric: MetricType,
  offset: number,
  limit: number,
): { pks: (bigint | string)[]; scores: number[]; fields: FieldColumn[] } {
  if (lists.length === 1) {
    const one = reduceOne(lists[0] as Hits, metric, offset, limit);
    if (one !== undefined) return one;
  }
  const merged = mergeTopK(lists, offset + limit, metric);
  const larger = largerIsBetter(metric);
  const where = new Map<bigint | string, { list: number; row: number; score: number }>();
  lists.forEach((h, list) => {
    for (let row = 0; row < h.scores.length; row++) {
      const score = h.scores[row] as number;
      if (Number.isNaN(score)) continue;
      const pk = h.pks[row] as bigint | string;
      const cur = where.get(pk);
      if (cur === undefined || (larger ? score > cur.score : score < cur.score))
        where.set(pk, { list, row, score });
    }
  });
  const all: readonly (bigint | string)[] =
    merged.pks instanceof BigInt64Array ? Array.from(merged.pks) : merged.pks;
  const pks = all.slice(offset, offset + limit);
  const page = pks.map((pk) => where.get(pk) as { list: number; row: number; score: number });
  const fieldIds = lists[0]?.fields.map((f) => f.fieldId) ?? [];
  const fields: FieldColumn[] = fieldIds.map((fieldId) => {
    const cols = lists.map((l) => l.fields.find((f) => f.fieldId === fieldId)?.column);
    return { fieldId, column: concatRows(page.map((p) => ({ col: cols[p.list] as Column, row: p.row }))) };
  });
  return { pks, scores: page.map((p) => p.score), fields };
}

/**
 * The single-node case (standalone, or one query node): the list is already best first, so the
 * merge reduces to skipping padding and repeated keys, and each field's page rows are gathered
 * at once rather than one row at a time. Same result as the general path; undefined for a list
 * the general path must judge (out of order or malformed: `mergeTopK` reports it).
 */
function reduceOne(
  h: Hits,
  metric: MetricType,
  offset: number,
  limit: number,
): { pks: (bigint | string)[]; scores: number[]; fields: FieldColumn[] } | undefined {
  if (!(h.scores instanceof Float32Array) || h.scores.length !== h.pks.length) return undefined;
  const larger = largerIsBetter(metric);
  const want = offset + limit;
  const keys: (bigint | string)[] = [];
  const rows: number[] = [];
  const scores: number[] = [];
  // Short pages look keys up in the page itself: no set to build for a top 10.
  const seen = want > 64 ? new Set<bigint | string>() : undefined;
  let prev = Number.NaN;
  for (let row = 0; row < h.scores.length; row++) {
    const score = h.scores[row] as number;
    if (Number.isNaN(score)) continue;
    if (!Number.isNaN(prev) && (larger ? score > prev : score < prev)) return undefined;
    prev = score;
    if (keys.length >= want) continue;
    const pk = h.pks[row] as bigint | string;
    if (seen === undefined ? keys.includes(pk) : seen.has(pk)) continue;
    seen?.add(pk);
    keys.push(pk);
    rows.push(row);
    scores.push(score);
  }
  const page = Uint32Array.from(rows.slice(offset));
  return {
    pks: keys.slice(offset),
    scores: scores.slice(offset),
    fields: h.fields.map((f) => ({ fieldId: f.fieldId, column: gather(f.column, page) })),
  };
}

/** Rows picked from several same-typed columns, as one column. */
export function concatRows(picks: readonly { col: Column; row: number }[]): Column {
  const first = picks[0]?.col;
  if (first === undefined) return { type: 5, data: new BigInt64Array(0) } as Column;
  const parts = picks.map((p) => gather(p.col, new Uint32Array([p.row])));
  return concatColumns(parts);
}

export function concatColumns(parts: readonly Column[]): Column {
  const first = parts[0] as Column;
  if (parts.length === 1) return first;
  const data = first.data;
  if (Array.isArray(data)) {
    return Object.assign({}, first, { data: parts.flatMap((p) => p.data as unknown[]) }) as Column;
  }
  const arrays = parts.map((p) => p.data as unknown as ArrayLike<number | bigint> & { length: number });
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const Ctor = (
    data as unknown as {
      constructor: new (n: number) => { set(a: ArrayLike<number | bigint>, o: number): void };
    }
  ).constructor;
  const out = new Ctor(total);
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return Object.assign({}, first, { data: out }) as unknown as Column;
}

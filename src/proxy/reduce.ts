import type { Column } from "../common/column.ts";
import { gather } from "../common/gather.ts";
import type { FieldColumn } from "../common/msg/index.ts";
import type { Hits, MetricType } from "../querynode/types.ts";

export function smallerIsBetter(metric: MetricType): boolean {
  return metric === "L2" || metric === "HAMMING" || metric === "JACCARD";
}

/**
 * Merges one query's hits from several nodes: best first in the metric's direction (ties by
 * node order, then rank), duplicate primary keys removed (the better hit wins), then
 * `offset`/`limit` applied. Output-field rows follow their hits.
 */
export function reduceHits(
  lists: readonly Hits[],
  metric: MetricType,
  offset: number,
  limit: number,
): { pks: (bigint | string)[]; scores: number[]; fields: FieldColumn[] } {
  const asc = smallerIsBetter(metric);
  const all: { list: number; row: number; score: number }[] = [];
  lists.forEach((h, list) => {
    for (let row = 0; row < h.scores.length; row++) all.push({ list, row, score: h.scores[row] as number });
  });
  all.sort((a, b) => (asc ? a.score - b.score : b.score - a.score) || a.list - b.list || a.row - b.row);
  const seen = new Set<bigint | string>();
  const picked: { list: number; row: number; score: number; pk: bigint | string }[] = [];
  for (const h of all) {
    const pk = (lists[h.list] as Hits).pks[h.row] as bigint | string;
    if (seen.has(pk)) continue;
    seen.add(pk);
    picked.push({ ...h, pk });
    if (picked.length >= offset + limit) break;
  }
  const page = picked.slice(offset, offset + limit);
  const fieldIds = lists[0]?.fields.map((f) => f.fieldId) ?? [];
  const fields: FieldColumn[] = fieldIds.map((fieldId) => {
    // Gather per list, then concatenate in page order.
    const cols = lists.map((l) => l.fields.find((f) => f.fieldId === fieldId)?.column);
    return { fieldId, column: concatRows(page.map((p) => ({ col: cols[p.list] as Column, row: p.row }))) };
  });
  return { pks: page.map((p) => p.pk), scores: page.map((p) => p.score), fields };
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
    return { ...first, data: parts.flatMap((p) => p.data as unknown[]) } as Column;
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
  return { ...first, data: out } as unknown as Column;
}

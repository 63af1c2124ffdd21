import type { Column } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { gather } from "../common/gather.ts";
import type { NodeQueryResult } from "../querynode/types.ts";
import { concatColumns } from "./reduce.ts";

/** Where each row of a query page lives: the node's result and the row in it, in page order. */
export interface Page {
  readonly node: Uint32Array;
  readonly row: Uint32Array;
}

/**
 * Nodes return rows ordered by primary key, a key once each; merges them (a key found on several
 * nodes is taken from the first) and cuts the page out, without a per-row object.
 */
export function pageOf(perNode: readonly NodeQueryResult[], offset: number, limit: number | undefined): Page {
  if (perNode.length === 1) {
    const n = (perNode[0] as NodeQueryResult).pks.length;
    const from = Math.min(offset, n);
    const to = limit === undefined ? n : Math.min(n, offset + limit);
    const row = new Uint32Array(to - from);
    for (let i = 0; i < row.length; i++) row[i] = from + i;
    return { node: new Uint32Array(row.length), row };
  }
  let total = 0;
  for (const r of perNode) total += r.pks.length;
  const node = new Uint32Array(total);
  const row = new Uint32Array(total);
  const keys: (bigint | string)[] = new Array(total);
  let at = 0;
  perNode.forEach((r, n) => {
    for (let i = 0; i < r.pks.length; i++, at++) {
      node[at] = n;
      row[at] = i;
      keys[at] = r.pks[i] as bigint | string;
    }
  });
  const order = Uint32Array.from({ length: total }, (_, i) => i).sort((a, b) => {
    const x = keys[a] as bigint | string;
    const y = keys[b] as bigint | string;
    return x < y ? -1 : x > y ? 1 : (node[a] as number) - (node[b] as number);
  });
  const pageNode: number[] = [];
  const pageRow: number[] = [];
  let seen = 0;
  const end = limit === undefined ? Number.POSITIVE_INFINITY : offset + limit;
  for (let k = 0; k < total && seen < end; k++) {
    const i = order[k] as number;
    if (k > 0 && keys[order[k - 1] as number] === keys[i]) continue;
    if (seen++ < offset) continue;
    pageNode.push(node[i] as number);
    pageRow.push(row[i] as number);
  }
  return { node: Uint32Array.from(pageNode), row: Uint32Array.from(pageRow) };
}

/** One output field's column for the page, gathered from each node's column. */
export function gatherPage(perNode: readonly NodeQueryResult[], fieldId: number, page: Page): Column {
  const columnOf = (n: number): Column => {
    const c = perNode[n]?.fields.find((f) => f.fieldId === fieldId)?.column;
    if (c === undefined)
      throw new StrataError("ServiceInternal", `query node returned no column for field ${fieldId}`);
    return c;
  };
  if (perNode.length === 1) return gather(columnOf(0), page.row);
  // Per node, its rows in page order; then the parts concatenated and put back in page order.
  const parts: Column[] = [];
  const position = new Uint32Array(page.row.length);
  let at = 0;
  for (let n = 0; n < perNode.length; n++) {
    const rows: number[] = [];
    for (let i = 0; i < page.row.length; i++) {
      if (page.node[i] !== n) continue;
      rows.push(page.row[i] as number);
      position[i] = at++;
    }
    if (rows.length > 0) parts.push(gather(columnOf(n), Uint32Array.from(rows)));
  }
  if (parts.length === 0) return gather(columnOf(0), new Uint32Array(0));
  return gather(concatColumns(parts), position);
}

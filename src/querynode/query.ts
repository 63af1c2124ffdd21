import { StrataError } from "../common/errors.ts";
import { DataType } from "../common/types.ts";
import { countPassing } from "../index/index.ts";
import type { CollectionState } from "./collection.ts";
import type { FilterCache } from "./filter-cache.ts";
import { filterLookup, gatherFields, gatherPks, selectRows } from "./read.ts";
import type { SegmentSnapshot } from "./segment.ts";
import type { NodeQueryRequest, NodeQueryResult } from "./types.ts";

type Key = bigint | string;

/** Matching rows of every segment, as parallel arrays (one entry per matching row). */
interface Matches {
  readonly keys: BigInt64Array | string[];
  readonly target: Uint32Array;
  readonly row: Uint32Array;
}

function collect(
  c: CollectionState,
  snaps: readonly SegmentSnapshot[],
  req: NodeQueryRequest,
  filters: FilterCache | undefined,
): Matches {
  const lookup = filters === undefined ? undefined : filterLookup(filters, req.filter);
  const selections = snaps.map((s) => selectRows(s, req.readTs, req.filter, lookup));
  const bitsets = selections.map((s) => s.bits);
  let total = 0;
  for (const s of selections) total += s.passing ?? countPassing(s.bits);
  const target = new Uint32Array(total);
  const row = new Uint32Array(total);
  const isInt = c.pkType === DataType.Int64;
  const keys: BigInt64Array | string[] = isInt ? new BigInt64Array(total) : new Array<string>(total);
  let at = 0;
  for (let t = 0; t < snaps.length; t++) {
    const b = bitsets[t] as Uint8Array;
    const pks = (snaps[t] as SegmentSnapshot).pks;
    for (let i = 0; i < b.length; i++) {
      if (b[i] === 0) continue;
      target[at] = t;
      row[at] = i;
      keys[at] = pks[i] as Key as never;
      at++;
    }
  }
  return { keys, target, row };
}

/** Sorted copy of the keys (native typed-array sort for Int64 keys, code-unit order for strings). */
function sortedKeys(keys: BigInt64Array | string[]): BigInt64Array | string[] {
  if (keys instanceof BigInt64Array) return keys.slice().sort();
  return keys.slice().sort();
}

/**
 * A filtered query over the snapshots: matching rows ordered by primary key, up to `limit`, one
 * row per key (when a key matches in several rows, the one written last wins), with output
 * fields; or only the number of distinct matching keys.
 */
export function runQuery(
  c: CollectionState,
  snaps: readonly SegmentSnapshot[],
  req: NodeQueryRequest,
  filters?: FilterCache,
): NodeQueryResult {
  const limit = req.limit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new StrataError("ParameterInvalid", `limit must be a non-negative integer, got ${String(limit)}`);
  }
  const m = collect(c, snaps, req, filters);
  const sorted = sortedKeys(m.keys);
  let distinct = 0;
  let cut: Key | undefined;
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0 && sorted[i] === sorted[i - 1]) continue;
    distinct++;
    if (limit !== undefined && distinct === limit) cut = sorted[i] as Key;
  }
  const emptyPks = c.pkType === DataType.Int64 ? new BigInt64Array(0) : [];
  if (req.countOnly) return { count: distinct, pks: emptyPks, fields: [] };
  if (limit === 0) return { count: 0, pks: emptyPks, fields: [] };
  // Only rows at or below the limit-th distinct key can be returned: sort just those.
  const pick: number[] = [];
  for (let i = 0; i < m.keys.length; i++) {
    if (cut === undefined || (m.keys[i] as Key) <= cut) pick.push(i);
  }
  const tsOf = (i: number): bigint =>
    (snaps[m.target[i] as number] as SegmentSnapshot).timestamps[m.row[i] as number] as bigint;
  pick.sort((a, b) => {
    const ka = m.keys[a] as Key;
    const kb = m.keys[b] as Key;
    if (ka !== kb) return ka < kb ? -1 : 1;
    const ta = tsOf(a);
    const tb = tsOf(b);
    return ta === tb ? 0 : ta > tb ? -1 : 1;
  });
  const chosen: number[] = [];
  for (let j = 0; j < pick.length; j++) {
    const i = pick[j] as number;
    if (j > 0 && m.keys[pick[j - 1] as number] === m.keys[i]) continue;
    chosen.push(i);
  }
  const refs = {
    target: Uint32Array.from(chosen, (i) => m.target[i] as number),
    row: Uint32Array.from(chosen, (i) => m.row[i] as number),
  };
  return {
    count: chosen.length,
    pks: gatherPks(snaps, refs, c.pkType),
    fields: gatherFields(c, snaps, refs, req.outputFieldIds),
  };
}

/**
 * Segment rebalancing: when rows per query node are uneven (a node joined, or came back empty),
 * sealed segments move from the fullest node to the emptiest. A move never leaves a gap: the
 * target loads the segment first, the placement then switches in one step, and the source frees
 * its copy only after in-flight reads had time to finish.
 */
import type { LoadedCollection } from "./collections.ts";
import { PartitionState } from "./types.ts";

export interface Move {
  readonly collectionId: bigint;
  readonly dbId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly from: number;
  readonly to: number;
  /** The placement's token when planned: the switch happens only if it is unchanged. */
  readonly token: number;
}

/** A collection takes part only when fully loaded and quiet (nothing placed, loading or failing). */
function settled(c: LoadedCollection): boolean {
  for (const p of c.partitions.values()) if (p.state !== PartitionState.IN_MEMORY) return false;
  for (const ch of c.channels.values()) if (!ch.ready || ch.inflight) return false;
  for (const s of c.segments.values()) if (!s.ready || s.inflight || s.nodeId === null) return false;
  return true;
}

/**
 * Up to `maxMoves` moves that even out sealed rows over `nodes` (the healthy nodes that may take
 * work). Greedy: the emptiest node takes, from the fullest node that can give one, the segment
 * whose rows come closest to half their gap; a move is planned only when it narrows that gap, and
 * a segment moves at most once per round. Deterministic for a given placement.
 */
export function planMoves(
  collections: Iterable<LoadedCollection>,
  nodes: readonly number[],
  maxMoves: number,
): Move[] {
  if (nodes.length < 2) return [];
  const rows = new Map<number, number>(nodes.map((n) => [n, 0]));
  const candidates: {
    coll: LoadedCollection;
    segmentId: bigint;
    partitionId: bigint;
    nodeId: number;
    numRows: number;
    token: number;
  }[] = [];
  for (const c of collections) {
    const ok = settled(c);
    for (const s of c.segments.values()) {
      if (s.nodeId === null || !rows.has(s.nodeId)) continue;
      rows.set(s.nodeId, (rows.get(s.nodeId) ?? 0) + s.numRows);
      if (ok && s.numRows > 0)
        candidates.push({
          coll: c,
          segmentId: s.segmentId,
          partitionId: s.partitionId,
          nodeId: s.nodeId,
          numRows: s.numRows,
          token: s.token,
        });
    }
  }
  const moves: Move[] = [];
  const moved = new Set<bigint>();
  const byRows = (a: number, b: number) => (rows.get(a) ?? 0) - (rows.get(b) ?? 0) || a - b;
  while (moves.length < maxMoves) {
    const order = [...rows.keys()].sort(byRows);
    const min = order[0] as number;
    let planned = false;
    // The fullest node that can narrow its gap to the emptiest one gives a segment.
    for (const donor of order.slice(1).reverse()) {
      const gap = (rows.get(donor) ?? 0) - (rows.get(min) ?? 0);
      let best: (typeof candidates)[number] | undefined;
      for (const cand of candidates) {
        if (cand.nodeId !== donor || moved.has(cand.segmentId) || cand.numRows >= gap) continue;
        const d = Math.abs(cand.numRows - gap / 2);
        const bd = best === undefined ? Infinity : Math.abs(best.numRows - gap / 2);
        if (best === undefined || d < bd || (d === bd && cand.segmentId < best.segmentId)) best = cand;
      }
      if (best === undefined) continue;
      moved.add(best.segmentId);
      rows.set(donor, (rows.get(donor) ?? 0) - best.numRows);
      rows.set(min, (rows.get(min) ?? 0) + best.numRows);
      moves.push({
        collectionId: best.coll.collectionId,
        dbId: best.coll.dbId,
        partitionId: best.partitionId,
        segmentId: best.segmentId,
        from: donor,
        to: min,
        token: best.token,
      });
      planned = true;
      break;
    }
    if (!planned) break;
  }
  return moves;
}

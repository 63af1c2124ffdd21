/**
 * Where new work goes. Segments: the node holding the least memory, counting what it measured
 * plus the estimated size of segments placed on it and not loaded yet (so one placement pass does
 * not pile every segment on the node that was emptiest when it started). Channels: the node
 * following the fewest channels, then the least memory. Ties go to the lowest node ID; ABNORMAL
 * nodes get work only when no other node is registered.
 */
import { fresh, type LoadedCollection } from "./collections.ts";

export interface NodeLoad {
  readonly nodeId: number;
  readonly abnormal: boolean;
  /** Measured bytes + estimated bytes of placements not loaded yet. */
  memBytes: number;
  channels: number;
}

function eligible(loads: readonly NodeLoad[]): readonly NodeLoad[] {
  const fine = loads.filter((l) => !l.abnormal);
  return fine.length > 0 ? fine : loads;
}

/** Picks the node for a segment of `sizeBytes` and charges it; undefined without nodes. */
export function placeSegment(loads: readonly NodeLoad[], sizeBytes: number): NodeLoad | undefined {
  let best: NodeLoad | undefined;
  for (const l of eligible(loads)) {
    if (
      best === undefined ||
      l.memBytes < best.memBytes ||
      (l.memBytes === best.memBytes && l.nodeId < best.nodeId)
    ) {
      best = l;
    }
  }
  if (best !== undefined) best.memBytes += sizeBytes;
  return best;
}

/** Picks the node for a DML channel and charges it; undefined without nodes. */
export function placeChannel(loads: readonly NodeLoad[]): NodeLoad | undefined {
  let best: NodeLoad | undefined;
  for (const l of eligible(loads)) {
    if (
      best === undefined ||
      l.channels < best.channels ||
      (l.channels === best.channels &&
        (l.memBytes < best.memBytes || (l.memBytes === best.memBytes && l.nodeId < best.nodeId)))
    ) {
      best = l;
    }
  }
  if (best !== undefined) best.channels += 1;
  return best;
}

export interface PlacementContext {
  /** Registered nodes that may take work (a node on its way out is left out). */
  readonly live: ReadonlySet<number>;
  /** The live nodes with what they measure now (called only when something needs a node). */
  readonly measure: () => NodeLoad[];
  /** Every other loaded collection (their placements count toward the nodes' loads). */
  readonly others: Iterable<LoadedCollection>;
  readonly nextToken: () => number;
}

/** Measured memory plus the estimated bytes of placed, not yet loaded segments; channels followed. */
function nodeLoads(ctx: PlacementContext, draft: LoadedCollection): NodeLoad[] {
  const loads = new Map(ctx.measure().map((l) => [l.nodeId, { ...l }]));
  for (const c of [...ctx.others, draft]) {
    for (const ch of c.channels.values()) {
      const l = ch.nodeId === null ? undefined : loads.get(ch.nodeId);
      if (l !== undefined) l.channels += 1;
    }
    for (const s of c.segments.values()) {
      const l = s.nodeId === null ? undefined : loads.get(s.nodeId);
      if (l !== undefined && !s.ready) l.memBytes += s.sizeBytes;
    }
  }
  return [...loads.values()];
}

/**
 * Places every channel and segment of `draft` that has no live node (channels by name, segments
 * by ID, so the outcome is deterministic). With no live node they are left without one. Returns
 * whether any placement changed.
 */
export function assignOrphans(draft: LoadedCollection, ctx: PlacementContext): boolean {
  const orphan = (id: number | null): boolean => id === null || !ctx.live.has(id);
  const channels = [...draft.channels.values()]
    .filter((c) => orphan(c.nodeId))
    .sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
  const segments = [...draft.segments.values()]
    .filter((s) => orphan(s.nodeId))
    .sort((a, b) => (a.segmentId < b.segmentId ? -1 : a.segmentId > b.segmentId ? 1 : 0));
  if (channels.length === 0 && segments.length === 0) return false;
  const unhooked = channels.some((c) => c.nodeId !== null) || segments.some((s) => s.nodeId !== null);
  for (const p of [...channels, ...segments])
    if (p.nodeId !== null) Object.assign(p, fresh(null, ctx.nextToken()));
  const loads = nodeLoads(ctx, draft);
  if (loads.length === 0) return unhooked;
  for (const c of channels) {
    const l = placeChannel(loads);
    if (l !== undefined) Object.assign(c, fresh(l.nodeId, ctx.nextToken()));
  }
  // A channel on a new node replays from its checkpoint and skips segments FLUSHED by then:
  // a fresh listing must confirm that every such segment is placed before IN_MEMORY.
  if (channels.length > 0) for (const p of draft.partitions.values()) p.caughtUp = false;
  for (const s of segments) {
    const l = placeSegment(loads, s.sizeBytes);
    if (l !== undefined) Object.assign(s, fresh(l.nodeId, ctx.nextToken()));
  }
  return true;
}

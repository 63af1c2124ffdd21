import { isStrataError } from "../common/errors.ts";
import { type DataService, SegmentState } from "../dataservice/types.ts";
import { type ReleaseCall, releaseSegmentsCall } from "./calls.ts";
import { fresh, type LoadedCollection } from "./collections.ts";

export type SegmentSource = Pick<DataService, "showSegments" | "getSegmentStates" | "getSegmentInfo">;

export interface ListingResult {
  /** The placement changed (segments added or removed). */
  readonly changed: boolean;
  /** Segments removed because the dataservice reports them DROPPED (or no longer knows them). */
  readonly dropped: readonly bigint[];
  /** Frees the removed segments on the nodes that held them. */
  readonly releases: readonly ReleaseCall[];
}

/**
 * Lists one partition's segments into `draft`: FLUSHED ones not placed yet are added (without a
 * node, sized by their binlogs), placed ones the dataservice reports DROPPED or NOT_EXIST are
 * removed. Segments in other states are left to the channel's growing copy.
 */
export async function listPartition(
  ds: SegmentSource,
  draft: LoadedCollection,
  partitionId: bigint,
  nextToken: () => number,
): Promise<ListingResult> {
  const { segmentIds } = await ds.showSegments({ collectionId: draft.collectionId, partitionId });
  const listed = new Set(segmentIds);
  let changed = false;
  for (const id of segmentIds) {
    if (draft.segments.has(id)) continue;
    const st = await ds.getSegmentStates({ segmentId: id });
    if (st.state !== SegmentState.FLUSHED) continue;
    let sizeBytes = 0;
    let numRows: number;
    try {
      const info = await ds.getSegmentInfo(id);
      for (const f of info.binlogs) for (const b of f.binlogs) sizeBytes += b.size;
      numRows = info.numRows;
    } catch (e) {
      if (!isStrataError(e, "SegmentNotFound")) throw e;
      continue;
    }
    draft.segments.set(id, { segmentId: id, partitionId, sizeBytes, numRows, ...fresh(null, nextToken()) });
    changed = true;
  }
  const dropped: bigint[] = [];
  const releases: ReleaseCall[] = [];
  for (const s of [...draft.segments.values()]) {
    if (s.partitionId !== partitionId || listed.has(s.segmentId)) continue;
    const st = await ds.getSegmentStates({ segmentId: s.segmentId });
    if (st.state !== SegmentState.DROPPED && st.state !== SegmentState.NOT_EXIST) continue;
    draft.segments.delete(s.segmentId);
    changed = true;
    dropped.push(s.segmentId);
    if (s.nodeId !== null) {
      releases.push(
        releaseSegmentsCall(s.nodeId, draft.dbId, draft.collectionId, partitionId, [s.segmentId]),
      );
    }
  }
  return { changed, dropped, releases };
}

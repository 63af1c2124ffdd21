import { StrataError } from "../common/errors.ts";
import { type ChannelRecord, mergeFieldBinlogs, type SegmentRecord, transition } from "./records.ts";
import { type SaveBinlogPathsRequest, SegmentState } from "./types.ts";
import { allPaths } from "./validate.ts";

function reject(segmentId: bigint, why: string): never {
  throw new StrataError("ParameterInvalid", `saveBinlogPaths for segment ${segmentId}: ${why}`);
}

/**
 * The only new write a FLUSHED segment takes: delete records (at least one delta log) with the
 * position they were consumed up to, strictly past the committed one (the deletes in it all have a
 * seq above the committed position and are synced at a later tick, so an equal position can only
 * carry deletes the segment already has), and nothing that would change its rows or its state.
 */
function checkDeltaOnly(seg: SegmentRecord, req: SaveBinlogPathsRequest): void {
  const id = seg.segmentId;
  const why = (what: string): never =>
    reject(id, `the segment is FLUSHED and takes only delta-log saves, but ${what}`);
  if (req.flushed) why("flushed=true");
  if (req.fieldBinlogs.length > 0) why("the request has field binlogs");
  if (req.statslogs.length > 0) why("the request has stats logs");
  if (req.deltalogs.length === 0) why("the request has no delta log");
  if (req.persistedRows !== seg.persistedRows) {
    why(`persistedRows ${req.persistedRows} differs from the final ${seg.persistedRows}`);
  }
  if (req.persistedSeq <= seg.persistedSeq) {
    why(`persistedSeq ${req.persistedSeq} does not pass the committed ${seg.persistedSeq}`);
  }
}

/**
 * What one sync commits: the segment with the new files, position and (for the final sync) state,
 * and the channel with its checkpoint moved forward. Undefined when the request was already
 * committed (a retry): files, position, state and checkpoint went in together, so a request whose
 * files are all present and that moves nothing forward changes nothing and succeeds, whoever owns
 * the channel now.
 *
 * A FLUSHED segment still takes deletes of its rows that arrived after its flush (as Milvus keeps
 * delta logs of flushed segments): without them such a row would come back from the binlogs once
 * the channel checkpoint passed the delete. Only that is accepted there (see `checkDeltaOnly`); its
 * rows, stats and state are final.
 * @throws StrataError ParameterInvalid for a DROPPED segment, anything but a delta-only save on a
 *   FLUSHED one, a node that does not own the channel, flushed=true on a segment not FLUSHING, a
 *   position or row count going backwards, or a request naming another collection/partition/channel
 *   than the segment's.
 */
export function planSave(
  seg: SegmentRecord,
  chan: ChannelRecord | undefined,
  req: SaveBinlogPathsRequest,
  paths: ReadonlySet<string>,
): { seg: SegmentRecord; chan: ChannelRecord | undefined } | undefined {
  const id = seg.segmentId;
  if (
    seg.collectionId !== req.collectionId ||
    seg.partitionId !== req.partitionId ||
    seg.channel !== req.channel
  ) {
    reject(
      id,
      `the segment belongs to collection ${seg.collectionId}, partition ${seg.partitionId}, channel ` +
        `${seg.channel}; the request names ${req.collectionId}/${req.partitionId}/${req.channel}`,
    );
  }
  const have = allPaths(seg);
  let fresh = 0;
  for (const p of paths) if (!have.has(p)) fresh++;
  const checkpointAhead = chan !== undefined && req.checkpoint.seq > chan.checkpoint.seq;
  if (
    fresh === 0 &&
    !checkpointAhead &&
    req.persistedSeq <= seg.persistedSeq &&
    req.persistedRows <= seg.persistedRows &&
    (!req.flushed || seg.state === SegmentState.FLUSHED)
  ) {
    return undefined;
  }
  if (seg.state === SegmentState.DROPPED) reject(id, "the segment is DROPPED");
  if (seg.state === SegmentState.FLUSHED) checkDeltaOnly(seg, req);
  if (chan === undefined) reject(id, `channel ${req.channel} is not watched`);
  if (chan.nodeId !== req.nodeId) {
    reject(id, `node ${req.nodeId} does not own channel ${req.channel} (owner: ${chan.nodeId ?? "none"})`);
  }
  if (req.flushed && seg.state !== SegmentState.FLUSHING)
    reject(id, "flushed=true but the segment is not FLUSHING");
  if (req.persistedSeq < seg.persistedSeq) {
    reject(id, `persistedSeq ${req.persistedSeq} is behind the committed ${seg.persistedSeq}`);
  }
  if (req.persistedRows < seg.persistedRows) {
    reject(id, `persistedRows ${req.persistedRows} is below the committed ${seg.persistedRows}`);
  }
  let next: SegmentRecord = {
    ...seg,
    binlogs: mergeFieldBinlogs(seg.binlogs, req.fieldBinlogs, have),
    statslogs: mergeFieldBinlogs(seg.statslogs, req.statslogs, have),
    deltalogs: [...seg.deltalogs, ...req.deltalogs.filter((b) => !have.has(b.path))],
    persistedRows: req.persistedRows,
    persistedSeq: req.persistedSeq,
    numRows: Math.max(seg.numRows, req.persistedRows),
  };
  if (req.flushed) {
    next = transition(next, SegmentState.FLUSHED, { numRows: req.persistedRows, allocations: [] });
  }
  return { seg: next, chan: checkpointAhead ? { ...chan, checkpoint: req.checkpoint } : undefined };
}

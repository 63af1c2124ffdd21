import type { Column } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { type DataService, type SegmentInfo, SegmentState } from "../dataservice/types.ts";
import type { CollectionState } from "./collection.ts";
import type { FieldDesc } from "./columns.ts";
import { DmChannel } from "./dm-channel.ts";
import { type DeltaFile, type LoadEnv, readDeltalogs, readSegmentFiles } from "./loader.ts";
import type { Replica } from "./replica.ts";
import { SealedSegment, type Segment } from "./segment.ts";
import type { LoadSegmentRequest } from "./types.ts";

/** What loading needs besides the replica. */
export interface LoadIo {
  readonly env: LoadEnv;
  readonly dataservice: Pick<DataService, "getVChannelInfo" | "getSegmentInfo">;
  readonly retry: <T>(fn: () => Promise<T>, what: string) => Promise<T>;
  /** @throws StrataError Closed once the node is closing. */
  readonly checkOpen: () => void;
}

function applyDeltas(seg: Segment, deltas: readonly DeltaFile[], applied?: Set<string>): void {
  for (const d of deltas) {
    for (let i = 0; i < d.pks.length; i++)
      seg.applyDelete(d.pks[i] as bigint | string, d.timestamps[i] as bigint);
    applied?.add(d.path);
  }
}

/**
 * Starts following a DML channel from the checkpoint the dataservice reports. Segments already
 * FLUSHED are skipped (their sealed copies serve them); rows and deletes of other segments that
 * were persisted before the checkpoint come from their binlogs. Sealed copies of the channel loaded
 * earlier are caught up with the delta logs written since their load, so together with the
 * channel's delete buffer (which starts at the checkpoint) they miss no delete.
 */
export async function watchChannel(replica: Replica, io: LoadIo, name: string): Promise<DmChannel> {
  const vinfo = await io.retry(() => io.dataservice.getVChannelInfo(name), "getVChannelInfo");
  const coll = await replica.collection(vinfo.collectionId);
  io.checkOpen();
  const ch = new DmChannel(replica, name, coll, vinfo.checkpoint.seq);
  for (const s of vinfo.segments) {
    if (s.state === SegmentState.FLUSHED) {
      ch.skip.add(s.segmentId);
      continue;
    }
    if (s.persistedSeq > 0) ch.persistedSeq.set(s.segmentId, s.persistedSeq);
    if (s.persistedRows === 0 && s.deltalogs.length === 0) continue;
    const files = await readSegmentFiles(io.env, s, coll.fields, coll.pkField.fieldId);
    const g = ch.growingSegment(s.segmentId, s.partitionId);
    g.append(
      files.rowIds,
      files.timestamps,
      coll.fields.map((f) => ({ fieldId: f.fieldId, column: files.columns.get(f.fieldId) as Column })),
    );
    applyDeltas(g, files.deltas);
  }
  io.checkOpen();
  replica.channels.set(name, ch);
  replica.tsafe.add(name);
  replica.bumpEpoch();
  try {
    for (const s of vinfo.segments) {
      const seg = replica.sealed.get(s.segmentId);
      if (seg === undefined || seg.meta.channel !== name) continue;
      applyDeltas(seg, await readDeltalogs(io.env, s, seg.appliedDeltalogs), seg.appliedDeltalogs);
    }
    io.checkOpen();
    await ch.start(vinfo.checkpoint.seq);
  } catch (e) {
    replica.channels.delete(name);
    replica.tsafe.remove(name, new StrataError("ChannelNotFound", `channel ${name} failed to start`));
    await ch.close();
    throw e;
  }
  return ch;
}

/** A sealed segment read from storage, not yet visible to requests. */
interface Prepared {
  readonly seg: SealedSegment;
  /** The replica's delete epoch when the segment's delta logs were last listed. */
  epoch: number;
}

async function prepare(
  replica: Replica,
  io: LoadIo,
  req: LoadSegmentRequest,
  coll: CollectionState,
  fields: readonly FieldDesc[],
  id: bigint,
): Promise<Prepared> {
  const epoch = replica.epoch;
  const info: SegmentInfo = await io.retry(() => io.dataservice.getSegmentInfo(id), "getSegmentInfo");
  if (info.collectionId !== req.collectionId || info.partitionId !== req.partitionId) {
    throw new StrataError(
      "ParameterInvalid",
      `segment ${id} belongs to collection ${info.collectionId} partition ${info.partitionId}, not ${req.collectionId}/${req.partitionId}`,
    );
  }
  if (info.state !== SegmentState.FLUSHED) {
    throw new StrataError(
      "ParameterInvalid",
      `segment ${id} is not flushed (state ${info.state}); only flushed segments can be loaded`,
    );
  }
  const files = await readSegmentFiles(io.env, info, fields, coll.pkField.fieldId);
  const seg = new SealedSegment(
    { segmentId: id, collectionId: info.collectionId, partitionId: info.partitionId, channel: info.channel },
    coll.pkField.fieldId,
    {
      rowIds: files.rowIds,
      timestamps: files.timestamps,
      columns: files.columns,
      stats: files.stats,
      persistedSeq: info.persistedSeq,
    },
  );
  applyDeltas(seg, files.deltas, seg.appliedDeltalogs);
  return { seg, epoch };
}

/**
 * Loads sealed segments all or nothing: every one is read and checked (binlogs, stats logs, delta
 * logs) before any becomes visible. A segment whose delta logs were listed before its channel's
 * delete buffer last started or dropped records lists them again, then the buffer is applied and
 * the segment replaces its growing copy in one synchronous step.
 */
export async function loadSealed(
  replica: Replica,
  io: LoadIo,
  req: LoadSegmentRequest,
  coll: CollectionState,
  fields: readonly FieldDesc[],
  ids: readonly bigint[],
): Promise<void> {
  const prepared: Prepared[] = [];
  for (const id of ids) prepared.push(await prepare(replica, io, req, coll, fields, id));
  for (;;) {
    const stale = prepared.filter(
      (p) => p.epoch !== replica.epoch && replica.channels.has(p.seg.meta.channel),
    );
    if (stale.length === 0) break;
    for (const p of stale) {
      p.epoch = replica.epoch;
      const info = await io.retry(
        () => io.dataservice.getSegmentInfo(p.seg.meta.segmentId),
        "getSegmentInfo",
      );
      applyDeltas(p.seg, await readDeltalogs(io.env, info, p.seg.appliedDeltalogs), p.seg.appliedDeltalogs);
    }
  }
  io.checkOpen();
  for (const { seg } of prepared) replica.addSealed(seg);
}

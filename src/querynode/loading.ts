import type { Column } from "../common/column.ts";
import { isStrataError, StrataError } from "../common/errors.ts";
import {
  type DataService,
  type SegmentIndexFile,
  type SegmentInfo,
  SegmentState,
} from "../dataservice/types.ts";
import type { CollectionState } from "./collection.ts";
import type { FieldDesc } from "./columns.ts";
import { DmChannel } from "./dm-channel.ts";
import { type IndexFileIo, openSegmentIndex } from "./index-files.ts";
import { type DeltaFile, type LoadEnv, readDeltalogs, readFieldColumn, readSegmentFiles } from "./loader.ts";
import type { Replica } from "./replica.ts";
import { SealedSegment, type Segment, type SegmentVectorIndex } from "./segment.ts";
import type { LoadSegmentRequest } from "./types.ts";

/** What loading needs besides the replica. */
export interface LoadIo {
  readonly env: LoadEnv;
  readonly dataservice: Pick<
    DataService,
    "getVChannelInfo" | "getSegmentInfo" | "getSegmentIndexes" | "reportIndexFault"
  >;
  readonly indexFiles: IndexFileIo;
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
  const indexed = await openIndexes(io, info, fields);
  const rawFields = fields.filter((f) => !indexed.has(f.fieldId));
  const files = await readSegmentFiles(io.env, info, rawFields, coll.pkField.fieldId);
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
  seg.rawLoader = rawLoader(io, info, fields);
  for (const [fieldId, x] of indexed) seg.attachIndex(fieldId, x, false);
  return { seg, epoch };
}

function rawLoader(io: LoadIo, info: SegmentInfo, fields: readonly FieldDesc[]) {
  return (fieldId: number): Promise<Column> => {
    const d = fields.find((f) => f.fieldId === fieldId);
    if (d === undefined) {
      return Promise.reject(new StrataError("ParameterInvalid", `field ${fieldId} is not loaded`));
    }
    return readFieldColumn(io.env, info, d);
  };
}

/**
 * Opens one built index of a sealed segment. A file that fails its checks is reported to the
 * dataservice (which builds it again) and undefined is returned: the segment is then served from
 * its raw vectors by a scan, never from a damaged index.
 */
export async function openIndexOrReport(
  io: LoadIo,
  f: SegmentIndexFile,
): Promise<SegmentVectorIndex | undefined> {
  try {
    return await openSegmentIndex(io.indexFiles, f);
  } catch (e) {
    io.checkOpen();
    const reason = e instanceof Error ? e.message : String(e);
    io.env.logger.error(
      { err: e, segmentId: String(f.segmentId), buildId: String(f.buildId), fileKey: f.fileKey },
      "segment index unusable; the segment is served by an exact scan",
    );
    if (isStrataError(e, "Corrupted")) {
      await io.dataservice.reportIndexFault(f.buildId, f.fileKey, reason).catch(() => undefined);
    }
    return undefined;
  }
}

async function openIndexes(
  io: LoadIo,
  info: SegmentInfo,
  fields: readonly FieldDesc[],
): Promise<Map<number, SegmentVectorIndex>> {
  const out = new Map<number, SegmentVectorIndex>();
  const files = await io.retry(() => io.dataservice.getSegmentIndexes([info.segmentId]), "getSegmentIndexes");
  for (const f of files) {
    if (f.segmentId !== info.segmentId || !fields.some((d) => d.fieldId === f.fieldId)) continue;
    const x = await openIndexOrReport(io, f);
    if (x !== undefined) out.set(f.fieldId, x);
  }
  return out;
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
  try {
    await prepareAll(replica, io, req, coll, fields, ids, prepared);
  } catch (e) {
    for (const p of prepared) p.seg.dispose();
    throw e;
  }
  for (const { seg } of prepared) replica.addSealed(seg);
}

async function prepareAll(
  replica: Replica,
  io: LoadIo,
  req: LoadSegmentRequest,
  coll: CollectionState,
  fields: readonly FieldDesc[],
  ids: readonly bigint[],
  prepared: Prepared[],
): Promise<void> {
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
}

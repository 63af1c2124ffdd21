/**
 * Reads back everything a collection persisted: every segment's binlogs, field by field, and its
 * delta logs. The oracle side of the write-path tests.
 */
import type { Column } from "../../src/common/column.ts";
import type { DataService } from "../../src/dataservice/types.ts";
import { SegmentState } from "../../src/dataservice/types.ts";
import type { ObjectStore } from "../../src/objectstore/types.ts";
import type { CollectionInfo } from "../../src/rootcoord/types.ts";
import { decodeBinlog, decodeDeltalog } from "../../src/storage/index.ts";

export interface PersistedSegment {
  readonly segmentId: bigint;
  readonly partitionId: bigint;
  readonly state: number;
  readonly rowCount: number;
  /** Field ID → the segment's column (binlogs concatenated in order). */
  readonly columns: Map<number, Column[]>;
  readonly deletes: { pk: bigint | string; ts: bigint }[];
}

export async function readPersisted(
  info: CollectionInfo,
  ds: DataService,
  objects: ObjectStore,
): Promise<PersistedSegment[]> {
  const out: PersistedSegment[] = [];
  for (const p of info.partitions) {
    const { segmentIds } = await ds.showSegments({
      collectionId: info.collectionId,
      partitionId: p.partitionId,
    });
    for (const segmentId of segmentIds) {
      const seg = await ds.getSegmentInfo(segmentId);
      const columns = new Map<number, Column[]>();
      let rowCount = 0;
      for (const fb of seg.binlogs) {
        const parts: Column[] = [];
        let rows = 0;
        for (const b of fb.binlogs) {
          const { header, column } = decodeBinlog(await objects.get(b.path));
          if (header.fieldId !== fb.fieldId || header.segmentId !== segmentId) {
            throw new Error(`binlog ${b.path} header does not match its registry entry`);
          }
          if (header.rowCount !== b.entries)
            throw new Error(`binlog ${b.path} has ${header.rowCount} rows, registry says ${b.entries}`);
          rows += header.rowCount;
          parts.push(column);
        }
        if (fb.fieldId === 0) rowCount = rows;
        columns.set(fb.fieldId, parts);
      }
      const deletes: { pk: bigint | string; ts: bigint }[] = [];
      for (const d of seg.deltalogs) {
        const { rows } = decodeDeltalog(await objects.get(d.path));
        for (let i = 0; i < rows.timestamps.length; i++) {
          deletes.push({ pk: rows.pks.data[i] as bigint | string, ts: rows.timestamps[i] as bigint });
        }
      }
      out.push({ segmentId, partitionId: p.partitionId, state: seg.state, rowCount, columns, deletes });
    }
  }
  return out;
}

export function allFlushed(segs: readonly PersistedSegment[]): boolean {
  return segs.every((s) => s.state === SegmentState.FLUSHED);
}

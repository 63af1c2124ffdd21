import type { Column } from "../common/column.ts";
import type { Logger } from "../common/log.ts";
import { runLimited, withRetry } from "../common/retry.ts";
import type { CollectionSchema, FieldSchema } from "../common/schema.ts";
import { DataType } from "../common/types.ts";
import type { Binlog, FieldBinlogs } from "../dataservice/types.ts";
import type { ObjectStore } from "../objectstore/types.ts";
import type { RootCoord } from "../rootcoord/types.ts";
import { encodeBinlog, encodeDeltalog } from "../storage/index.ts";
import { deltaLogPath, insertLogPath, statsLogPath } from "../storage/paths.ts";
import { PkStats } from "../storage/pkstats.ts";
import type { DeleteBuffer, InsertBuffer } from "./segment-buffer.ts";

export interface SegmentFilesInput {
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly schema: CollectionSchema;
  readonly pkField: FieldSchema;
  readonly insert: InsertBuffer | undefined;
  readonly deletes: DeleteBuffer | undefined;
  readonly bloomFpr: number;
}

export interface SegmentFilesEnv {
  readonly objects: ObjectStore;
  readonly rootcoord: Pick<RootCoord, "allocID">;
  readonly maxFilesInFlight: number;
  readonly retryAttempts: number;
  readonly retryBaseMs: number;
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

export interface SegmentFiles {
  readonly rows: number;
  readonly fieldBinlogs: FieldBinlogs[];
  readonly statslogs: FieldBinlogs[];
  readonly deltalogs: Binlog[];
  /** PK statistics of the rows written (also in the stats log); undefined when no rows. */
  readonly stats: PkStats | undefined;
}

interface FieldDesc {
  readonly fieldId: number;
  readonly dataType: DataType;
  readonly dim?: number;
  readonly elementType?: DataType;
}

function describeFields(schema: CollectionSchema): FieldDesc[] {
  return [
    { fieldId: 0, dataType: DataType.Int64 },
    { fieldId: 1, dataType: DataType.Int64 },
    ...schema.fields.map((f) => ({
      fieldId: f.fieldId,
      dataType: f.dataType,
      ...(f.dim !== undefined ? { dim: f.dim } : {}),
      ...(f.elementType !== undefined ? { elementType: f.elementType } : {}),
    })),
  ];
}

/**
 * Encodes and stores one sync of one segment: a binlog per field (0 RowID, 1 Timestamp, each user
 * field), a stats log for the primary key, and a delta log when deletes are buffered. Log IDs come
 * from rootcoord in one allocation. Encoding runs on the main thread inside each put task, so at
 * most `maxFilesInFlight` encoded files are in memory at once; a large sync therefore blocks the
 * event loop for its encoding time (acceptable until sync moves to a worker).
 * Nothing is registered here: the caller commits the returned paths with `saveBinlogPaths`.
 */
export async function writeSegmentFiles(
  input: SegmentFilesInput,
  env: SegmentFilesEnv,
): Promise<SegmentFiles> {
  const ins = input.insert !== undefined && input.insert.rows > 0 ? input.insert : undefined;
  const del = input.deletes !== undefined && input.deletes.count > 0 ? input.deletes : undefined;
  const fields = describeFields(input.schema);
  const nFiles = (ins !== undefined ? fields.length + 1 : 0) + (del !== undefined ? 1 : 0);
  const out: SegmentFiles = {
    rows: ins?.rows ?? 0,
    fieldBinlogs: [],
    statslogs: [],
    deltalogs: [],
    stats: undefined,
  };
  if (nFiles === 0) return out;
  const retry = {
    attempts: env.retryAttempts,
    baseMs: env.retryBaseMs,
    signal: env.signal,
    logger: env.logger,
  };
  const ids = await withRetry(() => env.rootcoord.allocID(nFiles), { ...retry, what: "allocID" });
  let nextId = ids.start;
  const tasks: (() => Promise<void>)[] = [];
  const put = async (path: string, bytes: Uint8Array): Promise<void> => {
    await withRetry(() => env.objects.put(path, bytes), { ...retry, what: `put ${path}` });
  };
  const { collectionId: c, partitionId: p, segmentId: s } = input;
  let stats: PkStats | undefined;
  if (ins !== undefined) {
    const columns = ins.columns();
    const tsFrom = ins.tsFrom;
    const tsTo = ins.tsTo;
    for (const f of fields) {
      const path = insertLogPath(c, p, s, f.fieldId, nextId++);
      const binlogs: Binlog[] = [];
      out.fieldBinlogs.push({ fieldId: f.fieldId, binlogs });
      tasks.push(async () => {
        const bytes = encodeBinlog(
          {
            collectionId: c,
            partitionId: p,
            segmentId: s,
            fieldId: f.fieldId,
            dataType: f.dataType,
            ...(f.dim !== undefined ? { dim: f.dim } : {}),
            ...(f.elementType !== undefined ? { elementType: f.elementType } : {}),
            rowCount: ins.rows,
            timestampFrom: tsFrom,
            timestampTo: tsTo,
          },
          columns.get(f.fieldId) as Column,
        );
        await put(path, bytes);
        binlogs.push({
          path,
          entries: ins.rows,
          timestampFrom: tsFrom,
          timestampTo: tsTo,
          size: bytes.byteLength,
        });
      });
    }
    stats = PkStats.fromKeys(ins.pkColumn(), input.bloomFpr);
    const statsPath = statsLogPath(c, p, s, input.pkField.fieldId, nextId++);
    const statsBinlogs: Binlog[] = [];
    out.statslogs.push({ fieldId: input.pkField.fieldId, binlogs: statsBinlogs });
    const encodedStats = stats.encode();
    tasks.push(async () => {
      await put(statsPath, encodedStats);
      statsBinlogs.push({
        path: statsPath,
        entries: ins.rows,
        timestampFrom: tsFrom,
        timestampTo: tsTo,
        size: encodedStats.byteLength,
      });
    });
  }
  if (del !== undefined) {
    const path = deltaLogPath(c, p, s, nextId++);
    tasks.push(async () => {
      const bytes = encodeDeltalog(
        {
          collectionId: c,
          partitionId: p,
          segmentId: s,
          pkType: input.pkField.dataType as typeof DataType.Int64 | typeof DataType.VarChar,
          rowCount: del.count,
          timestampFrom: del.tsFrom,
          timestampTo: del.tsTo,
        },
        del.rows(),
      );
      await put(path, bytes);
      out.deltalogs.push({
        path,
        entries: del.count,
        timestampFrom: del.tsFrom,
        timestampTo: del.tsTo,
        size: bytes.byteLength,
      });
    });
  }
  await runLimited(tasks, env.maxFilesInFlight);
  return { ...out, stats };
}

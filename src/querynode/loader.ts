import type { Column } from "../common/column.ts";
import { columnLength } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { runLimited, withRetry } from "../common/retry.ts";
import type { CollectionSchema } from "../common/schema.ts";
import { DataType, ROW_ID_FIELD_ID, TIMESTAMP_FIELD_ID } from "../common/types.ts";
import type { Binlog, SegmentInfo } from "../dataservice/types.ts";
import type { ObjectStore } from "../objectstore/types.ts";
import { decodeBinlog, decodeDeltalog } from "../storage/index.ts";
import { PkStats } from "../storage/pkstats.ts";
import { checkColumn, concatColumns, type FieldDesc } from "./columns.ts";

export interface LoadEnv {
  readonly objects: ObjectStore;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly maxFilesInFlight: number;
  readonly retryAttempts: number;
  readonly retryBaseMs: number;
}

/** Deletes read from one delta log. */
export interface DeltaFile {
  readonly path: string;
  readonly pks: BigInt64Array | readonly string[];
  readonly timestamps: BigUint64Array;
}

/** What the binlogs, stats logs and delta logs of one segment hold, decoded and checked. */
export interface SegmentFiles {
  readonly rows: number;
  readonly rowIds: BigInt64Array;
  readonly timestamps: BigInt64Array;
  readonly columns: Map<number, Column>;
  readonly stats: PkStats[];
  readonly deltas: DeltaFile[];
}

export const SYSTEM_FIELDS: readonly FieldDesc[] = [
  { fieldId: ROW_ID_FIELD_ID, dataType: DataType.Int64 },
  { fieldId: TIMESTAMP_FIELD_ID, dataType: DataType.Int64 },
];

export function userFieldDescs(schema: CollectionSchema): FieldDesc[] {
  return schema.fields.map((f) => ({
    fieldId: f.fieldId,
    dataType: f.dataType,
    ...(f.dim === undefined ? {} : { dim: f.dim }),
    ...(f.elementType === undefined ? {} : { elementType: f.elementType }),
  }));
}

function corrupted(info: SegmentInfo, msg: string): StrataError {
  return new StrataError("Corrupted", `segment ${info.segmentId}: ${msg}`);
}

async function fetch(env: LoadEnv, path: string): Promise<Uint8Array> {
  return withRetry(() => env.objects.get(path), {
    attempts: env.retryAttempts,
    baseMs: env.retryBaseMs,
    signal: env.signal,
    logger: env.logger,
    what: `get ${path}`,
  });
}

async function readField(
  env: LoadEnv,
  info: SegmentInfo,
  d: FieldDesc,
  logs: readonly Binlog[],
): Promise<Column> {
  const parts = await runLimited(
    logs.map((b) => async () => {
      const { header, column } = decodeBinlog(await fetch(env, b.path));
      if (
        header.segmentId !== info.segmentId ||
        header.collectionId !== info.collectionId ||
        header.fieldId !== d.fieldId
      ) {
        throw corrupted(
          info,
          `binlog ${b.path} belongs to segment ${header.segmentId} field ${header.fieldId}, expected field ${d.fieldId}`,
        );
      }
      checkColumn(d, column, `binlog ${b.path}`);
      return column;
    }),
    env.maxFilesInFlight,
  );
  return concatColumns(d, parts);
}

/** One field's column of a segment, read from its binlogs (an indexed vector field read on demand). */
export async function readFieldColumn(env: LoadEnv, info: SegmentInfo, d: FieldDesc): Promise<Column> {
  const logs = info.binlogs.find((f) => f.fieldId === d.fieldId)?.binlogs ?? [];
  if (logs.length === 0 && info.persistedRows > 0) throw corrupted(info, `no binlog for field ${d.fieldId}`);
  const col = await readField(env, info, d, logs);
  if (columnLength(col) !== info.persistedRows) {
    throw corrupted(info, `field ${d.fieldId} has ${columnLength(col)} rows, expected ${info.persistedRows}`);
  }
  return col;
}

/**
 * Reads a segment's files: the binlogs of `fields` (the system fields 0 and 1 always), every
 * stats log of the primary key and every delta log not in `skipDeltalogs`. Multi-file fields are
 * concatenated once here. All fields must have the same row count.
 * @throws StrataError Corrupted (or IoUnexpectedEOF) for a damaged or inconsistent file,
 *   KeyNotFound for a missing one, IoFailed when the store keeps failing.
 */
export async function readSegmentFiles(
  env: LoadEnv,
  info: SegmentInfo,
  fields: readonly FieldDesc[],
  pkFieldId: number,
  skipDeltalogs: ReadonlySet<string> = new Set(),
): Promise<SegmentFiles> {
  const byField = new Map<number, readonly Binlog[]>();
  for (const fb of info.binlogs) byField.set(fb.fieldId, fb.binlogs);
  const all = [
    ...SYSTEM_FIELDS,
    ...fields.filter((f) => f.fieldId !== ROW_ID_FIELD_ID && f.fieldId !== TIMESTAMP_FIELD_ID),
  ];
  const columns = await runLimited(
    all.map((d) => async () => {
      const logs = byField.get(d.fieldId) ?? [];
      if (logs.length === 0 && info.persistedRows > 0)
        throw corrupted(info, `no binlog for field ${d.fieldId}`);
      return readField(env, info, d, logs);
    }),
    // Each field already reads its files in parallel.
    2,
  );
  const rows = columnLength(columns[0] as Column);
  for (let i = 0; i < all.length; i++) {
    const n = columnLength(columns[i] as Column);
    if (n !== rows) {
      throw corrupted(info, `field ${(all[i] as FieldDesc).fieldId} has ${n} rows, field 0 has ${rows}`);
    }
  }
  if (rows !== info.persistedRows) {
    throw corrupted(info, `binlogs hold ${rows} rows, the dataservice recorded ${info.persistedRows}`);
  }
  const statsLogs = info.statslogs.filter((f) => f.fieldId === pkFieldId).flatMap((f) => f.binlogs);
  const stats = await runLimited(
    statsLogs.map((b) => async () => PkStats.decode(await fetch(env, b.path))),
    env.maxFilesInFlight,
  );
  const deltas = await readDeltalogs(env, info, skipDeltalogs);
  const userColumns = new Map<number, Column>();
  for (let i = 2; i < all.length; i++) userColumns.set((all[i] as FieldDesc).fieldId, columns[i] as Column);
  return {
    rows,
    rowIds: (columns[0] as Column).data as BigInt64Array,
    timestamps: (columns[1] as Column).data as BigInt64Array,
    columns: userColumns,
    stats,
    deltas,
  };
}

/** Only the delta logs of a segment not in `skip` (a refresh after more deletes were persisted). */
export async function readDeltalogs(
  env: LoadEnv,
  info: SegmentInfo,
  skip: ReadonlySet<string>,
): Promise<DeltaFile[]> {
  return runLimited(
    info.deltalogs
      .filter((b) => !skip.has(b.path))
      .map((b) => async (): Promise<DeltaFile> => {
        const { header, rows } = decodeDeltalog(await fetch(env, b.path));
        if (header.segmentId !== info.segmentId) {
          throw corrupted(info, `delta log ${b.path} belongs to segment ${header.segmentId}`);
        }
        return { path: b.path, pks: rows.pks.data, timestamps: rows.timestamps };
      }),
    env.maxFilesInFlight,
  );
}

/**
 * Delta log: the deletes of one segment as rows of (primary key, delete timestamp), an Arrow IPC
 * file with two non-nullable fields `pk` (Int64 or Utf8) and `ts` (Uint64), framed and checksummed
 * like a binlog.
 */
import { Field, Uint64 } from "apache-arrow";
import type { Column } from "../common/column.ts";
import { DataType } from "../common/types.ts";
import { arrowType } from "./arrow-types.ts";
import { dataToColumn } from "./column-decode.ts";
import { checkArray, columnToData } from "./column-encode.ts";
import { CRC_KEY, FORMAT_KEY, openLog, VERSION_KEY, verifyLog, writeLog } from "./logfile.ts";
import {
  checkBigId,
  checkCount,
  corrupted,
  expectKeys,
  INT64_MAX,
  invalid,
  parseBig,
  parseCount,
  UINT64_MAX,
} from "./meta.ts";

export type PrimaryKeyType = typeof DataType.Int64 | typeof DataType.VarChar;

export type PrimaryKeys =
  | { readonly type: typeof DataType.Int64; readonly data: BigInt64Array }
  | { readonly type: typeof DataType.VarChar; readonly data: readonly string[] };

export interface DeltalogHeader {
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly pkType: PrimaryKeyType;
  readonly rowCount: number;
  /** Every row's timestamp lies in [timestampFrom, timestampTo]. */
  readonly timestampFrom: bigint;
  readonly timestampTo: bigint;
}

export interface DeltaRows {
  readonly pks: PrimaryKeys;
  /** Delete timestamps, one per primary key. */
  readonly timestamps: BigUint64Array;
}

export const DELTALOG_PK_FIELD = "pk";
export const DELTALOG_TS_FIELD = "ts";

const INT32_MAX = 0x7fffffff;

const K = {
  collectionId: "strata.collectionId",
  partitionId: "strata.partitionId",
  segmentId: "strata.segmentId",
  pkType: "strata.pkType",
  rowCount: "strata.rowCount",
  timestampFrom: "strata.timestampFrom",
  timestampTo: "strata.timestampTo",
} as const;

function checkHeader(h: DeltalogHeader): void {
  if (typeof h !== "object" || h === null) throw invalid("delta log header must be an object");
  checkBigId("collectionId", h.collectionId, INT64_MAX);
  checkBigId("partitionId", h.partitionId, INT64_MAX);
  checkBigId("segmentId", h.segmentId, INT64_MAX);
  checkCount("rowCount", h.rowCount, INT32_MAX);
  checkBigId("timestampFrom", h.timestampFrom, UINT64_MAX);
  checkBigId("timestampTo", h.timestampTo, UINT64_MAX);
  if (h.timestampFrom > h.timestampTo)
    throw invalid(`timestampFrom ${h.timestampFrom} > timestampTo ${h.timestampTo}`);
  if (h.pkType !== DataType.Int64 && h.pkType !== DataType.VarChar) {
    throw invalid(`primary key type must be Int64 or VarChar, got ${String(h.pkType)}`);
  }
}

function fields(pkType: PrimaryKeyType): Field[] {
  return [
    new Field(DELTALOG_PK_FIELD, arrowType({ dataType: pkType }), false),
    new Field(DELTALOG_TS_FIELD, new Uint64(), false),
  ];
}

/**
 * Encodes delete records.
 * @throws StrataError ParameterInvalid for a bad header, pks of another type than `pkType`, a
 *   length other than `rowCount`, or a timestamp outside [timestampFrom, timestampTo].
 */
export function encodeDeltalog(header: DeltalogHeader, rows: DeltaRows): Uint8Array {
  checkHeader(header);
  if (typeof rows !== "object" || rows === null || typeof rows.pks !== "object" || rows.pks === null) {
    throw invalid("delta rows must be { pks, timestamps }");
  }
  if (rows.pks.type !== header.pkType)
    throw invalid(`pk type ${String(rows.pks.type)} != header pkType ${header.pkType}`);
  checkArray("timestamps", rows.timestamps, BigUint64Array);
  const ts = rows.timestamps;
  if (rows.pks.data.length !== header.rowCount || ts.length !== header.rowCount) {
    throw invalid(
      `${rows.pks.data.length} pks and ${ts.length} timestamps, header says ${header.rowCount} rows`,
    );
  }
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i] ?? 0n;
    if (t < header.timestampFrom || t > header.timestampTo) {
      throw invalid(`timestamp ${t} of row ${i} is outside [${header.timestampFrom}, ${header.timestampTo}]`);
    }
  }
  const f = fields(header.pkType);
  const pkData = columnToData(
    rows.pks as Column,
    f[0]?.type ?? arrowType({ dataType: header.pkType }),
    "delta pks",
  );
  const tsData = columnToData(
    { type: DataType.Int64, data: new BigInt64Array(ts.buffer, ts.byteOffset, ts.length) },
    new Uint64(),
    "delta timestamps",
  );
  const meta = new Map<string, string>([
    [K.collectionId, header.collectionId.toString()],
    [K.partitionId, header.partitionId.toString()],
    [K.segmentId, header.segmentId.toString()],
    [K.pkType, String(header.pkType)],
    [K.rowCount, String(header.rowCount)],
    [K.timestampFrom, header.timestampFrom.toString()],
    [K.timestampTo, header.timestampTo.toString()],
  ]);
  return writeLog("deltalog", meta, f, [pkData, tsData], header.rowCount);
}

/**
 * Decodes a delta log. Int64 keys and timestamps are views on `bytes` (see `decodeBinlog`).
 * @throws StrataError IoUnexpectedEOF for a truncated file; Corrupted for any other damage.
 */
export function decodeDeltalog(bytes: Uint8Array): { header: DeltalogHeader; rows: DeltaRows } {
  const file = openLog(bytes, "deltalog");
  const meta = file.metadata;
  expectKeys(meta, [FORMAT_KEY, VERSION_KEY, CRC_KEY, ...Object.values(K)]);
  const pkType = parseCount(meta, K.pkType, 0xffff);
  if (pkType !== DataType.Int64 && pkType !== DataType.VarChar)
    throw corrupted(`deltalog: bad pk type ${pkType}`);
  const header: DeltalogHeader = {
    collectionId: parseBig(meta, K.collectionId, INT64_MAX),
    partitionId: parseBig(meta, K.partitionId, INT64_MAX),
    segmentId: parseBig(meta, K.segmentId, INT64_MAX),
    pkType,
    rowCount: parseCount(meta, K.rowCount, INT32_MAX),
    timestampFrom: parseBig(meta, K.timestampFrom, UINT64_MAX),
    timestampTo: parseBig(meta, K.timestampTo, UINT64_MAX),
  };
  if (header.timestampFrom > header.timestampTo) throw corrupted("deltalog: timestampFrom > timestampTo");
  verifyLog(file, "deltalog", fields(pkType), header.rowCount);
  const [pkData, tsData] = file.columns;
  if (pkData === undefined || tsData === undefined) throw corrupted("deltalog: columns missing");
  const pks = dataToColumn(pkData, { dataType: pkType });
  const tsView = dataToColumn(tsData, { dataType: DataType.Int64 });
  if ((pks.type !== DataType.Int64 && pks.type !== DataType.VarChar) || tsView.type !== DataType.Int64) {
    throw corrupted("deltalog: unexpected column types");
  }
  const t = tsView.data;
  return {
    header,
    rows: {
      pks: pks.type === DataType.Int64 ? pks : { type: DataType.VarChar, data: pks.data },
      timestamps: new BigUint64Array(t.buffer, t.byteOffset, t.length),
    },
  };
}

/**
 * Binlog: one column of one field of one segment, as an Arrow IPC file with a single non-nullable
 * field named `data` and the header in `strata.*` schema metadata. See README.md for the layout.
 */
import { Field } from "apache-arrow";
import type { Column } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { DataType, isArrayElementType, isDataType, isDenseVectorType } from "../common/types.ts";
import { arrowType, type ColumnDesc } from "./arrow-types.ts";
import { dataToColumn } from "./column-decode.ts";
import { columnToData } from "./column-encode.ts";
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

export interface BinlogHeader {
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly fieldId: number;
  readonly dataType: DataType;
  /** Dense vector types only (BinaryVector: a multiple of 8). */
  readonly dim?: number;
  /** Array only: the element type. */
  readonly elementType?: DataType;
  readonly rowCount: number;
  /** Smallest and largest row timestamp covered (hybrid timestamps, uint64). */
  readonly timestampFrom: bigint;
  readonly timestampTo: bigint;
}

export const BINLOG_FIELD_NAME = "data";

const INT32_MAX = 0x7fffffff;

const K = {
  collectionId: "strata.collectionId",
  partitionId: "strata.partitionId",
  segmentId: "strata.segmentId",
  fieldId: "strata.fieldId",
  dataType: "strata.dataType",
  dim: "strata.dim",
  elementType: "strata.elementType",
  rowCount: "strata.rowCount",
  timestampFrom: "strata.timestampFrom",
  timestampTo: "strata.timestampTo",
} as const;

/** Validates a header and returns its column descriptor. @throws StrataError ParameterInvalid */
function checkHeader(h: BinlogHeader): ColumnDesc {
  if (typeof h !== "object" || h === null) throw invalid("binlog header must be an object");
  checkBigId("collectionId", h.collectionId, INT64_MAX);
  checkBigId("partitionId", h.partitionId, INT64_MAX);
  checkBigId("segmentId", h.segmentId, INT64_MAX);
  checkCount("fieldId", h.fieldId);
  checkCount("rowCount", h.rowCount, INT32_MAX);
  checkBigId("timestampFrom", h.timestampFrom, UINT64_MAX);
  checkBigId("timestampTo", h.timestampTo, UINT64_MAX);
  if (h.timestampFrom > h.timestampTo)
    throw invalid(`timestampFrom ${h.timestampFrom} > timestampTo ${h.timestampTo}`);
  if (!isDataType(h.dataType)) throw invalid(`unsupported data type ${String(h.dataType)}`);
  if (isDenseVectorType(h.dataType)) {
    checkCount("dim", h.dim, INT32_MAX);
    if (h.dim === undefined || h.dim === 0 || (h.dataType === DataType.BinaryVector && h.dim % 8 !== 0)) {
      throw invalid(`dim ${String(h.dim)} is not valid for data type ${h.dataType}`);
    }
  } else if (h.dim !== undefined) {
    throw invalid(`dim is only for dense vectors, not data type ${h.dataType}`);
  }
  if (h.dataType === DataType.Array) {
    if (h.elementType === undefined || !isArrayElementType(h.elementType)) {
      throw invalid(`element type ${String(h.elementType)} is not valid for an Array`);
    }
  } else if (h.elementType !== undefined) {
    throw invalid(`elementType is only for Array, not data type ${h.dataType}`);
  }
  return {
    dataType: h.dataType,
    ...(h.dim !== undefined ? { dim: h.dim } : {}),
    ...(h.elementType !== undefined ? { elementType: h.elementType } : {}),
  };
}

function fieldFor(desc: ColumnDesc): Field {
  return new Field(BINLOG_FIELD_NAME, arrowType(desc), false);
}

/**
 * Encodes one column as a binlog file. The column must match the header: same data type, dim and
 * element type, `rowCount` rows. Fixed-width data is not copied before the final file assembly.
 * @throws StrataError ParameterInvalid for a bad header or a column that does not match it or is
 *   malformed; ParameterTooLarge when variable-length data exceeds 2^31-1 bytes/values.
 */
export function encodeBinlog(header: BinlogHeader, column: Column): Uint8Array {
  const desc = checkHeader(header);
  if (typeof column !== "object" || column === null || column.type !== header.dataType) {
    throw invalid(`column type ${String(column?.type)} does not match header data type ${header.dataType}`);
  }
  if ("dim" in column && column.dim !== header.dim)
    throw invalid(`column dim ${column.dim} != header dim ${header.dim}`);
  if (column.type === DataType.Array && column.elementType !== header.elementType) {
    throw invalid(`column element type ${column.elementType} != header element type ${header.elementType}`);
  }
  const field = fieldFor(desc);
  const data = columnToData(column, field.type, "binlog column");
  if (data.length !== header.rowCount)
    throw invalid(`column has ${data.length} rows, header says ${header.rowCount}`);
  const meta = new Map<string, string>([
    [K.collectionId, header.collectionId.toString()],
    [K.partitionId, header.partitionId.toString()],
    [K.segmentId, header.segmentId.toString()],
    [K.fieldId, String(header.fieldId)],
    [K.dataType, String(header.dataType)],
    [K.rowCount, String(header.rowCount)],
    [K.timestampFrom, header.timestampFrom.toString()],
    [K.timestampTo, header.timestampTo.toString()],
  ]);
  if (desc.dim !== undefined) meta.set(K.dim, String(desc.dim));
  if (desc.elementType !== undefined) meta.set(K.elementType, String(desc.elementType));
  return writeLog("binlog", meta, [field], [data], header.rowCount);
}

function parseHeader(meta: ReadonlyMap<string, string>): BinlogHeader {
  const dataType = parseCount(meta, K.dataType, 0xffff);
  const header: BinlogHeader = {
    collectionId: parseBig(meta, K.collectionId, INT64_MAX),
    partitionId: parseBig(meta, K.partitionId, INT64_MAX),
    segmentId: parseBig(meta, K.segmentId, INT64_MAX),
    fieldId: parseCount(meta, K.fieldId),
    dataType: dataType as DataType,
    ...(meta.has(K.dim) ? { dim: parseCount(meta, K.dim, INT32_MAX) } : {}),
    ...(meta.has(K.elementType) ? { elementType: parseCount(meta, K.elementType, 0xffff) as DataType } : {}),
    rowCount: parseCount(meta, K.rowCount, INT32_MAX),
    timestampFrom: parseBig(meta, K.timestampFrom, UINT64_MAX),
    timestampTo: parseBig(meta, K.timestampTo, UINT64_MAX),
  };
  const keys: string[] = [
    FORMAT_KEY,
    VERSION_KEY,
    CRC_KEY,
    K.collectionId,
    K.partitionId,
    K.segmentId,
    K.fieldId,
    K.dataType,
    K.rowCount,
    K.timestampFrom,
    K.timestampTo,
  ];
  if (header.dim !== undefined) keys.push(K.dim);
  if (header.elementType !== undefined) keys.push(K.elementType);
  expectKeys(meta, keys);
  return header;
}

/**
 * Decodes a binlog file. Fixed-width columns are views on `bytes` (zero-copy when `bytes` is 8-byte
 * aligned), so the caller must not modify `bytes` while it uses the column.
 * @throws StrataError IoUnexpectedEOF for a truncated file; Corrupted for any other damage, for a
 *   non-binlog file or an unknown format version. Never returns data that differs from what was
 *   encoded: the file checksum and the data checksum must both match.
 */
export function decodeBinlog(bytes: Uint8Array): { header: BinlogHeader; column: Column } {
  const file = openLog(bytes, "binlog");
  const header = parseHeader(file.metadata);
  let desc: ColumnDesc;
  try {
    desc = checkHeader(header);
  } catch (e) {
    if (e instanceof StrataError) throw corrupted(`binlog: invalid header: ${e.message}`, e);
    throw e;
  }
  verifyLog(file, "binlog", [fieldFor(desc)], header.rowCount);
  const data = file.columns[0];
  if (data === undefined) throw corrupted("binlog: no column");
  return { header, column: dataToColumn(data, desc) };
}

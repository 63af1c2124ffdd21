export { BINLOG_FIELD_NAME, type BinlogHeader, decodeBinlog, encodeBinlog } from "./binlog.ts";
export {
  DELTALOG_PK_FIELD,
  DELTALOG_TS_FIELD,
  type DeltalogHeader,
  type DeltaRows,
  decodeDeltalog,
  encodeDeltalog,
  type PrimaryKeys,
  type PrimaryKeyType,
} from "./deltalog.ts";
export { FORMAT_VERSION } from "./logfile.ts";
export {
  buildLogPath,
  DELTA_LOG,
  type DeltaLogPath,
  deltaLogPath,
  type FieldLogKind,
  type FieldLogPath,
  INSERT_LOG,
  insertLogPath,
  type LogPath,
  logPrefix,
  parseLogPath,
  type SegmentLogKind,
  STATS_LOG,
  statsLogPath,
} from "./paths.ts";

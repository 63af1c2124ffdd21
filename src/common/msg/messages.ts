import { Buffer } from "node:buffer";
import type { Column } from "../column.ts";
import { columnLength } from "../column.ts";
import { StrataError } from "../errors.ts";
import { gather } from "../gather.ts";
import type { Timestamp } from "../timestamp.ts";
import { DataType } from "../types.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import { encodeStrings, readColumn, writeColumn, writeColumnRows } from "./column-codec.ts";

/**
 * The messages carried by the log (DESIGN.md §4–§5): inserts and deletes on DML channels, time
 * ticks merged by rootcoord into every DML channel, and DDL announcements on the DD channel.
 * Each message is one log record; a message is the unit of atomicity on the log.
 */
export const MsgType = {
  Insert: 1,
  Delete: 2,
  TimeTick: 3,
  CreateCollection: 10,
  DropCollection: 11,
  CreatePartition: 12,
  DropPartition: 13,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

export interface FieldColumn {
  readonly fieldId: number;
  readonly column: Column;
}

/** Rows of one batch for one segment on one channel; every row has the batch's timestamp. */
export interface InsertMsg {
  readonly type: typeof MsgType.Insert;
  readonly timestamp: Timestamp;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly channel: string;
  readonly rowIds: BigInt64Array;
  /** User fields (primary key included), each with as many rows as `rowIds`. */
  readonly fields: readonly FieldColumn[];
}

/** Deletes every row with one of `pks` and a timestamp below `timestamp`. */
export interface DeleteMsg {
  readonly type: typeof MsgType.Delete;
  readonly timestamp: Timestamp;
  readonly collectionId: bigint;
  /** -1 = every partition. */
  readonly partitionId: bigint;
  readonly channel: string;
  readonly pks: BigInt64Array | readonly string[];
}

/** Everything with a timestamp ≤ `timestamp` is already in the channel before this record. */
export interface TimeTickMsg {
  readonly type: typeof MsgType.TimeTick;
  readonly timestamp: Timestamp;
}

export interface DdlMsg {
  readonly type:
    | typeof MsgType.CreateCollection
    | typeof MsgType.DropCollection
    | typeof MsgType.CreatePartition
    | typeof MsgType.DropPartition;
  readonly timestamp: Timestamp;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  /** JSON description of the change (e.g. the collection schema). */
  readonly body: string;
}

export type Msg = InsertMsg | DeleteMsg | TimeTickMsg | DdlMsg;

const MAGIC = 0x53;
const VERSION = 1;
const PK_INT64 = 5;
const PK_VARCHAR = 21;

function writeString(w: ByteWriter, s: string): void {
  const b = Buffer.from(s, "utf8");
  w.u32(b.byteLength);
  w.bytes(b);
}

function readString(r: ByteReader, what: string): string {
  const n = r.u32(what);
  const b = r.bytes(n, what);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8");
}

function writeHeader(w: ByteWriter, type: MsgType, ts: Timestamp): void {
  w.u8(MAGIC);
  w.u8(VERSION);
  w.u8(type);
  w.u8(0);
  w.u32(0);
  w.u64(ts);
}

/**
 * Encodes rows `rows` (in that order) of an insert as one log record: the same bytes as
 * `encodeMsg` of the gathered message, without the intermediate gathered copy.
 */
export function encodeInsertRows(m: InsertMsg, rows: Uint32Array): Uint8Array {
  const all = m.rowIds.length;
  for (let i = 0; i < rows.length; i++) {
    if ((rows[i] as number) >= all)
      throw new StrataError("ParameterInvalid", `row ${rows[i]} is past the ${all} rows`);
  }
  for (const f of m.fields) {
    if (columnLength(f.column) !== all) {
      throw new StrataError(
        "ParameterInvalid",
        `field ${f.fieldId} has ${columnLength(f.column)} rows, expected ${all}`,
      );
    }
  }
  const w = new ByteWriter();
  writeHeader(w, m.type, m.timestamp);
  w.i64(m.collectionId);
  w.i64(m.partitionId);
  w.i64(m.segmentId);
  w.u32(rows.length);
  w.u32(m.fields.length);
  writeString(w, m.channel);
  w.align(8);
  w.view(gather({ type: DataType.Int64, data: m.rowIds }, rows).data as BigInt64Array);
  for (const f of m.fields) {
    w.i32(f.fieldId);
    writeColumnRows(w, f.column, rows);
  }
  return w.finish();
}

/** Encodes a message as one log record. The result is 8-byte aligned internally. */
export function encodeMsg(m: Msg): Uint8Array {
  const w = new ByteWriter();
  writeHeader(w, m.type, m.timestamp);
  switch (m.type) {
    case MsgType.TimeTick:
      break;
    case MsgType.Insert: {
      const rows = m.rowIds.length;
      for (const f of m.fields) {
        if (columnLength(f.column) !== rows) {
          throw new StrataError(
            "ParameterInvalid",
            `field ${f.fieldId} has ${columnLength(f.column)} rows, expected ${rows}`,
          );
        }
      }
      w.i64(m.collectionId);
      w.i64(m.partitionId);
      w.i64(m.segmentId);
      w.u32(rows);
      w.u32(m.fields.length);
      writeString(w, m.channel);
      w.align(8);
      w.view(m.rowIds);
      for (const f of m.fields) {
        w.i32(f.fieldId);
        writeColumn(w, f.column);
      }
      break;
    }
    case MsgType.Delete: {
      w.i64(m.collectionId);
      w.i64(m.partitionId);
      writeString(w, m.channel);
      w.u32(m.pks.length);
      if (m.pks instanceof BigInt64Array) {
        w.u8(PK_INT64);
        w.align(8);
        w.view(m.pks);
      } else {
        w.u8(PK_VARCHAR);
        const { offsets, bytes } = encodeStrings(m.pks);
        w.align(4);
        w.view(offsets);
        w.bytes(bytes);
      }
      break;
    }
    default:
      w.i64(m.collectionId);
      w.i64(m.partitionId);
      writeString(w, m.body);
  }
  return w.finish();
}

/**
 * Decodes a record written by `encodeMsg`. Typed-array fields may be views on `bytes`, which the
 * caller must not modify afterwards.
 * @throws StrataError Corrupted for anything malformed.
 */
export function decodeMsg(bytes: Uint8Array): Msg {
  const r = new ByteReader(bytes);
  if (r.u8("magic") !== MAGIC) throw new StrataError("Corrupted", "not a Strata log message (bad magic)");
  const version = r.u8("version");
  if (version !== VERSION) throw new StrataError("Corrupted", `unsupported message version ${version}`);
  const type = r.u8("type");
  r.u8("pad");
  r.u32("pad");
  const timestamp = r.u64("timestamp");
  let msg: Msg;
  switch (type) {
    case MsgType.TimeTick:
      msg = { type, timestamp };
      break;
    case MsgType.Insert: {
      const collectionId = r.i64("collectionId");
      const partitionId = r.i64("partitionId");
      const segmentId = r.i64("segmentId");
      const rows = r.u32("rows");
      const nFields = r.u32("field count");
      const channel = readString(r, "channel");
      r.align(8);
      const rowIds = r.typed(BigInt64Array, rows, "row IDs");
      const fields: FieldColumn[] = [];
      for (let i = 0; i < nFields; i++) {
        const fieldId = r.i32("field ID");
        const column = readColumn(r, `field ${fieldId}`);
        if (columnLength(column) !== rows)
          throw new StrataError("Corrupted", `field ${fieldId} row count mismatch`);
        fields.push({ fieldId, column });
      }
      msg = { type, timestamp, collectionId, partitionId, segmentId, channel, rowIds, fields };
      break;
    }
    case MsgType.Delete: {
      const collectionId = r.i64("collectionId");
      const partitionId = r.i64("partitionId");
      const channel = readString(r, "channel");
      const n = r.u32("pk count");
      const pkType = r.u8("pk type");
      let pks: BigInt64Array | string[];
      if (pkType === PK_INT64) {
        r.align(8);
        pks = r.typed(BigInt64Array, n, "pks");
      } else if (pkType === PK_VARCHAR) {
        r.align(4);
        const offsets = r.typed(Uint32Array, n + 1, "pk offsets");
        const b = r.bytes(offsets[n] ?? 0, "pk bytes");
        const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
        pks = new Array<string>(n);
        for (let i = 0; i < n; i++) {
          const s = offsets[i] as number;
          const e = offsets[i + 1] as number;
          if (e < s || e > b.byteLength) throw new StrataError("Corrupted", "bad pk offsets");
          pks[i] = buf.toString("utf8", s, e);
        }
      } else {
        throw new StrataError("Corrupted", `unknown pk type ${pkType}`);
      }
      msg = { type, timestamp, collectionId, partitionId, channel, pks };
      break;
    }
    case MsgType.CreateCollection:
    case MsgType.DropCollection:
    case MsgType.CreatePartition:
    case MsgType.DropPartition: {
      const collectionId = r.i64("collectionId");
      const partitionId = r.i64("partitionId");
      msg = { type, timestamp, collectionId, partitionId, body: readString(r, "body") };
      break;
    }
    default:
      throw new StrataError("Corrupted", `unknown message type ${type}`);
  }
  if (r.remaining > 0) throw new StrataError("Corrupted", `${r.remaining} trailing bytes after message`);
  return msg;
}

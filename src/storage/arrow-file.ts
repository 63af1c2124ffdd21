/**
 * One-record-batch Arrow IPC *file* format (magic, record batch, footer with the schema), as read by
 * pyarrow `ipc.open_file`, arrow JS `tableFromIPC` and DuckDB.
 *
 * Integrity: the schema metadata carries a whole-file CRC32 (`strata.fileCrc32`) whose own 8 hex
 * digits are left out of the sum. It is checked before the Arrow parser sees a byte, because a
 * damaged flatbuffer length can make that parser loop over billions of entries or run out of memory
 * (a crash, not an exception). So every flipped byte fails with a typed error, padding included.
 */
import { Buffer } from "node:buffer";
import { crc32 } from "node:zlib";
import {
  type Data,
  type Field,
  makeData,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  Schema,
  Struct,
} from "apache-arrow";
import { StrataError } from "../common/errors.ts";
import { corrupted, hex32, parseHex32 } from "./meta.ts";

export const FILE_CRC_KEY = "strata.fileCrc32";
/** The value is this marker plus 8 hex digits; the marker lets the reader find the digits. */
const FILE_CRC_MARKER = "strata-file-crc32:";
const MARKER_BYTES = Buffer.from(FILE_CRC_MARKER, "latin1");

const HEAD = Buffer.from("ARROW1\0\0", "latin1");
const TAIL = Buffer.from("ARROW1", "latin1");
/** Footer length (int32) + trailing magic. */
const TRAILER = 4 + TAIL.length;

export interface ArrowFileContents {
  /** Schema metadata without the file CRC entry. */
  readonly metadata: Map<string, string>;
  readonly fields: readonly Field[];
  /** One Data per field, from the single record batch. */
  readonly columns: readonly Data[];
  readonly numRows: number;
}

/** Writes one record batch as an Arrow IPC file and seals it with the file CRC. */
export function writeArrowFile(
  fields: Field[],
  metadata: ReadonlyMap<string, string>,
  children: Data[],
  length: number,
): Uint8Array {
  const meta = new Map(metadata);
  meta.set(FILE_CRC_KEY, `${FILE_CRC_MARKER}00000000`);
  const schema = new Schema(fields, meta);
  const struct = makeData({ type: new Struct(fields), length, nullCount: 0, children });
  const bytes = RecordBatchFileWriter.writeAll([new RecordBatch(schema, struct)]).toUint8Array(true);
  const pos = locateFileCrc(asBuffer(bytes));
  if (pos === undefined)
    throw new StrataError("ServiceInternal", "arrow writer output lacks the file CRC slot");
  asBuffer(bytes).write(hex32(fileCrc(bytes, pos)), pos, "latin1");
  return bytes;
}

/**
 * Verifies the framing and the file CRC, then parses the single record batch.
 * @throws StrataError IoUnexpectedEOF when the file looks cut short, Corrupted for any other damage.
 */
export function readArrowFile(input: Uint8Array, what: string): ArrowFileContents {
  if (!(input instanceof Uint8Array))
    throw new StrataError("ParameterInvalid", `${what}: bytes must be a Uint8Array`);
  const buf = asBuffer(input);
  if (buf.length < HEAD.length) {
    if (HEAD.subarray(0, buf.length).equals(buf)) throw eof(what, buf.length);
    throw corrupted(`${what}: not an Arrow file (bad magic)`);
  }
  if (!buf.subarray(0, HEAD.length).equals(HEAD)) throw corrupted(`${what}: not an Arrow file (bad magic)`);
  if (buf.length < HEAD.length + TRAILER || !buf.subarray(buf.length - TAIL.length).equals(TAIL)) {
    throw eof(what, buf.length);
  }
  const pos = locateFileCrc(buf);
  if (pos === undefined) throw corrupted(`${what}: footer or file checksum slot is damaged`);
  const stored = parseHex32(buf.toString("latin1", pos, pos + 8), `${what}: file checksum`);
  const actual = fileCrc(input, pos);
  if (stored !== actual) {
    throw corrupted(`${what}: file checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`);
  }
  // Arrow hands out typed-array views on the body; they need the buffer's natural alignment.
  const aligned = input.byteOffset % 8 === 0 ? input : input.slice();
  try {
    return parse(aligned, what);
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw corrupted(`${what}: arrow parse failed: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

function parse(bytes: Uint8Array, what: string): ArrowFileContents {
  const reader = RecordBatchReader.from(bytes);
  if (!reader.isFile()) throw corrupted(`${what}: not an Arrow IPC file`);
  reader.open();
  if (reader.numDictionaries !== 0) throw corrupted(`${what}: unexpected dictionary batches`);
  if (reader.numRecordBatches !== 1)
    throw corrupted(`${what}: expected 1 record batch, found ${reader.numRecordBatches}`);
  const batch = reader.readRecordBatch(0);
  if (batch === null) throw corrupted(`${what}: record batch is unreadable`);
  const metadata = new Map(reader.schema.metadata);
  metadata.delete(FILE_CRC_KEY);
  return {
    metadata,
    fields: reader.schema.fields,
    columns: batch.data.children,
    numRows: batch.numRows,
  };
}

function eof(what: string, size: number): StrataError {
  return new StrataError("IoUnexpectedEOF", `${what}: file is truncated (${size} bytes, no Arrow footer)`);
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Offset of the 8 hex digits, searched for in the footer only; undefined unless found exactly once. */
function locateFileCrc(buf: Buffer): number | undefined {
  const footerLength = buf.readInt32LE(buf.length - TRAILER);
  const footerEnd = buf.length - TRAILER;
  const footerStart = footerEnd - footerLength;
  if (footerLength <= 0 || footerStart < HEAD.length) return undefined;
  const footer = buf.subarray(footerStart, footerEnd);
  const at = footer.indexOf(MARKER_BYTES);
  if (at < 0 || footer.indexOf(MARKER_BYTES, at + 1) >= 0) return undefined;
  const digits = footerStart + at + MARKER_BYTES.length;
  return digits + 8 <= footerEnd ? digits : undefined;
}

/** CRC32 of the whole file except the 8 digits at `pos`. */
function fileCrc(bytes: Uint8Array, pos: number): number {
  return crc32(bytes.subarray(pos + 8), crc32(bytes.subarray(0, pos)));
}

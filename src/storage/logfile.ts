/**
 * What binlogs and delta logs share: the `strata.*` metadata frame (kind, format version, data
 * checksum) around an Arrow file, and the decode-side checks in their fixed order — file checksum
 * (in `readArrowFile`), kind and version, schema, row count, buffer validation, data checksum.
 */
import type { Data, Field } from "apache-arrow";
import { type ArrowFileContents, readArrowFile, writeArrowFile } from "./arrow-file.ts";
import { sameField } from "./arrow-types.ts";
import { canonicalBuffers, checksum } from "./canonical.ts";
import { corrupted, hex32, parseHex32 } from "./meta.ts";

export const FORMAT_KEY = "strata.format";
export const VERSION_KEY = "strata.version";
export const CRC_KEY = "strata.crc32";
/** Bump when the layout changes; readers refuse versions they do not know. */
export const FORMAT_VERSION = "1";

export type LogKind = "binlog" | "deltalog";

/** The header as checksummed: every metadata entry but the checksum, sorted, one `k=v` per line. */
function headerText(meta: ReadonlyMap<string, string>): string {
  return [...meta.entries()]
    .filter(([k]) => k !== CRC_KEY)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}\n`)
    .join("");
}

function dataChecksum(
  meta: ReadonlyMap<string, string>,
  columns: readonly Data[],
  rows: number,
  what: string,
): number {
  const buffers: Uint8Array[] = [];
  columns.forEach((d, i) => {
    canonicalBuffers(d, rows, `${what} column ${i}`, buffers);
  });
  return checksum(headerText(meta), buffers);
}

/**
 * Writes a log file. `header` holds the kind-specific `strata.*` entries; the frame entries are
 * added here.
 */
export function writeLog(
  kind: LogKind,
  header: ReadonlyMap<string, string>,
  fields: Field[],
  columns: Data[],
  rows: number,
): Uint8Array {
  const meta = new Map<string, string>([[FORMAT_KEY, kind], [VERSION_KEY, FORMAT_VERSION], ...header]);
  meta.set(CRC_KEY, hex32(dataChecksum(meta, columns, rows, kind)));
  return writeArrowFile(fields, meta, columns, rows);
}

/**
 * Reads the file and checks kind and version. The returned metadata still holds the frame keys
 * (for the caller's exact key-set check).
 */
export function openLog(bytes: Uint8Array, kind: LogKind): ArrowFileContents {
  const file = readArrowFile(bytes, kind);
  const format = file.metadata.get(FORMAT_KEY);
  if (format !== kind) throw corrupted(`${kind}: file is a ${JSON.stringify(format ?? "non-strata")} file`);
  const version = file.metadata.get(VERSION_KEY);
  if (version !== FORMAT_VERSION) {
    throw corrupted(
      `${kind}: unsupported format version ${JSON.stringify(version)} (supported: ${FORMAT_VERSION})`,
    );
  }
  return file;
}

/** Checks schema, row count, buffers and the data checksum against what the header promises. */
export function verifyLog(
  file: ArrowFileContents,
  kind: LogKind,
  expected: readonly Field[],
  rows: number,
): void {
  if (file.fields.length !== expected.length)
    throw corrupted(`${kind}: ${file.fields.length} fields, expected ${expected.length}`);
  expected.forEach((f, i) => {
    const got = file.fields[i];
    if (got === undefined || !sameField(got, f)) {
      throw corrupted(
        `${kind}: field ${i} is ${String(got?.type)} ${got?.name ?? ""}, expected ${String(f.type)} ${f.name}`,
      );
    }
  });
  if (file.numRows !== rows) throw corrupted(`${kind}: ${file.numRows} rows, header says ${rows}`);
  const stored = parseHex32(file.metadata.get(CRC_KEY) ?? "", `${kind}: data checksum`);
  const actual = dataChecksum(file.metadata, file.columns, rows, kind);
  if (stored !== actual)
    throw corrupted(`${kind}: data checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`);
}

/**
 * The canonical bytes of a column: its Arrow buffers in depth-first order (offsets before values,
 * children after their parent), each cut to the length the rows use, validity buffers excluded
 * (columns have no nulls). The data checksum is CRC32 over these, so it depends on the values only,
 * not on how a writer laid out or padded the file. Walking a decoded Data also validates it: every
 * buffer must be long enough and every offset array monotonic, so nothing later reads out of range.
 */
import { crc32 } from "node:zlib";
import { DataType as ArrowDataType, type Data, Precision } from "apache-arrow";
import { corrupted } from "./meta.ts";

function bytes(v: unknown, n: number, what: string): Uint8Array {
  if (!ArrayBuffer.isView(v) || v.byteLength < n) {
    throw corrupted(`${what}: buffer holds ${ArrayBuffer.isView(v) ? v.byteLength : 0} bytes, needs ${n}`);
  }
  return new Uint8Array(v.buffer, v.byteOffset, n);
}

/** Checked Int32 offsets of a variable-length node; returns the total child/value count. */
function offsets(d: Data, what: string, out: Uint8Array[]): { offs: Int32Array; total: number } {
  const v: unknown = d.valueOffsets;
  if (!(v instanceof Int32Array) || v.length < d.length + 1)
    throw corrupted(`${what}: offsets buffer too short`);
  if (v[0] !== 0) throw corrupted(`${what}: first offset is ${v[0]}`);
  for (let i = 0; i < d.length; i++) {
    if ((v[i + 1] ?? 0) < (v[i] ?? 0)) throw corrupted(`${what}: offsets decrease at row ${i}`);
  }
  out.push(new Uint8Array(v.buffer, v.byteOffset, (d.length + 1) * 4));
  return { offs: v, total: v[d.length] ?? 0 };
}

function child(d: Data, i: number, length: number, what: string): Data {
  const c = d.children[i];
  if (c === undefined) throw corrupted(`${what}: child ${i} missing`);
  if (c.length !== length) throw corrupted(`${what}: child ${i} has ${c.length} values, expected ${length}`);
  return c;
}

function floatWidth(p: Precision): number {
  return p === Precision.HALF ? 2 : p === Precision.SINGLE ? 4 : 8;
}

/**
 * Appends the canonical buffers of `d` (whose length must be `length`) to `out`.
 * @throws StrataError Corrupted when the node is malformed.
 */
export function canonicalBuffers(d: Data, length: number, what: string, out: Uint8Array[]): void {
  if (d.length !== length) throw corrupted(`${what}: ${d.length} rows, expected ${length}`);
  if (d.offset !== 0 || d.nullCount !== 0) throw corrupted(`${what}: unexpected offset or nulls`);
  const t = d.type;
  if (ArrowDataType.isBool(t)) {
    out.push(bytes(d.values, (length + 7) >>> 3, what));
  } else if (ArrowDataType.isInt(t)) {
    out.push(bytes(d.values, length * (t.bitWidth / 8), what));
  } else if (ArrowDataType.isFloat(t)) {
    out.push(bytes(d.values, length * floatWidth(t.precision), what));
  } else if (ArrowDataType.isFixedSizeBinary(t)) {
    out.push(bytes(d.values, length * t.byteWidth, what));
  } else if (ArrowDataType.isUtf8(t) || ArrowDataType.isBinary(t)) {
    const { total } = offsets(d, what, out);
    out.push(bytes(d.values, total, what));
  } else if (ArrowDataType.isList(t)) {
    const { total } = offsets(d, what, out);
    canonicalBuffers(child(d, 0, total, what), total, `${what}.item`, out);
  } else if (ArrowDataType.isFixedSizeList(t)) {
    const n = length * t.listSize;
    canonicalBuffers(child(d, 0, n, what), n, `${what}.item`, out);
  } else if (ArrowDataType.isStruct(t)) {
    t.children.forEach((f, i) => {
      canonicalBuffers(child(d, i, length, what), length, `${what}.${f.name}`, out);
    });
  } else {
    throw corrupted(`${what}: unsupported arrow type ${String(t)}`);
  }
}

/** CRC32 over a text prefix (the header) followed by buffers. */
export function checksum(prefix: string, buffers: readonly Uint8Array[]): number {
  let crc = crc32(prefix);
  // Empty views are skipped: Node 20's crc32 returns 0, not the running value, for a view on an
  // empty ArrayBuffer.
  for (const b of buffers) if (b.byteLength > 0) crc = crc32(b, crc);
  return crc >>> 0;
}

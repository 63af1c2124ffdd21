import type { Column, SparseRow } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { Growable, type TypedArray } from "../common/growable.ts";
import { DataType } from "../common/types.ts";

/** The shape of one stored field: the system fields 0/1 are Int64, user fields come from the schema. */
export interface FieldDesc {
  readonly fieldId: number;
  readonly dataType: DataType;
  readonly dim?: number;
  readonly elementType?: DataType;
}

type FixedCtor = (new (
  n: number,
) => TypedArray) &
  (new (
    b: ArrayBufferLike,
  ) => TypedArray) & { readonly BYTES_PER_ELEMENT: number };

interface FixedLayout {
  /** Allocates n elements. */
  readonly make: (n: number) => TypedArray;
  readonly perRow: number;
}

function layout(ctor: FixedCtor, perRow: number, shared: boolean): FixedLayout {
  // Dense vectors live on SharedArrayBuffers: the search workers then read them without a copy.
  const make = shared
    ? (n: number) => new ctor(new SharedArrayBuffer(n * ctor.BYTES_PER_ELEMENT))
    : (n: number) => new ctor(n);
  return { make, perRow };
}

/** Allocation and elements per row of a fixed-width type; undefined for variable-length ones. */
function fixedLayout(d: FieldDesc): FixedLayout | undefined {
  const dim = d.dim ?? 0;
  switch (d.dataType) {
    case DataType.Bool:
      return layout(Uint8Array, 1, false);
    case DataType.Int8:
      return layout(Int8Array, 1, false);
    case DataType.Int16:
      return layout(Int16Array, 1, false);
    case DataType.Int32:
      return layout(Int32Array, 1, false);
    case DataType.Int64:
      return layout(BigInt64Array, 1, false);
    case DataType.Float:
      return layout(Float32Array, 1, false);
    case DataType.Double:
      return layout(Float64Array, 1, false);
    case DataType.FloatVector:
      // Plain buffers from offset 0: the native scan (usearch) cannot read SharedArrayBuffers.
      return layout(Float32Array, dim, false);
    case DataType.BinaryVector:
      return layout(Uint8Array, dim / 8, true);
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      return layout(Uint16Array, dim, true);
    default:
      return undefined;
  }
}

function wrapFixed(d: FieldDesc, data: TypedArray): Column {
  switch (d.dataType) {
    case DataType.FloatVector:
    case DataType.BinaryVector:
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      return { type: d.dataType, dim: d.dim ?? 0, data } as Column;
    default:
      return { type: d.dataType, data } as Column;
  }
}

/** @throws StrataError Corrupted when `c` does not have the field's type, dim or element type. */
export function checkColumn(d: FieldDesc, c: Column, what: string): void {
  const strLike = (t: number) => t === DataType.VarChar || t === DataType.String;
  const typeOk = c.type === d.dataType || (strLike(c.type) && strLike(d.dataType));
  const dimOk = !("dim" in c) || c.dim === d.dim;
  const elemOk = c.type !== DataType.Array || c.elementType === d.elementType;
  if (!typeOk || !dimOk || !elemOk) {
    throw new StrataError(
      "Corrupted",
      `${what}: field ${d.fieldId} holds data type ${c.type}${"dim" in c ? ` dim ${c.dim}` : ""}, expected ${d.dataType}${d.dim === undefined ? "" : ` dim ${d.dim}`}`,
    );
  }
}

/** Copies every row of `src` into views on one fresh buffer (no view on the decoded file survives). */
function compactBytes(rows: readonly Uint8Array[]): Uint8Array[] {
  let total = 0;
  for (const r of rows) total += r.byteLength;
  const buf = new Uint8Array(total);
  const out: Uint8Array[] = new Array(rows.length);
  let at = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as Uint8Array;
    buf.set(r, at);
    out[i] = buf.subarray(at, at + r.byteLength);
    at += r.byteLength;
  }
  return out;
}

function compactSparse(rows: readonly SparseRow[]): SparseRow[] {
  let total = 0;
  for (const r of rows) total += r.indices.length;
  const idx = new Uint32Array(total);
  const val = new Float32Array(total);
  const out: SparseRow[] = new Array(rows.length);
  let at = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as SparseRow;
    const n = r.indices.length;
    idx.set(r.indices, at);
    val.set(r.values.subarray(0, n), at);
    out[i] = { indices: idx.subarray(at, at + n), values: val.subarray(at, at + n) };
    at += n;
  }
  return out;
}

function copyArrayRow(row: Column): Column {
  if (row.type === DataType.VarChar || row.type === DataType.String)
    return { type: row.type, data: [...row.data] };
  return { ...row, data: (row.data as Uint8Array).slice() } as Column;
}

/**
 * Concatenates the parts of one field (its binlogs, in order) into one column that owns its
 * memory: fixed-width data as one typed array, JSON and sparse rows as views on one compact buffer.
 */
export function concatColumns(d: FieldDesc, parts: readonly Column[]): Column {
  const fixed = fixedLayout(d);
  if (fixed !== undefined) {
    let total = 0;
    for (const p of parts) total += (p.data as TypedArray).length;
    const out = fixed.make(total);
    let at = 0;
    for (const p of parts) {
      const src = p.data as TypedArray;
      (out as unknown as { set(a: TypedArray, at: number): void }).set(src, at);
      at += src.length;
    }
    return wrapFixed(d, out);
  }
  switch (d.dataType) {
    case DataType.VarChar:
    case DataType.String:
      return { type: d.dataType, data: parts.flatMap((p) => p.data as readonly string[]) };
    case DataType.JSON:
      return {
        type: DataType.JSON,
        data: compactBytes(parts.flatMap((p) => p.data as readonly Uint8Array[])),
      };
    case DataType.SparseFloatVector:
      return {
        type: DataType.SparseFloatVector,
        data: compactSparse(parts.flatMap((p) => p.data as readonly SparseRow[])),
      };
    case DataType.Array:
      return {
        type: DataType.Array,
        elementType: d.elementType ?? DataType.None,
        data: parts.flatMap((p) => (p.data as readonly Column[]).map(copyArrayRow)),
      };
    default:
      throw new StrataError("ParameterInvalid", `field ${d.fieldId}: unsupported data type ${d.dataType}`);
  }
}

/** Bytes a column holds: typed-array byte lengths, strings at 2 bytes per UTF-16 unit. */
export function columnBytes(c: Column): number {
  switch (c.type) {
    case DataType.VarChar:
    case DataType.String: {
      let n = 0;
      for (const s of c.data) n += s.length * 2;
      return n;
    }
    case DataType.JSON: {
      let n = 0;
      for (const r of c.data) n += r.byteLength;
      return n;
    }
    case DataType.SparseFloatVector: {
      let n = 0;
      for (const r of c.data) n += r.indices.byteLength + r.values.byteLength;
      return n;
    }
    case DataType.Array: {
      let n = 0;
      for (const r of c.data) n += columnBytes(r);
      return n;
    }
    default:
      return c.data.byteLength;
  }
}

/**
 * One field of a growing segment. Fixed-width rows go into one growable typed array; variable-
 * length rows are copied out of the message (so no log buffer stays pinned). `snapshot(n)` is a
 * column of exactly the first n rows that later appends do not change.
 */
export class GrowingColumn {
  readonly desc: FieldDesc;
  private readonly fixed: { store: Growable<TypedArray>; perRow: number } | undefined;
  private readonly rowsVar: unknown[] = [];
  private varBytes = 0;
  private cached: { rows: number; column: Column } | undefined;

  constructor(desc: FieldDesc) {
    this.desc = desc;
    const f = fixedLayout(desc);
    this.fixed = f === undefined ? undefined : { store: new Growable<TypedArray>(f.make), perRow: f.perRow };
  }

  get rows(): number {
    if (this.fixed === undefined) return this.rowsVar.length;
    return this.fixed.perRow === 0 ? 0 : this.fixed.store.length / this.fixed.perRow;
  }

  get bytes(): number {
    return this.fixed === undefined ? this.varBytes : this.fixed.store.capacityBytes;
  }

  /** Appends every row of `c` (checked with `checkColumn` by the caller). */
  append(c: Column): void {
    if (this.fixed !== undefined) {
      this.fixed.store.append(c.data as TypedArray);
      return;
    }
    switch (c.type) {
      case DataType.VarChar:
      case DataType.String:
        for (const s of c.data) {
          this.rowsVar.push(s);
          this.varBytes += s.length * 2;
        }
        return;
      case DataType.JSON:
        for (const r of compactBytes(c.data)) {
          this.rowsVar.push(r);
          this.varBytes += r.byteLength;
        }
        return;
      case DataType.SparseFloatVector:
        for (const r of compactSparse(c.data)) {
          this.rowsVar.push(r);
          this.varBytes += r.indices.byteLength + r.values.byteLength;
        }
        return;
      case DataType.Array:
        for (const r of c.data) {
          const copy = copyArrayRow(r);
          this.rowsVar.push(copy);
          this.varBytes += columnBytes(copy);
        }
        return;
      default:
        throw new StrataError("Corrupted", `field ${this.desc.fieldId}: unexpected data type ${c.type}`);
    }
  }

  /**
   * The stored data without copying: a typed-array view of `rows` rows, or the live row array of a
   * variable-length field (longer once more rows arrive; index it only below `rows`).
   */
  live(rows: number): TypedArray | readonly unknown[] {
    if (this.fixed !== undefined) return this.fixed.store.view(rows * this.fixed.perRow);
    return this.rowsVar;
  }

  snapshot(rows: number): Column {
    if (this.fixed !== undefined) {
      return wrapFixed(this.desc, this.fixed.store.view(rows * this.fixed.perRow));
    }
    if (this.cached?.rows === rows) return this.cached.column;
    const data = this.rowsVar.slice(0, rows);
    let column: Column;
    if (this.desc.dataType === DataType.Array) {
      column = {
        type: DataType.Array,
        elementType: this.desc.elementType ?? DataType.None,
        data: data as Column[],
      };
    } else {
      column = { type: this.desc.dataType, data } as Column;
    }
    this.cached = { rows, column };
    return column;
  }
}

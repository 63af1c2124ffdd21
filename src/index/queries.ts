import type { SparseRow } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import { DataType, dataTypeName } from "../common/types.ts";
import { decodeBFloat16, decodeFloat16 } from "./decode.ts";
import { type PreparedSegment, packWords, plainAlloc } from "./segment.ts";

/**
 * What a caller may pass as query vectors:
 * - FloatVector: nq x dim float32;
 * - Float16/BFloat16: nq x dim float32, or nq x dim raw 16-bit patterns of the column's own format;
 * - BinaryVector: nq x dim/8 bytes;
 * - SparseFloatVector: one SparseRow per query.
 */
export type QueryVectors = Float32Array | Uint16Array | Uint8Array | readonly SparseRow[];

/** Validated queries in kernel form; plain data, cheap to post to a worker. */
export type PreparedQueries =
  | { readonly kind: "float"; readonly nq: number; readonly dim: number; readonly data: Float64Array }
  | {
      readonly kind: "binary";
      readonly nq: number;
      readonly wordsPerRow: number;
      readonly words: Uint32Array;
    }
  | { readonly kind: "sparse"; readonly nq: number; readonly rows: readonly SparseRow[] };

function bad(msg: string): StrataError {
  return new StrataError("ParameterInvalid", msg);
}

/**
 * Checks queries against the segment (type, dim, finiteness, sparse index order) and converts them.
 * `expectedNq`, when given, must match: it catches a dim mismatch whose lengths happen to divide.
 */
export function prepareQueries(
  seg: PreparedSegment,
  queries: QueryVectors,
  expectedNq?: number,
): PreparedQueries {
  const prepared = convert(seg, queries);
  if (prepared.nq < 1) throw bad("no query vectors given");
  if (expectedNq !== undefined && prepared.nq !== expectedNq) {
    throw bad(`expected ${expectedNq} query vectors but the query data holds ${prepared.nq} (dim mismatch?)`);
  }
  return prepared;
}

function convert(seg: PreparedSegment, queries: QueryVectors): PreparedQueries {
  const typeName = dataTypeName(seg.type) ?? String(seg.type);
  switch (seg.kind) {
    case "float": {
      const dim = seg.dim;
      let floats: Float32Array;
      if (queries instanceof Float32Array) floats = queries;
      else if (queries instanceof Uint16Array && seg.type === DataType.Float16Vector)
        floats = decodeFloat16(queries);
      else if (queries instanceof Uint16Array && seg.type === DataType.BFloat16Vector) {
        floats = decodeBFloat16(queries);
      } else throw bad(`queries for a ${typeName} field must be ${floatQueryForm(seg.type)}`);
      if (floats.length % dim !== 0) {
        throw bad(
          `query data of ${floats.length} values is not a whole number of ${dim}-dim vectors (dim mismatch)`,
        );
      }
      const data = new Float64Array(floats.length);
      for (let i = 0; i < floats.length; i++) {
        const v = floats[i]!;
        if (!Number.isFinite(v)) {
          throw bad(`query ${Math.floor(i / dim)} has a non-finite value (${v}) at dimension ${i % dim}`);
        }
        data[i] = v;
      }
      return { kind: "float", nq: floats.length / dim, dim, data };
    }
    case "binary": {
      if (!(queries instanceof Uint8Array))
        throw bad("queries for a BinaryVector field must be a Uint8Array");
      const bytesPerRow = seg.dim / 8;
      if (queries.length % bytesPerRow !== 0) {
        throw bad(
          `binary query data of ${queries.length} bytes is not a whole number of ${bytesPerRow}-byte (dim ${seg.dim}) vectors (dim mismatch)`,
        );
      }
      const nq = queries.length / bytesPerRow;
      const words = packWords(queries, nq, bytesPerRow, seg.wordsPerRow, plainAlloc);
      return { kind: "binary", nq, wordsPerRow: seg.wordsPerRow, words };
    }
    case "sparse": {
      if (!Array.isArray(queries))
        throw bad("queries for a SparseFloatVector field must be an array of sparse rows");
      const rows = queries as readonly unknown[];
      rows.forEach(checkSparseRow);
      return { kind: "sparse", nq: rows.length, rows: rows as readonly SparseRow[] };
    }
  }
}

function floatQueryForm(type: number): string {
  return type === DataType.FloatVector
    ? "a Float32Array"
    : "a Float32Array or a Uint16Array of the field's 16-bit patterns";
}

function checkSparseRow(row: unknown, q: number): void {
  if (typeof row !== "object" || row === null) throw bad(`sparse query ${q} is not an object`);
  const { indices, values } = row as { indices?: unknown; values?: unknown };
  if (!(indices instanceof Uint32Array) || !(values instanceof Float32Array)) {
    throw bad(`sparse query ${q} must have indices: Uint32Array and values: Float32Array`);
  }
  if (indices.length !== values.length) {
    throw bad(`sparse query ${q} has ${indices.length} indices but ${values.length} values`);
  }
  for (let i = 0; i < indices.length; i++) {
    if (i > 0 && indices[i]! <= indices[i - 1]!) {
      throw bad(`sparse query ${q} indices are not strictly increasing at position ${i}`);
    }
    if (!Number.isFinite(values[i]!)) throw bad(`sparse query ${q} has a non-finite value at position ${i}`);
  }
}

/**
 * The oracle side of the query node tests: every row version the test wrote (with the timestamp
 * the proxy gave its batch) and every delete, and brute-force search and query over them.
 */
import assert from "node:assert/strict";
import type { SparseRow } from "../../src/common/column.ts";
import type { Timestamp } from "../../src/common/timestamp.ts";
import type { Hits, MetricType, NodeQueryResult } from "../../src/querynode/types.ts";

export const DIM = 16;
export const BDIM = 64;
export const SPARSE_DIMS = 40;

export interface Row {
  readonly pk: bigint;
  readonly ts: Timestamp;
  readonly vec: Float32Array;
  readonly bvec: Uint8Array;
  readonly sp: SparseRow;
  readonly num: bigint;
  readonly tag: string;
  readonly flag: boolean;
}

/** Values of one batch, in the proxy's column input form. */
export interface Batch {
  readonly pks: bigint[];
  readonly columns: Record<string, unknown>;
  readonly rows: Omit<Row, "ts">[];
}

export const SCHEMA = {
  name: "qn",
  fields: [
    { name: "id", dataType: "Int64", isPrimaryKey: true },
    { name: "vec", dataType: "FloatVector", dim: DIM },
    { name: "bvec", dataType: "BinaryVector", dim: BDIM },
    { name: "sp", dataType: "SparseFloatVector" },
    { name: "num", dataType: "Int64" },
    { name: "tag", dataType: "VarChar", maxLength: 32 },
    { name: "flag", dataType: "Bool" },
  ],
} as const;

/** Rows for the given keys; `gen` tells versions of one key apart (upserts). */
export function makeBatch(r: () => number, pks: readonly bigint[], gen = 0): Batch {
  const n = pks.length;
  const vec = new Float32Array(n * DIM);
  const bvec = new Uint8Array((n * BDIM) / 8);
  const rows: Omit<Row, "ts">[] = [];
  const sp: SparseRow[] = [];
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < DIM; k++) vec[i * DIM + k] = Math.fround(r() * 2 - 1);
    for (let k = 0; k < BDIM / 8; k++) bvec[(i * BDIM) / 8 + k] = Math.floor(r() * 256);
    // At least one bit set, so JACCARD is defined for every row.
    bvec[(i * BDIM) / 8] = (bvec[(i * BDIM) / 8] as number) | 1;
    const idx = new Set<number>();
    const nnz = 1 + Math.floor(r() * 6);
    while (idx.size < nnz) idx.add(Math.floor(r() * SPARSE_DIMS));
    const indices = Uint32Array.from([...idx].sort((a, b) => a - b));
    const values = Float32Array.from(indices, () => Math.fround(r() * 2));
    sp.push({ indices, values });
    const pk = pks[i] as bigint;
    rows.push({
      pk,
      vec: vec.subarray(i * DIM, (i + 1) * DIM),
      bvec: bvec.subarray((i * BDIM) / 8, ((i + 1) * BDIM) / 8),
      sp: { indices, values },
      num: pk * 7n + BigInt(gen),
      tag: `t${Number(pk % 10n)}-${gen}`,
      flag: (pk + BigInt(gen)) % 2n === 0n,
    });
  }
  const columns = {
    id: BigInt64Array.from(pks),
    vec,
    bvec,
    sp,
    num: BigInt64Array.from(rows, (x) => x.num),
    tag: rows.map((x) => x.tag),
    flag: rows.map((x) => x.flag),
  };
  return { pks: [...pks], columns, rows };
}

/** Rows [from, from + n) of `b` again, same vectors, other scalar values (`gen`): a plain duplicate insert. */
export function duplicate(b: Batch, from: number, n: number, gen: number): Batch {
  const src = b.rows.slice(from, from + n);
  const rows = src.map((x) => ({
    ...x,
    num: x.pk * 7n + BigInt(gen),
    tag: `t${Number(x.pk % 10n)}-${gen}`,
    flag: (x.pk + BigInt(gen)) % 2n === 0n,
  }));
  const vec = new Float32Array(n * DIM);
  const bvec = new Uint8Array((n * BDIM) / 8);
  rows.forEach((x, i) => {
    vec.set(x.vec, i * DIM);
    bvec.set(x.bvec, (i * BDIM) / 8);
  });
  return {
    pks: rows.map((x) => x.pk),
    rows,
    columns: {
      id: BigInt64Array.from(rows, (x) => x.pk),
      vec,
      bvec,
      sp: rows.map((x) => x.sp),
      num: BigInt64Array.from(rows, (x) => x.num),
      tag: rows.map((x) => x.tag),
      flag: rows.map((x) => x.flag),
    },
  };
}

export function range(from: number, n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => BigInt(from + i));
}

export class Model {
  private readonly versions: Row[] = [];
  private readonly deletes: { pk: bigint; ts: Timestamp }[] = [];

  insert(b: Batch, ts: Timestamp): void {
    for (const r of b.rows) this.versions.push({ ...r, ts });
  }

  delete(pks: readonly bigint[], ts: Timestamp): void {
    for (const pk of pks) this.deletes.push({ pk, ts });
  }

  /** Upsert = delete of the keys and insert of the rows at the same timestamp. */
  upsert(b: Batch, ts: Timestamp): void {
    this.delete(b.pks, ts);
    this.insert(b, ts);
  }

  /**
   * Rows visible at readTs (written by then, not deleted by then) that satisfy `pred`, one per key
   * (the latest such version), by ascending key.
   */
  live(readTs: Timestamp, pred: (r: Row) => boolean = () => true): Row[] {
    const del = new Map<bigint, Timestamp[]>();
    for (const d of this.deletes) {
      if (d.ts > readTs) continue;
      const l = del.get(d.pk) ?? [];
      l.push(d.ts);
      del.set(d.pk, l);
    }
    const best = new Map<bigint, Row>();
    for (const v of this.versions) {
      if (v.ts > readTs) continue;
      if ((del.get(v.pk) ?? []).some((t) => v.ts < t) || !pred(v)) continue;
      const cur = best.get(v.pk);
      if (cur === undefined || v.ts > cur.ts) best.set(v.pk, v);
    }
    return [...best.values()].sort((a, b) => (a.pk < b.pk ? -1 : a.pk > b.pk ? 1 : 0));
  }
}

function popcount8(x: number): number {
  let c = 0;
  let v = x;
  while (v !== 0) {
    v &= v - 1;
    c++;
  }
  return c;
}

/** The metric's value in float64, from the stored float32/bit data. */
export function score(metric: MetricType, row: Row, q: Float32Array | Uint8Array | SparseRow): number {
  switch (metric) {
    case "L2": {
      let s = 0;
      for (let k = 0; k < DIM; k++) {
        const d = (q as Float32Array)[k]! - row.vec[k]!;
        s += d * d;
      }
      return s;
    }
    case "IP": {
      if (!(q instanceof Float32Array) && !(q instanceof Uint8Array)) {
        let s = 0;
        const m = new Map<number, number>();
        for (let i = 0; i < row.sp.indices.length; i++) m.set(row.sp.indices[i]!, row.sp.values[i]!);
        for (let i = 0; i < q.indices.length; i++) s += (m.get(q.indices[i]!) ?? 0) * q.values[i]!;
        return s;
      }
      let s = 0;
      for (let k = 0; k < DIM; k++) s += (q as Float32Array)[k]! * row.vec[k]!;
      return s;
    }
    case "COSINE": {
      let dot = 0;
      let a = 0;
      let b = 0;
      for (let k = 0; k < DIM; k++) {
        dot += (q as Float32Array)[k]! * row.vec[k]!;
        a += (q as Float32Array)[k]! ** 2;
        b += row.vec[k]! ** 2;
      }
      return dot / Math.sqrt(a * b);
    }
    case "HAMMING": {
      let s = 0;
      for (let k = 0; k < BDIM / 8; k++) s += popcount8((q as Uint8Array)[k]! ^ row.bvec[k]!);
      return s;
    }
    case "JACCARD": {
      let and = 0;
      let or = 0;
      for (let k = 0; k < BDIM / 8; k++) {
        and += popcount8((q as Uint8Array)[k]! & row.bvec[k]!);
        or += popcount8((q as Uint8Array)[k]! | row.bvec[k]!);
      }
      return or === 0 ? 0 : 1 - and / or;
    }
  }
}

const larger = (m: MetricType) => m === "IP" || m === "COSINE";

/**
 * Checks one query's hits against brute force over `live`: right count, no duplicate key, every hit
 * a live row passing the filter with its true score (float32 tolerance), best first, and no row
 * better than the last hit (beyond the tolerance) left out.
 */
export function checkHits(
  hits: Hits,
  live: readonly Row[],
  metric: MetricType,
  q: Float32Array | Uint8Array | SparseRow,
  topk: number,
  what: string,
): void {
  const byPk = new Map(live.map((r) => [r.pk, r]));
  const pks = hits.pks as BigInt64Array;
  assert.equal(pks.length, Math.min(topk, live.length), `${what}: hit count`);
  assert.equal(new Set(pks).size, pks.length, `${what}: duplicate keys`);
  const tol = (x: number) => 1e-4 * (1 + Math.abs(x));
  for (let i = 0; i < pks.length; i++) {
    const row = byPk.get(pks[i]!);
    assert.ok(row !== undefined, `${what}: hit ${pks[i]} is not a live matching row`);
    const want = score(metric, row, q);
    const got = hits.scores[i]!;
    assert.ok(Math.abs(got - want) <= tol(want), `${what}: score of ${pks[i]} is ${got}, expected ${want}`);
    if (i > 0) {
      const prev = hits.scores[i - 1]!;
      assert.ok(larger(metric) ? prev >= got : prev <= got, `${what}: hits not best-first at ${i}`);
    }
  }
  if (pks.length === 0) return;
  const last = hits.scores[pks.length - 1]!;
  const returned = new Set(pks);
  for (const r of live) {
    if (returned.has(r.pk)) continue;
    const s = score(metric, r, q);
    const better = larger(metric) ? s > last + tol(last) : s < last - tol(last);
    assert.ok(!better, `${what}: row ${r.pk} (score ${s}) is better than the last hit (${last}) but missing`);
  }
}

/** Checks a query result against the expected rows (ascending key), including output fields. */
export function checkQuery(res: NodeQueryResult, want: readonly Row[], what: string): void {
  assert.deepEqual(
    [...(res.pks as BigInt64Array)],
    want.map((r) => r.pk),
    `${what}: keys`,
  );
  assert.equal(res.count, want.length, `${what}: count`);
  for (const f of res.fields) {
    if (f.fieldId === 104)
      assert.deepEqual(
        [...(f.column.data as BigInt64Array)],
        want.map((r) => r.num),
        `${what}: num`,
      );
    if (f.fieldId === 105)
      assert.deepEqual(
        f.column.data,
        want.map((r) => r.tag),
        `${what}: tag`,
      );
    if (f.fieldId === 101) {
      const flat = f.column.data as Float32Array;
      for (let i = 0; i < want.length; i++) {
        assert.deepEqual(
          flat.subarray(i * DIM, (i + 1) * DIM),
          want[i]!.vec,
          `${what}: vec of ${want[i]!.pk}`,
        );
      }
    }
  }
}

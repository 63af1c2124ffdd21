import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Column } from "../../src/common/column.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { DataType } from "../../src/common/types.ts";
import { reduceHits } from "../../src/proxy/reduce.ts";
import type { Hits, MetricType } from "../../src/querynode/types.ts";
import { rng } from "../helpers/env.ts";

const SEED = 9311;

/** A node's best-first hit list with padding and (sometimes) repeated keys, plus two output columns. */
function randomHits(next: () => number, metric: MetricType, stringKeys: boolean): Hits {
  const n = Math.floor(next() * 120);
  const raw = Array.from({ length: n }, () => Math.fround(next() * 10));
  // Ties on purpose: scores drawn from few values.
  const scores = raw.map((x) => Math.fround(Math.round(x * 4) / 4));
  scores.sort((a, b) => (metric === "L2" ? a - b : b - a));
  const pad = Math.floor(next() * 5);
  const keyOf = () => Math.floor(next() * (next() < 0.3 ? 8 : 1_000_000));
  const keys = Array.from({ length: n }, keyOf);
  const all = [...scores, ...Array.from({ length: pad }, () => Number.NaN)];
  const pks = stringKeys
    ? [...keys.map((k) => `k${k}`), ...Array.from({ length: pad }, () => "")]
    : BigInt64Array.from([...keys, ...Array.from({ length: pad }, () => 0)].map(BigInt));
  const rows = all.length;
  const num: Column = {
    type: DataType.Int64,
    data: BigInt64Array.from({ length: rows }, (_, i) => BigInt(i * 3)),
  };
  const vec: Column = {
    type: DataType.FloatVector,
    dim: 2,
    data: Float32Array.from({ length: rows * 2 }, (_, i) => i),
  };
  const text: Column = { type: DataType.VarChar, data: Array.from({ length: rows }, (_, i) => `r${i}`) };
  return {
    pks,
    scores: Float32Array.from(all),
    fields: [
      { fieldId: 101, column: num },
      { fieldId: 102, column: vec },
      { fieldId: 103, column: text },
    ],
  };
}

function emptyLike(h: Hits): Hits {
  return {
    pks: Array.isArray(h.pks) ? [] : new BigInt64Array(0),
    scores: new Float32Array(0),
    fields: h.fields.map((f) => ({
      fieldId: f.fieldId,
      column: { ...f.column, data: f.column.data.slice(0, 0) } as Column,
    })),
  };
}

describe("proxy reduce", () => {
  it("reduces one node's list exactly as the general merge does (seeded random lists)", () => {
    const next = rng(SEED);
    for (let trial = 0; trial < 400; trial++) {
      const metric: MetricType = next() < 0.5 ? "L2" : "IP";
      const h = randomHits(next, metric, next() < 0.3);
      const offset = Math.floor(next() * 20);
      const limit = 1 + Math.floor(next() * (next() < 0.2 ? 150 : 12));
      const what = `seed ${SEED} trial ${trial} (${metric}, offset ${offset}, limit ${limit})`;
      const fast = reduceHits([h], metric, offset, limit);
      // A second, empty list forces the general k-way merge: the oracle.
      const general = reduceHits([h, emptyLike(h)], metric, offset, limit);
      assert.deepEqual(fast.pks, general.pks, `${what}: keys`);
      assert.deepEqual(fast.scores, general.scores, `${what}: scores`);
      if (general.pks.length > 0) assert.deepEqual(fast.fields, general.fields, `${what}: fields`);
      assert.equal(new Set(fast.pks).size, fast.pks.length, `${what}: a key twice`);
    }
  });

  it("refuses a list that is not best first, as the general merge does", () => {
    const bad: Hits = {
      pks: BigInt64Array.from([1n, 2n, 3n]),
      scores: Float32Array.from([0.5, 0.2, 0.9]),
      fields: [],
    };
    assert.throws(
      () => reduceHits([bad], "L2", 0, 2),
      (e: unknown) => isStrataError(e, "ParameterInvalid") && /best-first/.test(e.message),
    );
  });
});

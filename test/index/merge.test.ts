import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import { type MetricType, mergeTopK, type ScoredPks } from "../../src/index/index.ts";
import { mergeOffsetResults, TopKHeaps } from "../../src/index/topk.ts";
import { rng } from "./data.ts";

interface Entry {
  pk: bigint | string;
  score: number;
  list: number;
  pos: number;
}

/** Reference merge: best entry per pk (better score, then earlier list, then earlier position), full sort. */
function refMerge(
  lists: ScoredPks[],
  topk: number,
  larger: boolean,
): { pks: (bigint | string)[]; scores: number[] } {
  const all: Entry[] = [];
  lists.forEach((l, list) => {
    for (let pos = 0; pos < l.pks.length; pos++) {
      const score = l.scores[pos]!;
      if (!Number.isNaN(score)) all.push({ pk: l.pks[pos]!, score, list, pos });
    }
  });
  const cmp = (a: Entry, b: Entry) =>
    a.score !== b.score ? (larger ? b.score - a.score : a.score - b.score) : a.list - b.list || a.pos - b.pos;
  const best = new Map<bigint | string, Entry>();
  for (const e of all) {
    const cur = best.get(e.pk);
    if (cur === undefined || cmp(e, cur) < 0) best.set(e.pk, e);
  }
  const out = [...best.values()].sort(cmp).slice(0, topk);
  return { pks: out.map((e) => e.pk), scores: out.map((e) => e.score) };
}

function randomLists(r: () => number, larger: boolean, strings: boolean): ScoredPks[] {
  const nLists = 1 + Math.floor(r() * 6);
  const pkSpace = 1 + Math.floor(r() * 60);
  return Array.from({ length: nLists }, () => {
    const n = Math.floor(r() * 25);
    // Coarse scores so equal scores across lists are common.
    const scores = Float32Array.from({ length: n }, () => Math.floor(r() * 8) / 4).sort();
    if (larger) scores.reverse();
    const raw = Array.from({ length: n }, () => Math.floor(r() * pkSpace) - 5);
    const pks = strings ? raw.map((x) => `pk${x}`) : BigInt64Array.from(raw, (x) => BigInt(x));
    return { pks, scores };
  });
}

describe("mergeTopK", () => {
  for (const metric of ["L2", "IP", "HAMMING", "COSINE"] as MetricType[]) {
    for (const strings of [false, true]) {
      it(`${metric}, ${strings ? "VarChar" : "Int64"} keys: matches the reference on 1500 random list sets`, () => {
        const SEED = 31 + (strings ? 100 : 0) + metric.length;
        const r = rng(SEED);
        const larger = metric === "IP" || metric === "COSINE";
        for (let t = 0; t < 1500; t++) {
          const lists = randomLists(r, larger, strings);
          const topk = Math.floor(r() * 30);
          const got = mergeTopK(lists, topk, metric);
          const want = refMerge(lists, topk, larger);
          assert.deepEqual([...got.pks], want.pks, `seed ${SEED} case ${t}`);
          assert.deepEqual([...got.scores], want.scores, `seed ${SEED} case ${t}`);
          assert.equal(Array.isArray(got.pks), strings);
        }
      });
    }
  }

  it("duplicates keep the better score; on equal scores the first list's entry", () => {
    const a: ScoredPks = { pks: BigInt64Array.of(1n, 2n, 3n), scores: Float32Array.of(0.9, 0.5, 0.1) };
    const b: ScoredPks = { pks: BigInt64Array.of(3n, 2n, 4n), scores: Float32Array.of(0.8, 0.5, 0.4) };
    const got = mergeTopK([a, b], 10, "IP");
    assert.deepEqual([...got.pks], [1n, 3n, 2n, 4n]);
    assert.deepEqual([...got.scores], [Math.fround(0.9), Math.fround(0.8), 0.5, Math.fround(0.4)]);
    const l2 = mergeTopK(
      [
        { pks: ["x", "y"], scores: Float32Array.of(1, 2) },
        { pks: ["y", "z"], scores: Float32Array.of(1, 1) },
      ],
      2,
      "L2",
    );
    // y appears with 1 in the second list, better than its 2 in the first; x and y tie at 1: list order.
    assert.deepEqual(l2.pks, ["x", "y"]);
  });

  it("skips NaN padding, handles no lists and topk 0", () => {
    const a: ScoredPks = { pks: BigInt64Array.of(5n, 0n), scores: Float32Array.of(1, Number.NaN) };
    assert.deepEqual([...mergeTopK([a], 5, "L2").pks], [5n]);
    assert.equal(mergeTopK([], 5, "L2").pks.length, 0);
    assert.equal(mergeTopK([a], 0, "L2").pks.length, 0);
  });

  it("rejects unordered lists, mixed key types and length mismatches", () => {
    const bad = (f: () => unknown) => assert.throws(f, (e: unknown) => isStrataError(e, "ParameterInvalid"));
    bad(() => mergeTopK([{ pks: BigInt64Array.of(1n, 2n), scores: Float32Array.of(1, 2) }], 2, "IP"));
    bad(() => mergeTopK([{ pks: BigInt64Array.of(1n, 2n), scores: Float32Array.of(2, 1) }], 2, "L2"));
    bad(() =>
      mergeTopK(
        [
          { pks: BigInt64Array.of(1n), scores: Float32Array.of(1) },
          { pks: ["a"], scores: Float32Array.of(1) },
        ],
        2,
        "L2",
      ),
    );
    bad(() => mergeTopK([{ pks: BigInt64Array.of(1n), scores: Float32Array.of(1, 2) }], 2, "L2"));
  });
});

describe("TopKHeaps and partial-result merging", () => {
  it("keep the k smallest (key, id) pairs in any arrival order", () => {
    const SEED = 41;
    const r = rng(SEED);
    for (let t = 0; t < 300; t++) {
      const k = 1 + Math.floor(r() * 20);
      const n = Math.floor(r() * 60);
      const items = Array.from({ length: n }, (_, id) => ({ key: Math.fround(Math.floor(r() * 6) / 2), id }));
      const shuffled = [...items].sort(() => r() - 0.5);
      const heaps = new TopKHeaps(1, k);
      for (const it of shuffled) if (it.key <= heaps.bound[0]!) heaps.push(0, it.key, it.id);
      const res = heaps.finish(false);
      const want = [...items].sort((a, b) => a.key - b.key || a.id - b.id).slice(0, k);
      assert.deepEqual(
        [...res.offsets].slice(0, want.length),
        want.map((w) => w.id),
        `seed ${SEED} case ${t}`,
      );
      assert.ok([...res.offsets].slice(want.length).every((o) => o === -1));
    }
  });

  it("mergeOffsetResults of split ranges equals the whole", () => {
    const SEED = 42;
    const r = rng(SEED);
    for (const negate of [false, true]) {
      const keys = Array.from({ length: 200 }, () => Math.fround(Math.floor(r() * 30)));
      const whole = new TopKHeaps(1, 15);
      const parts = [new TopKHeaps(1, 15), new TopKHeaps(1, 15), new TopKHeaps(1, 15)];
      keys.forEach((key, id) => {
        whole.push(0, key, id);
        parts[Math.floor((id * 3) / 200)]!.push(0, key, id);
      });
      const merged = mergeOffsetResults(
        parts.reverse().map((p) => p.finish(negate)),
        negate,
      );
      const want = whole.finish(negate);
      assert.deepEqual([...merged.offsets], [...want.offsets]);
      assert.deepEqual([...merged.scores], [...want.scores]);
    }
  });
});

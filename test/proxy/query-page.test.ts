// The proxy's query page (merge of the nodes' key-ordered results, a key once, offset/limit, then
// the output columns gathered in page order) against a plain row-object oracle, on seeded random
// node results with keys shared between nodes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Column } from "../../src/common/column.ts";
import { DataType } from "../../src/common/types.ts";
import { gatherPage, pageOf } from "../../src/proxy/query-page.ts";
import type { NodeQueryResult } from "../../src/querynode/types.ts";
import { rng } from "../helpers/env.ts";

const DIM = 3;

/** A node's result: sorted unique keys, a tag column and a vector column derived from (node, key). */
function nodeResult(node: number, keys: bigint[]): NodeQueryResult {
  const pks = BigInt64Array.from([...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  const tags: Column = { type: DataType.VarChar, data: [...pks].map((k) => `n${node}:${k}`) };
  const vec: Column = {
    type: DataType.FloatVector,
    dim: DIM,
    data: Float32Array.from(
      { length: pks.length * DIM },
      (_, i) => node * 1000 + Number(pks[Math.floor(i / DIM)]) + (i % DIM) / 10,
    ),
  };
  return {
    count: pks.length,
    pks,
    fields: [
      { fieldId: 101, column: tags },
      { fieldId: 102, column: vec },
    ],
  };
}

function oracle(perNode: readonly NodeQueryResult[], offset: number, limit: number | undefined) {
  const rows: { pk: bigint; node: number; row: number }[] = [];
  perNode.forEach((r, node) => {
    for (let row = 0; row < r.pks.length; row++) rows.push({ pk: r.pks[row] as bigint, node, row });
  });
  rows.sort((a, b) => (a.pk < b.pk ? -1 : a.pk > b.pk ? 1 : a.node - b.node));
  const unique = rows.filter((r, i) => i === 0 || rows[i - 1]?.pk !== r.pk);
  return unique.slice(offset, limit === undefined ? undefined : offset + limit);
}

describe("query page: merge, dedupe, offset/limit, columns in page order", () => {
  for (let seed = 1; seed <= 40; seed++) {
    it(`seed ${seed}`, () => {
      const r = rng(seed);
      const nodes = 1 + Math.floor(r() * 4);
      const perNode = Array.from({ length: nodes }, (_, n) =>
        nodeResult(
          n,
          Array.from({ length: Math.floor(r() * 60) }, () => BigInt(Math.floor(r() * 120) - 20)),
        ),
      );
      const offset = Math.floor(r() * 30);
      const limit = r() < 0.3 ? undefined : 1 + Math.floor(r() * 50);
      const want = oracle(perNode, offset, limit);
      const page = pageOf(perNode, offset, limit);
      assert.deepEqual(
        [...page.node].map((n, i) => [n, page.row[i]]),
        want.map((w) => [w.node, w.row]),
        `seed ${seed}: page`,
      );
      const tags = gatherPage(perNode, 101, page);
      assert.deepEqual(
        tags.data,
        want.map((w) => `n${w.node}:${w.pk}`),
        `seed ${seed}: string column`,
      );
      const vec = gatherPage(perNode, 102, page);
      assert.ok(vec.type === DataType.FloatVector);
      assert.deepEqual(
        [...vec.data],
        want.flatMap((w) => [0, 1, 2].map((d) => Math.fround(w.node * 1000 + Number(w.pk) + d / 10))),
        `seed ${seed}: vector column`,
      );
    });
  }

  it("a field a node did not return is a ServiceInternal error", () => {
    const perNode = [nodeResult(0, [1n, 2n]), nodeResult(1, [3n])];
    assert.throws(() => gatherPage(perNode, 999, pageOf(perNode, 0, undefined)), /no column for field 999/);
  });
});

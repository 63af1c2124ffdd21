import assert from "node:assert/strict";
import { describe, it } from "node:test";
import sdk from "@zilliz/milvus2-sdk-node";
import { indexSearchParams } from "../../../src/api/milvus/search-params.ts";
import { kvs } from "../../../src/api/milvus/wire.ts";
import { isStrataError } from "../../../src/common/errors.ts";

const { buildSearchParams, parseToKeyValue } = sdk;

/** `search_params` as the handler reads it from the wire (values arrive as strings). */
function wire(pairs: readonly { key: string; value: unknown }[]): Map<string, string> {
  return kvs({ search_params: pairs.map((p) => ({ key: p.key, value: String(p.value) })) }, "search_params");
}

/** What SDK 3.0.6 puts in `search_params` for `client.search(req)` (its own code, no server). */
function fromSdk(req: Record<string, unknown>): Map<string, string> {
  const sp = req.search_params as Record<string, unknown> | undefined;
  return wire(
    parseToKeyValue(sp ?? buildSearchParams(req as never, "v")) as { key: string; value: unknown }[],
  );
}

describe("Milvus gRPC search_params → index search parameters", () => {
  it("reads `params: { ef }` of client.search (JSON under params, and the flat copy)", () => {
    const sp = fromSdk({ collection_name: "c", data: [1, 2], limit: 5, params: { ef: 64 } });
    assert.equal(sp.get("params"), '{"ef":64}');
    assert.equal(sp.get("ef"), "64", "the SDK copies each param to a key of its own");
    assert.deepEqual(indexSearchParams(sp), { ef: 64 });
    assert.deepEqual(indexSearchParams(fromSdk({ data: [1], params: { nprobe: 8 } })), { nprobe: 8 });
  });

  it("reads the older search_params shapes: JSON text under params, or flat keys", () => {
    const json = fromSdk({
      data: [1],
      search_params: { anns_field: "v", topk: 5, metric_type: "L2", params: JSON.stringify({ nprobe: 16 }) },
    });
    assert.deepEqual(indexSearchParams(json), { nprobe: 16 });
    const flat = fromSdk({ data: [1], search_params: { anns_field: "v", topk: 5, ef: 32 } });
    assert.deepEqual(indexSearchParams(flat), { ef: 32 });
  });

  it("leaves out the keys that frame the search", () => {
    const sp = fromSdk({
      data: [1],
      limit: 7,
      offset: 2,
      metric_type: "IP",
      ignore_growing: true,
      params: {},
    });
    assert.deepEqual(indexSearchParams(sp), {});
    assert.deepEqual(indexSearchParams(new Map()), {});
  });

  it("prefers the JSON object when it and a flat key disagree; keeps non-numbers for the proxy to refuse", () => {
    assert.deepEqual(
      indexSearchParams(
        wire([
          { key: "ef", value: 8 },
          { key: "params", value: '{"ef":"96"}' },
        ]),
      ),
      {
        ef: 96,
      },
    );
    assert.deepEqual(indexSearchParams(wire([{ key: "params", value: '{"ef":"abc","level":1.5}' }])), {
      ef: "abc",
      level: 1.5,
    });
    // Nested values under keys no index reads travel as text and are ignored downstream.
    assert.deepEqual(
      indexSearchParams(wire([{ key: "params", value: '{"ef":0,"filter_hint":{"a":1},"x":true}' }])),
      {
        ef: 0,
        filter_hint: '{"a":1}',
        x: "true",
      },
    );
  });

  it("refuses params that are not a JSON object, and range search", () => {
    for (const bad of ["{ef:64}", "[64]", "64", "null", "[object Object]"]) {
      assert.throws(
        () => indexSearchParams(wire([{ key: "params", value: bad }])),
        (e: unknown) => isStrataError(e, "ParameterInvalid") && /JSON object/.test(e.message),
        bad,
      );
    }
    assert.throws(
      () => indexSearchParams(wire([{ key: "params", value: '{"radius":0.5}' }])),
      (e: unknown) => isStrataError(e, "ParameterInvalid") && /range search/.test(e.message),
    );
  });
});

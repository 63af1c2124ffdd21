import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Params } from "../../../src/api/rest/params.ts";
import { restSearchParams } from "../../../src/api/rest/search-params.ts";
import { isStrataError } from "../../../src/common/errors.ts";
import type { NodeSearchRequest } from "../../../src/querynode/types.ts";
import { call, dig, okData, type RestHarness, rowsOf, startRest, waitLoaded } from "./harness.ts";

const DIM = 4;

describe("REST v2 searchParams → index search parameters", () => {
  const parse = (body: Record<string, unknown>) => restSearchParams(new Params(body));

  it("reads searchParams.params (Milvus' place) and flat keys under searchParams", () => {
    assert.deepEqual(parse({ searchParams: { metricType: "L2", params: { ef: 64 } } }), { ef: 64 });
    assert.deepEqual(parse({ searchParams: { params: { nprobe: 8 } } }), { nprobe: 8 });
    assert.deepEqual(parse({ searchParams: { ef: 32, metricType: "IP" } }), { ef: 32 });
    assert.deepEqual(parse({ searchParams: { ef: 1, params: { ef: "96" } } }), { ef: "96" }, "nested wins");
    assert.deepEqual(parse({}), {});
    assert.deepEqual(parse({ searchParams: { metric_type: "L2", ignore_growing: true, params: null } }), {});
  });

  it("passes values the proxy will refuse as text, never throwing on odd JSON", () => {
    assert.deepEqual(
      parse({ searchParams: { params: { ef: true, nprobe: [1], level: 12345678901234567890n } } }),
      {
        ef: "true",
        nprobe: "[1]",
        level: "12345678901234567890",
      },
    );
  });

  it("refuses searchParams or params that are not objects with IncorrectParameterFormat", () => {
    for (const body of [{ searchParams: 5 }, { searchParams: { params: "ef=64" } }]) {
      assert.throws(
        () => parse(body),
        (e: unknown) => e instanceof Error && !isStrataError(e) && /must be an object/.test(e.message),
      );
    }
  });
});

describe("REST v2 search with index parameters (standalone)", () => {
  let h: RestHarness;
  const seen: NodeSearchRequest[] = [];
  const rows = Array.from({ length: 40 }, (_, i) => ({
    pk: i,
    v: Array.from({ length: DIM }, (_, k) => Math.sin(i * 7 + k)),
  }));

  before(async () => {
    h = await startRest();
    const qn = h.node.querynode;
    const search = qn.search.bind(qn);
    qn.search = (req) => {
      seen.push(req);
      return search(req);
    };
    for (const [name, indexType, params] of [
      ["rest_hnsw", "HNSW", {}],
      ["rest_flat", "FLAT", {}],
    ] as const) {
      okData(
        await call(h.url, "collections/create", {
          collectionName: name,
          schema: {
            fields: [
              { fieldName: "pk", dataType: "Int64", isPrimary: true },
              { fieldName: "v", dataType: "FloatVector", elementTypeParams: { dim: DIM } },
            ],
          },
          indexParams: [{ fieldName: "v", metricType: "L2", indexType, params }],
        }),
      );
      okData(await call(h.url, "entities/insert", { collectionName: name, data: rows }));
      await waitLoaded(h.url, name);
    }
  });
  after(async () => {
    await h?.close();
  });

  const search = (collectionName: string, extra: Record<string, unknown>) =>
    call(h.url, "entities/search", {
      collectionName,
      data: [rows[9]?.v],
      limit: 3,
      consistencyLevel: "Strong",
      ...extra,
    });

  it("hands ef to the query node and answers", async () => {
    seen.length = 0;
    const r = await search("rest_hnsw", { searchParams: { metricType: "L2", params: { ef: 64 } } });
    assert.equal(rowsOf(r)[0]?.pk, "9", r.text);
    assert.ok(seen.length > 0);
    for (const req of seen) assert.deepEqual(req.searchParams, { ef: 64 });
    seen.length = 0;
    okData(await search("rest_hnsw", { searchParams: { ef: 16 } }));
    for (const req of seen) assert.deepEqual(req.searchParams, { ef: 16 }, "flat searchParams.ef");
  });

  it("refuses bad values with 1100 and a message naming them", async () => {
    seen.length = 0;
    const zero = await search("rest_hnsw", { searchParams: { params: { ef: 0 } } });
    assert.equal(dig(zero.body, "code"), 1100, zero.text);
    assert.match(String(dig(zero.body, "message")), /ef must be an integer/);
    const small = await search("rest_hnsw", { offset: 2, searchParams: { params: { ef: 4 } } });
    assert.equal(dig(small.body, "code"), 1100, small.text);
    assert.match(String(dig(small.body, "message")), /ef \(4\) must be at least topk \(5\)/);
    const text = await search("rest_hnsw", { searchParams: { params: { ef: "abc" } } });
    assert.equal(dig(text.body, "code"), 1100, text.text);
    assert.equal(seen.length, 0, "no refused search reached the node");
  });

  it("ignores parameters a FLAT index does not take", async () => {
    seen.length = 0;
    const r = await search("rest_flat", { searchParams: { params: { ef: 0, nprobe: 70000 } } });
    assert.equal(rowsOf(r)[0]?.pk, "9", r.text);
    for (const req of seen) assert.equal(Object.hasOwn(req, "searchParams"), false);
  });
});

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { call, dig, okData, type RestHarness, rowsOf, startRest, waitLoaded } from "./harness.ts";

const BIG = 1n << 60n;

describe("REST v2: value shapes per data type", () => {
  let h: RestHarness;

  before(async () => {
    h = await startRest();
  });
  after(async () => {
    await h?.close();
  });

  it("VarChar keys (quick create with idType VarChar)", async () => {
    okData(
      await call(h.url, "collections/create", {
        collectionName: "vc",
        dimension: 4,
        idType: "VarChar",
        metricType: "L2",
        params: { max_length: 8, enableDynamicField: false },
      }),
    );
    await waitLoaded(h.url, "vc");
    const d = okData(await call(h.url, "collections/describe", { collectionName: "vc" }));
    assert.equal(dig(d, "enableDynamicField"), false);
    assert.deepEqual(dig(d, "fields", 0, "params"), [{ key: "max_length", value: "8" }]);
    const ins = okData(
      await call(h.url, "entities/insert", {
        collectionName: "vc",
        data: [
          { id: "a", vector: [0, 0, 0, 1] },
          { id: "b", vector: [0, 0, 1, 0] },
        ],
      }),
    );
    assert.deepEqual(ins, { insertCount: 2, insertIds: ["a", "b"] });
    const hits = rowsOf(
      await call(h.url, "entities/search", {
        collectionName: "vc",
        data: [[0, 0, 1, 0]],
        limit: 2,
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(hits, [
      { id: "b", distance: 0 },
      { id: "a", distance: 2 },
    ]);
    const tooLong = await call(h.url, "entities/insert", {
      collectionName: "vc",
      data: [{ id: "way-too-long", vector: [1, 1, 1, 1] }],
    });
    assert.equal(dig(tooLong.body, "code"), 1100, tooLong.text);
  });

  it("auto-ID keys: generated, returned as strings or exact integers per the header", async () => {
    okData(await call(h.url, "collections/create", { collectionName: "auto", dimension: 2, autoID: true }));
    const ins = okData(
      await call(h.url, "entities/insert", {
        collectionName: "auto",
        data: [
          { vector: [1, 0], id: null },
          { vector: [0, 1], note: "dynamic" },
        ],
      }),
    );
    const ids = dig(ins, "insertIds") as string[];
    assert.equal(ids.length, 2);
    assert.ok(ids.every((x) => /^\d+$/.test(x)) && ids[0] !== ids[1], JSON.stringify(ids));
    const raw = await call(
      h.url,
      "entities/insert",
      { collectionName: "auto", data: [{ vector: [1, 1] }] },
      { "Accept-Type-Allow-Int64": "true" },
    );
    assert.match(raw.text, /"insertIds":\[\d+\]/);
    const given = await call(h.url, "entities/insert", {
      collectionName: "auto",
      data: [{ id: 5, vector: [1, 1] }],
    });
    assert.equal(dig(given.body, "code"), 1100, "an auto-ID key cannot be given on insert");
  });

  it("binary vectors (base64 or bytes in, base64 out), JSON, Int64 arrays, Double, Bool", async () => {
    okData(
      await call(h.url, "collections/create", {
        collectionName: "typed",
        schema: {
          fields: [
            { fieldName: "pk", dataType: "Int64", isPrimary: true },
            { fieldName: "bv", dataType: "BinaryVector", elementTypeParams: { dim: 16 } },
            { fieldName: "j", dataType: "JSON" },
            {
              fieldName: "arr",
              dataType: "Array",
              elementDataType: "Int64",
              elementTypeParams: { max_capacity: 4 },
            },
            { fieldName: "d", dataType: "Double" },
            { fieldName: "b", dataType: "Bool" },
          ],
        },
        indexParams: [{ fieldName: "bv", indexName: "bv_idx", metricType: "HAMMING", indexType: "BIN_FLAT" }],
      }),
    );
    await waitLoaded(h.url, "typed");
    const d = okData(await call(h.url, "collections/describe", { collectionName: "typed" }));
    assert.equal(dig(d, "fields", 3, "elementType"), "Int64");
    okData(
      await call(h.url, "entities/insert", {
        collectionName: "typed",
        data: [
          {
            pk: 1,
            bv: Buffer.from([0xff, 0x00]).toString("base64"),
            j: { a: [1, "x"] },
            arr: [1, 2],
            d: 0.1,
            b: true,
          },
          { pk: 2, bv: [0x0f, 0xf0], j: { a: null }, arr: [BIG.toString()], d: -2.5, b: false },
        ],
      }),
    );
    const rows = rowsOf(
      await call(h.url, "entities/query", {
        collectionName: "typed",
        filter: "pk > 0",
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(rows, [
      {
        pk: "1",
        bv: Buffer.from([0xff, 0x00]).toString("base64"),
        j: { a: [1, "x"] },
        arr: ["1", "2"],
        d: 0.1,
        b: true,
      },
      {
        pk: "2",
        bv: Buffer.from([0x0f, 0xf0]).toString("base64"),
        j: { a: null },
        arr: [BIG.toString()],
        d: -2.5,
        b: false,
      },
    ]);
    const exact = await call(
      h.url,
      "entities/get",
      { collectionName: "typed", id: 2, outputFields: ["arr"], consistencyLevel: "Strong" },
      { "Accept-Type-Allow-Int64": "true" },
    );
    assert.ok(exact.text.includes(`"arr":[${BIG}]`), exact.text);
    const hits = rowsOf(
      await call(h.url, "entities/search", {
        collectionName: "typed",
        data: [Buffer.from([0x0f, 0xf0]).toString("base64")],
        limit: 2,
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(hits, [
      { pk: "2", distance: 0 },
      { pk: "1", distance: 8 },
    ]);
  });
});

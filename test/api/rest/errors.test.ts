import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import type { Authenticator } from "../../../src/api/hooks.ts";
import { StrataError } from "../../../src/common/errors.ts";
import { call, dig, okData, type RestHarness, startRest, waitLoaded } from "./harness.ts";

const C = "rest_errors";
const DIM = 4;

interface HookCall {
  protocol: string;
  method: string;
  code: string;
}

/** Raw HTTP exchange, for what fetch cannot express (early answers to oversized uploads). */
function rawPost(
  base: string,
  path: string,
  headers: Record<string, string | number>,
  feed: (write: (chunk: Buffer) => boolean, end: () => void) => void,
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: "POST", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString(),
          headers: res.headers,
        }),
      );
    });
    // The server may close mid-upload once it has answered; the answer is what is checked.
    req.on("error", (e) =>
      e.message.includes("EPIPE") || e.message.includes("ECONNRESET") ? undefined : reject(e),
    );
    feed(
      (c) => req.write(c),
      () => req.end(),
    );
  });
}

describe("REST v2: errors, limits, auth and hooks", () => {
  let h: RestHarness;
  const hookCalls: HookCall[] = [];
  const rowsSeen: [string, number][] = [];

  before(async () => {
    h = await startRest({
      hooks: {
        onRequest: (protocol, method, code) => hookCalls.push({ protocol, method, code }),
        onRows: (kind, n) => rowsSeen.push([kind, n]),
      },
    });
    okData(
      await call(h.url, "collections/create", {
        collectionName: C,
        schema: {
          fields: [
            { fieldName: "pk", dataType: "Int64", isPrimary: true },
            { fieldName: "v", dataType: "FloatVector", elementTypeParams: { dim: DIM } },
            { fieldName: "tag", dataType: "VarChar", elementTypeParams: { max_length: 16 } },
          ],
        },
        indexParams: [{ fieldName: "v", metricType: "L2", indexType: "FLAT" }],
      }),
    );
  });
  after(async () => {
    await h?.close();
  });

  it("answers unknown paths 404 and unsupported actions with a clear error, never a success", async () => {
    const nf = await fetch(`${h.url}/v1/whatever`, { method: "POST", body: "{}" });
    assert.equal(nf.status, 404);
    const body = (await nf.json()) as { code: number; message: string };
    assert.equal(body.code, 404);
    assert.match(body.message, /not found/);
    for (const route of [
      "aliases/list",
      "databases/create",
      "users/list",
      "collections/compact",
      "nothing/here",
    ]) {
      const r = await call(h.url, route, { collectionName: C });
      assert.equal(r.status, 200);
      assert.equal(dig(r.body, "code"), 10, r.text);
      assert.match(String(dig(r.body, "message")), /not supported/);
    }
    for (const route of ["entities/hybrid_search", "collections/rename"]) {
      const r = await call(h.url, route, { collectionName: C, newCollectionName: "x", search: [] });
      assert.equal(dig(r.body, "code"), 10, r.text);
      assert.match(String(dig(r.body, "message")), /not supported/);
    }
    const get = await fetch(`${h.url}/v2/vectordb/collections/list`);
    assert.equal(get.status, 405);
  });

  it("refuses malformed bodies (1801), missing parameters (1802) and other databases (800)", async () => {
    const bad = await call(h.url, "collections/describe", '{"collectionName": ');
    assert.equal(dig(bad.body, "code"), 1801, bad.text);
    const empty = await call(h.url, "collections/list", "");
    assert.equal(dig(empty.body, "code"), 1801, empty.text);
    const notObject = await call(h.url, "collections/list", "[1,2]");
    assert.equal(dig(notObject.body, "code"), 1801, notObject.text);
    const wrongType = await call(h.url, "entities/query", { collectionName: C, limit: "ten" });
    assert.equal(dig(wrongType.body, "code"), 1801, wrongType.text);
    const noName = await call(h.url, "collections/describe", {});
    assert.equal(dig(noName.body, "code"), 1802, noName.text);
    assert.match(String(dig(noName.body, "message")), /collectionName/);
    const otherDb = await call(h.url, "collections/list", { dbName: "sales" });
    assert.equal(dig(otherDb.body, "code"), 800, otherDb.text);
    okData(await call(h.url, "collections/list", { dbName: "default" }));
    okData(await call(h.url, "collections/list", { dbName: "" }));
  });

  it("maps data-layer errors to their Milvus codes and writes nothing on bad input", async () => {
    const unknown = await call(h.url, "collections/describe", { collectionName: "nope" });
    assert.equal(dig(unknown.body, "code"), 100, unknown.text);
    const insUnknown = await call(h.url, "entities/insert", { collectionName: "nope", data: [{ pk: 1 }] });
    assert.equal(dig(insUnknown.body, "code"), 100, insUnknown.text);
    const wrongDim = await call(h.url, "entities/insert", {
      collectionName: C,
      data: [
        { pk: 1, v: [1, 2, 3, 4], tag: "a" },
        { pk: 2, v: [1, 2, 3], tag: "b" },
      ],
    });
    assert.equal(dig(wrongDim.body, "code"), 1100, wrongDim.text);
    assert.match(String(dig(wrongDim.body, "message")), /dim/);
    okData(
      await call(h.url, "entities/insert", {
        collectionName: C,
        data: [{ pk: 7, v: [0, 0, 0, 1], tag: "t" }],
      }),
    );
    await waitLoaded(h.url, C);
    const count = okData(
      await call(h.url, "entities/query", {
        collectionName: C,
        outputFields: ["count(*)"],
        consistencyLevel: "Strong",
      }),
    );
    assert.deepEqual(count, [{ "count(*)": "1" }], "the refused batch left no row behind");
    const searchDim = await call(h.url, "entities/search", { collectionName: C, data: [[1, 2]] });
    assert.equal(dig(searchDim.body, "code"), 1100, searchDim.text);
    const badFilter = await call(h.url, "entities/query", {
      collectionName: C,
      filter: "tag === ",
      consistencyLevel: "Strong",
    });
    assert.notEqual(dig(badFilter.body, "code"), 0, badFilter.text);
    assert.equal(typeof dig(badFilter.body, "message"), "string");
    const badMetric = await call(h.url, "entities/search", {
      collectionName: C,
      data: [[1, 2, 3, 4]],
      searchParams: { metricType: "MANHATTAN" },
    });
    assert.equal(dig(badMetric.body, "code"), 1100, badMetric.text);
    const range = await call(h.url, "entities/search", {
      collectionName: C,
      data: [[1, 2, 3, 4]],
      searchParams: { params: { radius: 1 } },
    });
    assert.equal(dig(range.body, "code"), 10, range.text);
  });

  it("creates nothing when an index names a field the schema lacks; refuses nullable fields", async () => {
    const r = await call(h.url, "collections/create", {
      collectionName: "half_made",
      schema: {
        fields: [
          { fieldName: "id", dataType: "Int64", isPrimary: true },
          { fieldName: "v", dataType: "FloatVector", elementTypeParams: { dim: 2 } },
        ],
      },
      indexParams: [{ fieldName: "vector", metricType: "L2" }],
    });
    assert.equal(dig(r.body, "code"), 1802, r.text);
    assert.deepEqual(okData(await call(h.url, "collections/has", { collectionName: "half_made" })), {
      has: false,
    });
    const nullable = await call(h.url, "collections/create", {
      collectionName: "with_null",
      schema: {
        fields: [
          { fieldName: "id", dataType: "Int64", isPrimary: true },
          { fieldName: "v", dataType: "FloatVector", elementTypeParams: { dim: 2 } },
          { fieldName: "x", dataType: "Int32", nullable: true },
        ],
      },
    });
    assert.equal(dig(nullable.body, "code"), 10, nullable.text);
    const badType = await call(h.url, "collections/create", {
      collectionName: "bad_type",
      schema: {
        fields: [
          { fieldName: "id", dataType: "int64", isPrimary: true },
          { fieldName: "v", dataType: "FloatVector", elementTypeParams: { dim: 2 } },
        ],
      },
    });
    assert.notEqual(dig(badType.body, "code"), 0, badType.text);
    assert.match(String(dig(badType.body, "message")), /int64/);
  });

  it("refuses a body over the limit before reading it (declared) and as it passes the limit (chunked)", async () => {
    const declared = await rawPost(
      h.url,
      "/v2/vectordb/entities/insert",
      { "Content-Type": "application/json", "Content-Length": 64 * 1024 * 1024 + 1 },
      (write) => write(Buffer.from('{"collectionName":"x","data":[')),
    );
    assert.equal(declared.status, 413);
    assert.equal(JSON.parse(declared.text).code, 1102);
    assert.match(JSON.parse(declared.text).message, /64 MiB/);

    const small = await h.extra({ maxBodyBytes: 1024 * 1024 });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const chunked = await rawPost(
      small,
      "/v2/vectordb/entities/insert",
      { "Transfer-Encoding": "chunked" },
      (write, end) => {
        const pump = () => {
          // 64 MiB at most; the answer must come long before that.
          while (sent < 64 * 1024 * 1024) {
            sent += chunk.length;
            if (!write(chunk)) {
              setTimeout(pump, 1);
              return;
            }
          }
          end();
        };
        pump();
      },
    );
    assert.equal(chunked.status, 413);
    assert.equal(JSON.parse(chunked.text).code, 1102);
    assert.equal(chunked.headers.connection, "close");
    assert.ok(sent < 64 * 1024 * 1024, `answered after ${sent} bytes, before the upload ended`);
    // The server is still healthy afterwards.
    okData(await call(small, "collections/list", {}));
  });

  it("reports every request to onRequest with bounded method names, and rows to onRows", async () => {
    hookCalls.length = 0;
    rowsSeen.length = 0;
    okData(await call(h.url, "collections/list", {}));
    await call(h.url, "collections/describe", { collectionName: "nope" });
    await call(h.url, "no/such/route/with/parts", {});
    okData(
      await call(h.url, "entities/insert", {
        collectionName: C,
        data: [{ pk: 8, v: [1, 1, 1, 1], tag: "x" }],
      }),
    );
    okData(await call(h.url, "entities/delete", { collectionName: C, id: [8] }));
    assert.deepEqual(hookCalls, [
      { protocol: "rest", method: "collections/list", code: "Success" },
      { protocol: "rest", method: "collections/describe", code: "CollectionNotFound" },
      { protocol: "rest", method: "unsupported", code: "Unimplemented" },
      { protocol: "rest", method: "entities/insert", code: "Success" },
      { protocol: "rest", method: "entities/delete", code: "Success" },
    ]);
    assert.deepEqual(rowsSeen, [
      ["insert", 1],
      ["delete", 1],
    ]);
  });

  it("checks credentials when auth is on: 401 with code 1800 without them", async () => {
    const auth: Authenticator = {
      enabled: true,
      authenticateGrpc: async () => "root",
      authenticateHttp: async (header) => {
        if (header === "Bearer root:Milvus") return "root";
        throw new StrataError("AuthenticationFailed", "wrong user name or password");
      },
    };
    const guarded = await h.extra({ auth });
    const none = await call(guarded, "collections/list", {});
    assert.equal(none.status, 401);
    assert.equal(dig(none.body, "code"), 1800);
    const wrong = await call(guarded, "collections/list", {}, { Authorization: "Bearer root:nope" });
    assert.equal(wrong.status, 401);
    assert.match(String(dig(wrong.body, "message")), /wrong user name or password/);
    const right = await call(guarded, "collections/list", {}, { Authorization: "Bearer root:Milvus" });
    assert.ok((okData(right) as string[]).includes(C));
  });
});

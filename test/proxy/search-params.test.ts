import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Strata } from "../../src/api/embedded.ts";
import { isStrataError } from "../../src/common/errors.ts";
import type { CollectionSchema } from "../../src/common/schema.ts";
import { DataType } from "../../src/common/types.ts";
import type { IndexDefinition } from "../../src/dataservice/types.ts";
import { ReadPath, searchParamsFor } from "../../src/proxy/read.ts";
import type { NodeSearchRequest, QueryNode } from "../../src/querynode/types.ts";
import type { Distribution, QueryService } from "../../src/queryservice/types.ts";
import type { CollectionInfo, RootCoord } from "../../src/rootcoord/types.ts";
import { rng, tempDir } from "../helpers/env.ts";

const invalid = (pattern: RegExp) => (e: unknown) =>
  isStrataError(e, "ParameterInvalid") && pattern.test(e.message);

const HNSW = { resolvedType: "HNSW" };
const IVF = { resolvedType: "IVF_FLAT" };
const SQ8 = { resolvedType: "IVF_SQ8" };
const FLAT = { resolvedType: "FLAT" };

describe("search params: validation against the searched field's index", () => {
  it("keeps the parameters the index type takes, as integers, and drops the rest", () => {
    assert.deepEqual(searchParamsFor(HNSW, { ef: 64, nprobe: 3, radius: "x" }, 10), { ef: 64 });
    assert.deepEqual(searchParamsFor(HNSW, { ef: "64" }, 64), { ef: 64 });
    assert.deepEqual(searchParamsFor(IVF, { nprobe: 8, ef: 0 }, 10), { nprobe: 8 });
    assert.deepEqual(searchParamsFor(SQ8, { nprobe: 65536 }, 16384), { nprobe: 65536 });
    assert.deepEqual(searchParamsFor(HNSW, {}, 10), {});
    assert.deepEqual(searchParamsFor(HNSW, undefined, 10), {});
  });

  it("ignores everything for exact indexes and fields without an index", () => {
    assert.deepEqual(searchParamsFor(FLAT, { ef: 0, nprobe: 70000 }, 10), {});
    assert.deepEqual(searchParamsFor({ resolvedType: "BIN_FLAT" }, { ef: "abc" }, 10), {});
    assert.deepEqual(searchParamsFor(undefined, { ef: 0, nprobe: -1 }, 10), {});
  });

  it("refuses out-of-range and non-integer values with ParameterInvalid naming the parameter", () => {
    assert.throws(
      () => searchParamsFor(HNSW, { ef: 0 }, 1),
      invalid(/ef must be an integer in \[1, 32768\]/),
    );
    assert.throws(() => searchParamsFor(HNSW, { ef: 32769 }, 1), invalid(/ef/));
    assert.throws(() => searchParamsFor(HNSW, { ef: "abc" }, 1), invalid(/ef .*"abc"/));
    assert.throws(() => searchParamsFor(HNSW, { ef: 64.5 }, 1), invalid(/ef/));
    assert.throws(() => searchParamsFor(IVF, { nprobe: 70000 }, 10), invalid(/nprobe .*65536/));
    assert.throws(() => searchParamsFor(SQ8, { nprobe: 0 }, 10), invalid(/nprobe/));
    assert.throws(() => searchParamsFor(IVF, { nprobe: "" }, 10), invalid(/nprobe/));
  });

  it("refuses an HNSW ef below topk (limit + offset), as Milvus", () => {
    assert.throws(
      () => searchParamsFor(HNSW, { ef: 9 }, 10),
      invalid(/ef \(9\) must be at least topk \(10\)/),
    );
    assert.deepEqual(searchParamsFor(HNSW, { ef: 10 }, 10), { ef: 10 });
    // nprobe has no such bound: one probed list can hold more than topk rows.
    assert.deepEqual(searchParamsFor(IVF, { nprobe: 1 }, 100), { nprobe: 1 });
  });

  it("refuses params that are not an object", () => {
    const notObject = [null, 5, "ef=64", [64]] as unknown as Record<string, number>[];
    for (const p of notObject) assert.throws(() => searchParamsFor(HNSW, p, 10), invalid(/params/));
  });
});

/** A read path over one fake node that records what it is asked. */
function fakeReadPath(index: Pick<IndexDefinition, "resolvedType"> | undefined) {
  const schema: CollectionSchema = {
    name: "c",
    description: "",
    enableDynamicField: false,
    fields: [
      {
        fieldId: 100,
        name: "id",
        dataType: DataType.Int64,
        isPrimaryKey: true,
        autoId: false,
        description: "",
        isPartitionKey: false,
        isDynamic: false,
      },
      {
        fieldId: 101,
        name: "v",
        dataType: DataType.FloatVector,
        isPrimaryKey: false,
        autoId: false,
        description: "",
        isPartitionKey: false,
        isDynamic: false,
        dim: 2,
      },
    ],
  };
  const info: CollectionInfo = {
    collectionId: 7n,
    dbId: 1n,
    schema,
    shardsNum: 1,
    channels: ["ch0"],
    partitions: [{ partitionId: 8n, name: "_default", createTs: 1n }],
    createTs: 1n,
  };
  const dist: Distribution = {
    collectionId: 7n,
    partitionIds: [8n],
    channels: [{ channel: "ch0", nodeId: 1 }],
    sealed: [],
  };
  const seen: NodeSearchRequest[] = [];
  const node = {
    tSafe: () => 100n,
    search: async (req: NodeSearchRequest) => {
      seen.push(req);
      return {
        results: Array.from({ length: req.nq }, () => ({
          pks: new BigInt64Array([1n]),
          scores: new Float32Array([0.5]),
          fields: [],
        })),
      };
    },
  } as unknown as QueryNode;
  const def: IndexDefinition | undefined =
    index === undefined
      ? undefined
      : {
          indexId: 1n,
          collectionId: 7n,
          fieldId: 101,
          indexName: "v",
          indexType: index.resolvedType,
          resolvedType: index.resolvedType,
          metricType: "L2",
          params: {},
          createTime: 1n,
        };
  const read = new ReadPath({
    rootcoord: {
      describeCollection: async () => info,
      allocTimestamp: async () => 100n,
    } as unknown as RootCoord,
    queryservice: { getDistribution: async () => dist } as unknown as QueryService,
    queryNodes: (id) => (id === 1 ? node : undefined),
    indexes: async () => (def === undefined ? [] : [def]),
    lastWriteTs: () => 0n,
  });
  return { read, seen };
}

describe("search params: the proxy puts them on every node request", () => {
  const data = [[1, 0]];

  it("passes validated HNSW ef and IVF nprobe to the node", async () => {
    const h = fakeReadPath(HNSW);
    const hits = await h.read.search({
      collectionName: "c",
      data,
      limit: 5,
      offset: 3,
      params: { ef: "16" },
    });
    assert.equal(hits[0]?.length, 0, "offset 3 past the single fake hit");
    assert.deepEqual(h.seen[0]?.searchParams, { ef: 16 });
    assert.equal(h.seen[0]?.topk, 8);
    const ivf = fakeReadPath(IVF);
    await ivf.read.search({ collectionName: "c", data, params: { nprobe: 4, ef: 1 } });
    assert.deepEqual(ivf.seen[0]?.searchParams, { nprobe: 4 });
  });

  it("omits searchParams when there is nothing to pass", async () => {
    for (const [index, params] of [
      [HNSW, undefined],
      [HNSW, { nprobe: 3 }],
      [FLAT, { ef: 0 }],
      [undefined, { ef: 0, nprobe: 70000 }],
    ] as const) {
      const h = fakeReadPath(index);
      const hits = await h.read.search({
        collectionName: "c",
        data,
        ...(params === undefined ? {} : { params }),
      });
      assert.equal(hits[0]?.[0]?.id, 1n);
      assert.equal(h.seen.length, 1);
      assert.equal(
        Object.hasOwn(h.seen[0] as object, "searchParams"),
        false,
        `${index?.resolvedType}: ${JSON.stringify(params)}`,
      );
    }
  });

  it("refuses bad values before any node is asked", async () => {
    for (const [index, params, limit, pattern] of [
      [HNSW, { ef: 0 }, 1, /ef must be/],
      [HNSW, { ef: 5 }, 10, /ef \(5\) must be at least topk \(10\)/],
      [HNSW, { ef: "abc" }, 1, /ef/],
      [IVF, { nprobe: 70000 }, 10, /nprobe/],
      [SQ8, { nprobe: -1 }, 10, /nprobe/],
    ] as const) {
      const h = fakeReadPath(index);
      await assert.rejects(h.read.search({ collectionName: "c", data, limit, params }), invalid(pattern));
      assert.equal(h.seen.length, 0, `${JSON.stringify(params)} reached a node`);
    }
  });
});

describe("search params through the embedded API (standalone)", () => {
  const DIM = 8;
  const N = 300;
  const SEED = 4242;
  let t: Awaited<ReturnType<typeof tempDir>>;
  let db: Strata;
  const seen: NodeSearchRequest[] = [];
  const vecs: number[][] = [];

  before(async () => {
    t = await tempDir();
    db = await Strata.open({ dataDir: t.dir });
    // Watch what the proxy asks the query node (the node itself is not under test here).
    const qn = db.internals.querynode;
    const search = qn.search.bind(qn);
    qn.search = (req) => {
      seen.push(req);
      return search(req);
    };
    const next = rng(SEED);
    for (let i = 0; i < N; i++) vecs.push(Array.from({ length: DIM }, () => next() * 2 - 1));
    for (const [name, indexType] of [
      ["hnsw", "HNSW"],
      ["ivf", "IVF_FLAT"],
      ["flat", "FLAT"],
    ] as const) {
      await db.createCollection({
        schema: {
          name,
          fields: [
            { name: "id", dataType: "Int64", isPrimaryKey: true },
            { name: "v", dataType: "FloatVector", dim: DIM },
          ],
        },
      });
      await db.insert(name, { rows: vecs.map((v, id) => ({ id, v })) });
      await db.flush(name);
      await db.createIndex(name, {
        indexType,
        metricType: "L2",
        params: indexType === "IVF_FLAT" ? { nlist: 4 } : {},
      });
      await db.load(name);
    }
  });
  after(async () => {
    await db?.close();
    await t?.cleanup();
  });

  it(`valid params reach the query node and the search answers (seed ${SEED})`, async () => {
    for (const [name, params, want] of [
      ["hnsw", { ef: 64 }, { ef: 64 }],
      ["ivf", { nprobe: 4 }, { nprobe: 4 }],
    ] as const) {
      seen.length = 0;
      const hits = await db.search(name, {
        data: [vecs[17] as number[]],
        limit: 5,
        params,
        consistencyLevel: "Strong",
      });
      assert.equal(hits[0]?.[0]?.id, 17n, `${name}: a stored vector finds itself first`);
      assert.ok(seen.length > 0);
      for (const r of seen) assert.deepEqual(r.searchParams, want, name);
    }
  });

  it("refuses bad params with ParameterInvalid and asks no node", async () => {
    seen.length = 0;
    const q = { data: [vecs[0] as number[]], consistencyLevel: "Strong" } as const;
    await assert.rejects(db.search("hnsw", { ...q, params: { ef: 0 } }), invalid(/ef/));
    await assert.rejects(
      db.search("hnsw", { ...q, limit: 20, offset: 5, params: { ef: 24 } }),
      invalid(/topk \(25\)/),
    );
    await assert.rejects(db.search("hnsw", { ...q, params: { ef: "abc" } }), invalid(/abc/));
    await assert.rejects(db.search("ivf", { ...q, params: { nprobe: 70000 } }), invalid(/nprobe/));
    assert.equal(seen.length, 0);
  });

  it("ignores params on a FLAT index, even out-of-range ones", async () => {
    seen.length = 0;
    const hits = await db.search("flat", {
      data: [vecs[3] as number[]],
      limit: 3,
      params: { ef: 0, nprobe: 70000 },
      consistencyLevel: "Strong",
    });
    assert.equal(hits[0]?.[0]?.id, 3n);
    for (const r of seen) assert.equal(Object.hasOwn(r, "searchParams"), false);
  });
});

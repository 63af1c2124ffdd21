import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sdk from "@zilliz/milvus2-sdk-node";
import { distributedOverrides } from "../../helpers/cluster.ts";
import { rng } from "../../helpers/env.ts";
import { type RestHarness, startRest } from "./harness.ts";

const { HttpClient } = sdk;
const SEED = 77;
const DIM = 8;
const C = "sdk_rest";

function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k] as number;
    const y = b[k] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

function sdkSuite(name: string, skip: string | false, config: () => Record<string, unknown>): void {
  describe(`REST v2 through the official SDK's HttpClient on ${name}`, { skip }, () => {
    let h: RestHarness;
    let client: InstanceType<typeof HttpClient>;
    const r = rng(SEED);
    const vectors = new Map<number, number[]>();

    before(async () => {
      h = await startRest({}, config());
      client = new HttpClient({ endpoint: h.url, timeout: 20_000 });
    });
    after(async () => {
      await h?.close();
    });

    it("quick-creates a collection (COSINE AUTOINDEX, loaded), as Milvus does", async () => {
      const res = await client.createCollection({ collectionName: C, dimension: DIM });
      assert.equal(res.code, 0, JSON.stringify(res));
      const deadline = Date.now() + 20_000;
      for (;;) {
        const st = await client.getCollectionLoadState({ collectionName: C });
        assert.equal(st.code, 0, JSON.stringify(st));
        if (st.data.loadState === "LoadStateLoaded") break;
        assert.ok(Date.now() < deadline, "loaded in time");
        await new Promise((res) => setTimeout(res, 50));
      }
      const d = await client.describeCollection({ collectionName: C });
      assert.equal(d.code, 0);
      assert.equal(d.data.enableDynamicField, true);
      assert.deepEqual(d.data.indexes, [{ indexName: "vector", fieldName: "vector", metricType: "COSINE" }]);
      const list = await client.listCollections();
      assert.deepEqual(list.data, [C]);
    });

    it("inserts, then searches and queries with the results an oracle expects", async () => {
      const data = Array.from({ length: 200 }, (_, i) => {
        const vector = Array.from({ length: DIM }, () => r() * 2 - 1);
        vectors.set(i, vector);
        return { id: i, vector, color: i % 2 === 0 ? "red" : "blue" };
      });
      const ins = await client.insert({ collectionName: C, data });
      assert.equal(ins.code, 0, JSON.stringify(ins));
      assert.equal(ins.data.insertCount, 200);
      // The SDK sends Accept-Type-Allow-Int64: false, so Int64 keys come back as strings.
      assert.deepEqual(
        ins.data.insertIds,
        data.map((x) => String(x.id)),
      );

      const q = vectors.get(17) as number[];
      const res = await client.search({
        collectionName: C,
        data: [q],
        limit: 5,
        outputFields: ["color"],
        consistencyLevel: "Strong",
      });
      assert.equal(res.code, 0, JSON.stringify(res));
      const hits = res.data as unknown as { id: string; distance: number; color: string }[];
      const want = [...vectors]
        .map(([id, v]) => ({ id, s: cosine(q, v) }))
        .sort((a, b) => b.s - a.s)
        .slice(0, 5);
      assert.deepEqual(
        hits.map((x) => x.id),
        want.map((x) => String(x.id)),
        `seed ${SEED}`,
      );
      for (let i = 0; i < 5; i++) {
        const hit = hits[i] as { distance: number; color: string };
        assert.ok(Math.abs(hit.distance - (want[i]?.s ?? 0)) < 1e-4);
        assert.equal(hit.color, (want[i]?.id ?? 0) % 2 === 0 ? "red" : "blue", "dynamic field comes back");
      }

      const two = await client.search({
        collectionName: C,
        data: [q, vectors.get(3) as number[]],
        limit: 3,
        outputFields: [],
        consistencyLevel: "Strong",
      });
      assert.deepEqual(two.topks, [3, 3]);
      const groups = two.data as unknown as { id: string }[][];
      assert.equal(groups.length, 2, "the SDK splits nq=2 results by topks");
      assert.equal(groups[1]?.[0]?.id, "3");

      const qr = await client.query({
        collectionName: C,
        filter: 'color == "red" and id < 10',
        outputFields: ["id", "color"],
        consistencyLevel: "Strong",
      });
      assert.equal(qr.code, 0, JSON.stringify(qr));
      assert.deepEqual(
        qr.data.map((x) => x.id),
        ["0", "2", "4", "6", "8"],
      );
      const count = await client.query({
        collectionName: C,
        filter: "id >= 0",
        outputFields: ["count(*)"],
        consistencyLevel: "Strong",
      });
      assert.deepEqual(count.data, [{ "count(*)": "200" }]);

      const got = await client.get({ collectionName: C, id: [5], outputFields: ["vector"] });
      assert.equal(got.code, 0, JSON.stringify(got));
      const vec = (got.data[0] as { vector: number[] }).vector;
      assert.deepEqual(vec.map(Math.fround), (vectors.get(5) as number[]).map(Math.fround));
    });

    it("deletes and drops; errors come back as codes, not exceptions", async () => {
      const del = await client.delete({ collectionName: C, filter: "id in [1, 2, 3]" });
      assert.equal(del.code, 0, JSON.stringify(del));
      const missing = await client.describeCollection({ collectionName: "not_there" });
      assert.equal(missing.code, 100);
      assert.equal(typeof missing.message, "string");
      const drop = await client.dropCollection({ collectionName: C });
      assert.equal(drop.code, 0);
      const has = await client.hasCollection({ dbName: "default", collectionName: C });
      assert.deepEqual(has.data, { has: false });
    });
  });
}

sdkSuite("embedded backends", false, () => ({}));
const dist = distributedOverrides();
sdkSuite("NATS JetStream, etcd and S3", dist.skip, () => dist.overrides ?? {});

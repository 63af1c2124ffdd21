import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CollectionSchema } from "../../src/common/schema.ts";
import { composeTs, physicalOf, type Timestamp } from "../../src/common/timestamp.ts";
import { DataType } from "../../src/common/types.ts";
import { ReadPath } from "../../src/proxy/read.ts";
import type { ConsistencyLevel } from "../../src/proxy/read-types.ts";
import type { NodeSearchRequest, QueryNode } from "../../src/querynode/types.ts";
import type { Distribution, QueryService } from "../../src/queryservice/types.ts";
import type { CollectionInfo, RootCoord } from "../../src/rootcoord/types.ts";

const field = (fieldId: number, name: string, dataType: DataType, extra: object = {}) => ({
  fieldId,
  name,
  dataType,
  isPrimaryKey: fieldId === 100,
  autoId: false,
  description: "",
  isPartitionKey: false,
  isDynamic: false,
  ...extra,
});

/** A read path over one fake node, with a timestamp oracle on the wall clock that counts its calls. */
function harness() {
  const schema = {
    name: "c",
    description: "",
    enableDynamicField: false,
    fields: [field(100, "id", DataType.Int64), field(101, "v", DataType.FloatVector, { dim: 2 })],
  } as CollectionSchema;
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
  const issued: Timestamp[] = [];
  let logical = 0;
  const seen: NodeSearchRequest[] = [];
  const node = {
    tSafe: () => 0n,
    search: async (req: NodeSearchRequest) => {
      seen.push(req);
      return { results: [{ pks: new BigInt64Array([1n]), scores: new Float32Array([0.5]), fields: [] }] };
    },
  } as unknown as QueryNode;
  const read = new ReadPath({
    rootcoord: {
      describeCollection: async () => info,
      allocTimestamp: async () => {
        // An oracle a little away (as over RPC): callers arriving meanwhile must share this call.
        await new Promise((r) => setTimeout(r, 2));
        const ts = composeTs(Date.now(), logical++);
        issued.push(ts);
        return ts;
      },
    } as unknown as RootCoord,
    queryservice: { getDistribution: async () => dist } as unknown as QueryService,
    queryNodes: (id) => (id === 1 ? node : undefined),
    lastWriteTs: () => 0n,
  });
  const search = async (consistencyLevel: ConsistencyLevel) => {
    const before = Date.now();
    const n = seen.length;
    await read.search({ collectionName: "c", data: [[1, 0]], consistencyLevel });
    return { before, after: Date.now(), guaranteeTs: (seen[n] as NodeSearchRequest).guaranteeTs };
  };
  return { search, issued };
}

describe("proxy read path: consistency timestamps", () => {
  it("Bounded reads share a fresh timestamp and stay 5 s behind the clock", async () => {
    const h = harness();
    const burst = await Promise.all(Array.from({ length: 20 }, () => h.search("Bounded")));
    assert.equal(h.issued.length, 1, "concurrent Bounded reads share one allocation");
    const later = [];
    for (let i = 0; i < 10; i++) later.push(await h.search("Bounded"));
    assert.ok(h.issued.length <= 2, `reads within the reuse window allocate again: ${h.issued.length}`);
    for (const r of [...burst, ...later]) {
      // The guarantee is "now − 5 s": never newer (1 ms of rounding), older by at most the
      // shared allocation's latency (a few ms; generous slack for a loaded machine).
      const p = physicalOf(r.guaranteeTs);
      assert.ok(
        p >= r.before - 5000 - 100 && p <= r.after - 5000 + 1,
        `guarantee ${p} vs [${r.before}, ${r.after}] − 5 s`,
      );
    }
  });

  it("Bounded reads take a new timestamp once the last one is older than the reuse window", async () => {
    const h = harness();
    await h.search("Bounded");
    await new Promise((r) => setTimeout(r, 150));
    const r = await h.search("Bounded");
    assert.equal(h.issued.length, 2);
    assert.equal(physicalOf(r.guaranteeTs), physicalOf(h.issued[1] as Timestamp) - 5000);
  });

  it("Strong reads always wait on a timestamp of their own", async () => {
    const h = harness();
    await h.search("Bounded");
    for (let i = 0; i < 5; i++) {
      const r = await h.search("Strong");
      assert.equal(h.issued.length, i + 2);
      assert.equal(r.guaranteeTs, h.issued[i + 1]);
    }
    const e = await h.search("Eventually");
    assert.equal(e.guaranteeTs, 0n);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gather, groupByShard } from "../../src/common/gather.ts";
import { DataType } from "../../src/common/types.ts";
import { shardOf } from "../../src/proxy/hash.ts";
import { InflightTracker } from "../../src/proxy/inflight.ts";

describe("proxy parts", () => {
  it("hashes primary keys to shards stably and evenly", () => {
    const pks = new BigInt64Array(10_000).map((_, i) => BigInt(i) * 7919n - 5000n);
    const a = shardOf(pks, 4);
    const b = shardOf(BigInt64Array.from(pks), 4);
    assert.deepEqual(a, b);
    // Pinned values: changing the hash would move existing keys to other channels.
    assert.deepEqual([...shardOf(new BigInt64Array([0n, 1n, 2n, -1n, 1n << 62n]), 16)], [1, 6, 8, 10, 11]);
    assert.deepEqual([...shardOf(["a", "key-1", ""], 16)], [3, 10, 0]);
    const counts = [0, 0, 0, 0];
    for (const s of a) counts[s] = (counts[s] ?? 0) + 1;
    for (const c of counts) assert.ok(c > 2200 && c < 2800, `uneven shards ${counts}`);
    const strs = Array.from({ length: 1000 }, (_, i) => `key-${i}`);
    const sa = shardOf(strs, 3);
    assert.ok(sa.every((s) => s < 3));
    assert.deepEqual(sa, shardOf([...strs], 3));
    assert.ok(shardOf(pks, 1).every((s) => s === 0));
  });

  it("groups rows by shard and gathers every column type by index", () => {
    const groups = groupByShard(new Uint16Array([1, 0, 1, 1, 0]), 2);
    assert.deepEqual(
      groups.map((g) => [...g]),
      [
        [1, 4],
        [0, 2, 3],
      ],
    );
    const idx = new Uint32Array([2, 0]);
    const v = gather({ type: DataType.FloatVector, dim: 2, data: new Float32Array([0, 1, 2, 3, 4, 5]) }, idx);
    assert.deepEqual(v.type === DataType.FloatVector ? [...v.data] : [], [4, 5, 0, 1]);
    const s = gather({ type: DataType.VarChar, data: ["a", "b", "c"] }, idx);
    assert.deepEqual(s.data, ["c", "a"]);
    const n = gather({ type: DataType.Int64, data: new BigInt64Array([10n, 11n, 12n]) }, idx);
    assert.deepEqual([...(n.data as BigInt64Array)], [12n, 10n]);
    const b = gather({ type: DataType.BinaryVector, dim: 16, data: new Uint8Array([1, 2, 3, 4, 5, 6]) }, idx);
    assert.deepEqual([...(b.data as Uint8Array)], [5, 6, 1, 2]);
  });

  it("never reports a tick at or above a batch still in flight", async () => {
    let clock = 100n;
    const alloc = async () => ++clock;
    const t = new InflightTracker();
    const ts1 = await t.stamp(["a"], alloc);
    const ts2 = await t.stamp(["a", "b"], alloc);
    let r = await t.report(7, alloc);
    assert.ok(r.defaultTimestamp > ts2);
    assert.deepEqual(r.ticks.map((x) => [x.channel, x.timestamp]).sort(), [
      ["a", ts1 - 1n],
      ["b", ts2 - 1n],
    ]);
    t.release(ts1, ["a"]);
    r = await t.report(7, alloc);
    assert.deepEqual(r.ticks.map((x) => [x.channel, x.timestamp]).sort(), [
      ["a", ts2 - 1n],
      ["b", ts2 - 1n],
    ]);
    t.release(ts2, ["a", "b"]);
    r = await t.report(7, alloc);
    assert.deepEqual(r.ticks, []);
    const later = await t.stamp(["a"], alloc);
    assert.ok(later > r.defaultTimestamp, "a batch stamped after a report is above its default");
  });
});

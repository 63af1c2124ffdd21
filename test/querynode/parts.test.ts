/** The query node's building blocks, each against a plain oracle. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StrataError } from "../../src/common/errors.ts";
import { composeTs } from "../../src/common/timestamp.ts";
import { DataType } from "../../src/common/types.ts";
import { concatColumns, GrowingColumn } from "../../src/querynode/columns.ts";
import { DeleteBuffer } from "../../src/querynode/delete-buffer.ts";
import { PkIndex } from "../../src/querynode/pk-index.ts";
import { GrowingSegment, SealedSegment } from "../../src/querynode/segment.ts";
import { TSafe } from "../../src/querynode/tsafe.ts";
import { decodeWire, encodeWire } from "../../src/querynode/wire.ts";
import { rng } from "../helpers/env.ts";

const META = { segmentId: 1n, collectionId: 2n, partitionId: 3n, channel: "c" };

describe("PkIndex", () => {
  it("finds every row of every key (duplicates, growth) like a Map of lists", () => {
    const seed = 31;
    const r = rng(seed);
    const idx = new PkIndex();
    const keys = new BigInt64Array(5000);
    const want = new Map<bigint, number[]>();
    for (let i = 0; i < keys.length; i++) {
      // Few distinct keys, some huge or negative: many duplicates and both 32-bit halves in use.
      const k = BigInt(Math.floor(r() * 1500)) * (i % 2 === 0 ? 1n : -(1n << 40n));
      keys[i] = k;
      want.set(k, [...(want.get(k) ?? []), i]);
    }
    for (let at = 0; at < keys.length; at += 700) idx.add(keys, at, Math.min(keys.length, at + 700));
    for (const [k, rows] of want) {
      const out: number[] = [];
      idx.lookup(keys, keys.length, k, out);
      assert.deepEqual(
        out.sort((a, b) => a - b),
        rows,
        `seed ${seed} key ${k}`,
      );
    }
    const none: number[] = [];
    idx.lookup(keys, keys.length, 123456789n, none);
    idx.lookup(keys, keys.length, "x", none);
    assert.deepEqual(none, []);
    // A row bound hides rows appended after a snapshot.
    const first = keys[4999] as bigint;
    const bounded: number[] = [];
    idx.lookup(keys, 10, first, bounded);
    assert.ok(bounded.every((x) => x < 10));
  });

  it("works for string keys", () => {
    const keys = ["a", "b", "a", "é", "", "b"];
    const idx = new PkIndex(keys.length);
    idx.add(keys, 0, keys.length);
    const look = (k: string) => {
      const out: number[] = [];
      idx.lookup(keys, keys.length, k, out);
      return out.sort();
    };
    assert.deepEqual(look("a"), [0, 2]);
    assert.deepEqual(look("b"), [1, 5]);
    assert.deepEqual(look(""), [4]);
    assert.deepEqual(look("é"), [3]);
    assert.deepEqual(look("c"), []);
  });
});

describe("segments", () => {
  const fields = [
    { fieldId: 100, dataType: DataType.Int64 },
    { fieldId: 101, dataType: DataType.FloatVector, dim: 2 },
    { fieldId: 102, dataType: DataType.VarChar },
  ];

  it("visibility: timestamps compared across the 32-bit boundary, deletes hide only older rows", () => {
    const base = composeTs(1_700_000_000_000, 5);
    const ts = BigInt64Array.from([base, base + 1n, base + (1n << 32n), base + 7n]);
    const pks = BigInt64Array.from([10n, 11n, 10n, 12n]);
    const seg = new SealedSegment(META, 100, {
      rowIds: BigInt64Array.from([1n, 2n, 3n, 4n]),
      timestamps: ts,
      columns: new Map([[100, { type: DataType.Int64, data: pks }]]),
      stats: [],
      persistedSeq: 0,
    });
    const snap = seg.snapshot();
    assert.deepEqual([...seg.visible(snap, base)], [1, 0, 0, 0]);
    assert.deepEqual([...seg.visible(snap, base + 7n)], [1, 1, 0, 1]);
    assert.deepEqual([...seg.visible(snap, base + (1n << 32n))], [1, 1, 1, 1]);
    // A delete of 10 at base+3: hides the row at base (older) but not the one at base+2^32.
    assert.equal(seg.applyDelete(10n, base + 3n), 1);
    assert.equal(seg.applyDelete(10n, base + 3n), 0, "applying twice changes nothing");
    assert.deepEqual([...seg.visible(snap, base + 2n)], [1, 1, 0, 0], "not yet at an earlier read");
    assert.deepEqual([...seg.visible(snap, base + (1n << 32n))], [0, 1, 1, 1]);
    // Upsert semantics: a delete at the row's own timestamp does not hide it.
    assert.equal(seg.applyDelete(11n, base + 1n), 0);
    assert.equal(seg.applyDelete(99n, base + 100n), 0);
  });

  it("growing: appends are all-or-nothing and snapshots do not move", () => {
    const g = new GrowingSegment(META, 100, fields);
    const ts = (n: number, t: bigint) => new BigInt64Array(n).fill(t);
    g.append(BigInt64Array.from([1n, 2n]), ts(2, 5n), [
      { fieldId: 100, column: { type: DataType.Int64, data: BigInt64Array.from([7n, 8n]) } },
      { fieldId: 101, column: { type: DataType.FloatVector, dim: 2, data: Float32Array.from([1, 2, 3, 4]) } },
      { fieldId: 102, column: { type: DataType.VarChar, data: ["a", "b"] } },
    ]);
    const snap = g.snapshot();
    assert.throws(
      () =>
        g.append(BigInt64Array.from([3n]), ts(1, 6n), [
          { fieldId: 100, column: { type: DataType.Int64, data: BigInt64Array.from([9n]) } },
          {
            fieldId: 101,
            column: { type: DataType.FloatVector, dim: 3, data: Float32Array.from([1, 2, 3]) },
          },
          { fieldId: 102, column: { type: DataType.VarChar, data: ["c"] } },
        ]),
      (e: unknown) => e instanceof StrataError && e.code === "Corrupted",
    );
    assert.equal(g.rows, 2, "the bad append added nothing");
    for (let i = 0; i < 100; i++) {
      g.append(BigInt64Array.from([BigInt(10 + i)]), ts(1, 6n), [
        { fieldId: 100, column: { type: DataType.Int64, data: BigInt64Array.from([7n]) } },
        { fieldId: 101, column: { type: DataType.FloatVector, dim: 2, data: Float32Array.from([9, 9]) } },
        { fieldId: 102, column: { type: DataType.VarChar, data: [`x${i}`] } },
      ]);
    }
    assert.equal(snap.rows, 2);
    assert.deepEqual(snap.column(101)?.data, Float32Array.from([1, 2, 3, 4]));
    assert.deepEqual(snap.column(102)?.data, ["a", "b"]);
    assert.equal(g.snapshot().rows, 102);
    // The delete of key 7 at 6 hides the first row (ts 5) only.
    g.applyDelete(7n, 6n);
    const bits = g.visible(g.snapshot(), 10n);
    assert.equal(bits[0], 0);
    assert.equal(
      bits.reduce((a, b) => a + b, 0),
      101,
    );
  });

  it("float vectors own a plain buffer from offset 0 (native scan); other dense vectors sit on SharedArrayBuffers; JSON rows are compact", () => {
    const v = concatColumns({ fieldId: 1, dataType: DataType.FloatVector, dim: 2 }, [
      { type: DataType.FloatVector, dim: 2, data: Float32Array.from([1, 2]) },
      { type: DataType.FloatVector, dim: 2, data: Float32Array.from([3, 4]) },
    ]);
    assert.ok(!((v.data as Float32Array).buffer instanceof SharedArrayBuffer));
    assert.equal((v.data as Float32Array).byteOffset, 0);
    assert.deepEqual(Array.from(v.data as Float32Array), [1, 2, 3, 4]);
    const big = new Uint8Array(1000);
    const j = concatColumns({ fieldId: 2, dataType: DataType.JSON }, [
      { type: DataType.JSON, data: [big.subarray(10, 12), big.subarray(500, 503)] },
    ]);
    const rows = j.data as Uint8Array[];
    assert.equal(rows[0]!.buffer.byteLength, 5, "rows no longer pin the 1000-byte file buffer");
    const gc = new GrowingColumn({ fieldId: 3, dataType: DataType.BinaryVector, dim: 16 });
    gc.append({ type: DataType.BinaryVector, dim: 16, data: Uint8Array.from([1, 2, 3, 4]) });
    assert.equal(gc.rows, 2);
    assert.ok((gc.snapshot(2).data as Uint8Array).buffer instanceof SharedArrayBuffer);
  });
});

describe("delete buffer", () => {
  it("copies keys, prunes by seq and never moves its coverage back", () => {
    const b = new DeleteBuffer(10);
    const src = BigInt64Array.from([1n, 2n]);
    b.add({ seq: 11, ts: 5n, partitionId: -1n, pks: src });
    b.add({ seq: 15, ts: 6n, partitionId: 3n, pks: ["a"] });
    src[0] = 99n;
    assert.deepEqual([...(b.entries()[0]!.pks as BigInt64Array)], [1n, 2n]);
    b.prune(12);
    assert.equal(b.size, 1);
    assert.equal(b.coveredAfterSeq, 12);
    b.prune(5);
    assert.equal(b.coveredAfterSeq, 12);
    b.prune(15);
    assert.equal(b.size, 0);
    assert.equal(b.bytes, 0);
  });
});

describe("tSafe", () => {
  it("waits for every channel, times out with Timeout, fails waiters of a removed channel", async () => {
    const t = new TSafe();
    t.add("a");
    t.add("b");
    const w = t.wait(["a", "b"], 10n, 5000);
    t.advance("a", 12n);
    let done = false;
    void w.then(() => {
      done = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false, "b is still behind");
    t.advance("b", 10n);
    await w;
    t.advance("b", 3n);
    assert.equal(t.get("b"), 10n, "tSafe never moves back");
    await assert.rejects(
      t.wait(["a"], 100n, 20),
      (e: unknown) => e instanceof StrataError && e.code === "Timeout",
    );
    const pending = t.wait(["a"], 100n, 5000);
    t.remove("a", new StrataError("ChannelNotFound", "released"));
    await assert.rejects(pending, { code: "ChannelNotFound" });
    await t.wait(["zzz"], 0n, 1);
  });
});

describe("query channel wire codec", () => {
  it("round-trips typed arrays, bigints, nested rows and plain values", () => {
    const value = {
      id: "r1",
      big: 1n << 62n,
      f: Float32Array.from([1.5, -0, Number.NaN]),
      b: BigInt64Array.from([-(1n << 63n), 5n]),
      u: new Uint8Array(new ArrayBuffer(16), 3, 5).fill(7),
      sparse: [{ indices: Uint32Array.from([1, 9]), values: Float32Array.from([0.5, 2]) }],
      strs: ["x", "é"],
      nested: { list: [1, null, true] },
    };
    const back = decodeWire<typeof value>(encodeWire(value));
    assert.deepEqual(back, value);
    assert.ok(back.f instanceof Float32Array && back.b instanceof BigInt64Array);
    assert.throws(() => decodeWire(new TextEncoder().encode('{"x":{"$ta":"Nope","b64":""}}')), {
      code: "Corrupted",
    });
    assert.throws(() => decodeWire(new TextEncoder().encode('{"x":{"$ta":"Float64Array","b64":"AAA="}}')), {
      code: "Corrupted",
    });
    assert.throws(() => decodeWire(new TextEncoder().encode("not json")), { code: "Corrupted" });
  });
});

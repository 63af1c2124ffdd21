import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isStrataError } from "../../src/common/errors.ts";
import { DataType } from "../../src/common/types.ts";
import { bloomParams, murmur3Int64, murmur3x86_32, PkStats } from "../../src/storage/pkstats.ts";
import { rng } from "../helpers/env.ts";

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function randomInt64(r: () => number): bigint {
  const hi = BigInt(Math.floor(r() * 0x100000000));
  const lo = BigInt(Math.floor(r() * 0x100000000));
  return BigInt.asIntN(64, (hi << 32n) | lo);
}

describe("murmur3", () => {
  it("matches the reference murmur3_x86_32 vectors", () => {
    const e = new TextEncoder();
    assert.equal(murmur3x86_32(new Uint8Array(0), 0), 0);
    assert.equal(murmur3x86_32(new Uint8Array(0), 1), 0x514e28b7);
    assert.equal(murmur3x86_32(e.encode("hello"), 0), 0x248bfa47);
    assert.equal(murmur3x86_32(e.encode("test"), 0), 0xba6bd213);
    assert.equal(
      murmur3x86_32(e.encode("The quick brown fox jumps over the lazy dog"), 0x9747b28c),
      0x2fa826cd,
    );
  });

  it("hashes an Int64 key as its 8 little-endian bytes", () => {
    const r = rng(5);
    for (let i = 0; i < 200; i++) {
      const v = i < 2 ? ([INT64_MIN, INT64_MAX][i] as bigint) : randomInt64(r);
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigInt64(0, v, true);
      assert.equal(murmur3Int64(v, 42), murmur3x86_32(b, 42), `key ${v}`);
    }
  });
});

describe("PkStats", () => {
  it("has no false negatives (property, Int64 and VarChar, add and addAll)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), { maxLength: 300 }),
        fc.boolean(),
        (keys, bulk) => {
          const s = PkStats.create(DataType.Int64, Math.max(1, keys.length >> 1));
          if (bulk) s.addAll(BigInt64Array.from(keys));
          else for (const k of keys) s.add(k);
          for (const k of keys) assert.ok(s.mayContain(k), `key ${k} lost`);
          assert.equal(s.rows, keys.length);
        },
      ),
      { seed: 20240601, numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 20 }), { maxLength: 200 }), (keys) => {
        const s = PkStats.fromKeys(keys);
        for (const k of keys) assert.ok(s.mayContain(k), `key ${JSON.stringify(k)} lost`);
        const back = PkStats.decode(s.encode());
        for (const k of keys) assert.ok(back.mayContain(k), `key ${JSON.stringify(k)} lost after decode`);
      }),
      { seed: 7, numRuns: 200 },
    );
  });

  it("false-positive rate is near the 1% target at the expected row count", () => {
    for (const [seed, type] of [
      [1, DataType.Int64],
      [2, DataType.VarChar],
    ] as const) {
      const r = rng(seed);
      const n = 20_000;
      const s = PkStats.create(type, n);
      const added = new Set<bigint | string>();
      const key = (): bigint | string =>
        type === DataType.Int64 ? randomInt64(r) : `k-${randomInt64(r).toString(36)}`;
      while (added.size < n) {
        const k = key();
        added.add(k);
        s.add(k);
      }
      let fp = 0;
      let probes = 0;
      while (probes < 100_000) {
        const k = key();
        if (added.has(k)) continue;
        probes++;
        if (s.mayContain(k)) fp++;
      }
      const rate = fp / probes;
      assert.ok(rate > 0.003 && rate < 0.02, `seed ${seed} type ${type}: FPR ${rate}`);
    }
  });

  it("sizes the filter from the expected rows and the target rate", () => {
    const p = bloomParams(10_000, 0.01);
    assert.equal(p.numBits % 64, 0);
    assert.ok(p.numBits >= 95_851 && p.numBits < 95_851 + 64, `bits ${p.numBits}`);
    assert.equal(p.numHashes, 7);
    assert.deepEqual(bloomParams(0, 0.01), bloomParams(1, 0.01));
    assert.throws(
      () => bloomParams(-1, 0.01),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.throws(
      () => bloomParams(10, 0),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.throws(
      () => bloomParams(10, 1),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
  });

  it("tracks min and max, and answers no outside them", () => {
    const s = PkStats.create(DataType.Int64, 10);
    assert.equal(s.min, undefined);
    assert.equal(s.mayContain(5n), false, "an empty filter contains nothing");
    for (const k of [5n, -3n, 17n, 0n]) s.add(k);
    assert.equal(s.min, -3n);
    assert.equal(s.max, 17n);
    assert.equal(s.mayContain(-4n), false);
    assert.equal(s.mayContain(18n), false);
    assert.equal(s.mayContain("5"), false, "a key of the other type is never contained");
    const v = PkStats.fromKeys(["m", "b", "zz", "a"]);
    assert.equal(v.min, "a");
    assert.equal(v.max, "zz");
    assert.equal(v.mayContain("0"), false);
    assert.equal(v.mayContain("zzz"), false);
  });

  it("rejects keys of the wrong type or range without changing anything", () => {
    const s = PkStats.create(DataType.Int64, 10);
    assert.throws(
      () => s.add("x"),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.throws(
      () => s.add(1n << 63n),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.throws(
      () => s.addAll(["x"]),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.equal(s.rows, 0);
    const v = PkStats.create(DataType.VarChar, 10);
    assert.throws(
      () => v.add(1n),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.throws(
      () => v.addAll(new BigInt64Array(1)),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.throws(
      () => PkStats.create(DataType.Float as typeof DataType.Int64, 10),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
  });

  it("merge is the union (same parameters) and refuses different parameters", () => {
    const r = rng(9);
    const a = PkStats.create(DataType.Int64, 1000);
    const b = PkStats.create(DataType.Int64, 1000);
    const ka = Array.from({ length: 500 }, () => randomInt64(r));
    const kb = Array.from({ length: 500 }, () => randomInt64(r));
    a.addAll(BigInt64Array.from(ka));
    b.addAll(BigInt64Array.from(kb));
    const all = PkStats.create(DataType.Int64, 1000);
    all.addAll(BigInt64Array.from([...ka, ...kb]));
    a.merge(b);
    assert.equal(a.rows, 1000);
    assert.deepEqual(a.encode(), all.encode(), "merged = built from the union");
    const other = PkStats.create(DataType.Int64, 10);
    assert.throws(
      () => a.merge(other),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.throws(
      () => a.merge(PkStats.create(DataType.VarChar, 1000)),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
    assert.equal(a.rows, 1000);
  });

  it("encode/decode round trip is exact and deterministic", () => {
    const r = rng(3);
    for (const type of [DataType.Int64, DataType.VarChar] as const) {
      for (const n of [0, 1, 7, 1000]) {
        const keys =
          type === DataType.Int64
            ? BigInt64Array.from({ length: n }, () => randomInt64(r))
            : Array.from({ length: n }, (_, i) => `pk-${i}-é中😀-${Math.floor(r() * 1e6)}`);
        const s = PkStats.fromKeys(keys);
        const bytes = s.encode();
        const d = PkStats.decode(bytes);
        assert.equal(d.pkType, type);
        assert.equal(d.rows, n);
        assert.equal(d.min, s.min);
        assert.equal(d.max, s.max);
        assert.equal(d.numBits, s.numBits);
        assert.equal(d.numHashes, s.numHashes);
        assert.deepEqual(d.encode(), bytes);
        assert.deepEqual(PkStats.fromKeys(keys).encode(), bytes, "same keys, same bytes");
        // decode of an unaligned copy works too
        const shifted = new Uint8Array(bytes.byteLength + 3);
        shifted.set(bytes, 3);
        assert.deepEqual(PkStats.decode(shifted.subarray(3)).encode(), bytes);
      }
    }
  });

  it("the format is stable (golden bytes)", () => {
    const s = PkStats.fromKeys(BigInt64Array.from([1n, 2n, 3n]));
    const b = s.encode();
    assert.deepEqual([...b.subarray(0, 8)], [0x53, 0x50, 0x4b, 0x53, 1, DataType.Int64, s.numHashes, 1]);
    assert.equal(s.numBits, 64);
    assert.equal(b.byteLength, 20 + 16 + 8 + 4);
    assert.equal(Buffer.from(b).toString("hex"), GOLDEN);
  });

  it("every corrupted or truncated encoding is rejected with Corrupted", () => {
    const r = rng(17);
    for (const keys of [BigInt64Array.from([5n, 9n, -1n]), ["a", "bb", "ccc"]] as const) {
      const bytes = PkStats.fromKeys(keys).encode();
      for (let i = 0; i < bytes.byteLength; i++) {
        const bad = bytes.slice();
        bad[i] = (bad[i] as number) ^ (1 << Math.floor(r() * 8));
        assert.throws(
          () => PkStats.decode(bad),
          (e: unknown) => isStrataError(e, "Corrupted"),
          `flip at ${i}`,
        );
      }
      for (const len of [0, 3, 23, bytes.byteLength - 1]) {
        assert.throws(
          () => PkStats.decode(bytes.subarray(0, len)),
          (e: unknown) => isStrataError(e, "Corrupted"),
          `truncated to ${len}`,
        );
      }
      const longer = new Uint8Array(bytes.byteLength + 1);
      longer.set(bytes);
      assert.throws(
        () => PkStats.decode(longer),
        (e: unknown) => isStrataError(e, "Corrupted"),
      );
    }
  });
});

// Computed once from this implementation; a change here breaks every stats log already written.
const GOLDEN =
  "53504b5301050f0103000000000000004000000001000000000000000300000000000000346ffe344ec869be6f9b8558";

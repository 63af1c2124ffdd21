import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import { DataType } from "../../src/common/types.ts";
import {
  type DeltalogHeader,
  type DeltaRows,
  decodeDeltalog,
  encodeDeltalog,
} from "../../src/storage/index.ts";
import { rng } from "../helpers/env.ts";
import { int, randomString } from "./gen.ts";

function randomInt64Rows(r: () => number, n: number): { header: DeltalogHeader; rows: DeltaRows } {
  const pks = new BigInt64Array(n);
  const ts = new BigUint64Array(n);
  for (let i = 0; i < n; i++) {
    pks[i] = BigInt.asIntN(64, (BigInt(int(r, 0, 0xffffffff)) << 32n) | BigInt(int(r, 0, 0xffffffff)));
    ts[i] = (BigInt(1_700_000_000_000 + int(r, 0, 1e6)) << 18n) | BigInt(int(r, 0, 0x3ffff));
  }
  let from = (1n << 64n) - 1n;
  let to = 0n;
  for (const t of ts) {
    if (t < from) from = t;
    if (t > to) to = t;
  }
  return {
    header: {
      collectionId: 10n,
      partitionId: 11n,
      segmentId: 12n,
      pkType: DataType.Int64,
      rowCount: n,
      timestampFrom: n === 0 ? 0n : from,
      timestampTo: n === 0 ? 0n : to,
    },
    rows: { pks: { type: DataType.Int64, data: pks }, timestamps: ts },
  };
}

function check(header: DeltalogHeader, rows: DeltaRows): void {
  const out = decodeDeltalog(encodeDeltalog(header, rows));
  assert.deepEqual(out.header, header);
  assert.equal(out.rows.pks.type, rows.pks.type);
  assert.deepEqual([...out.rows.pks.data], [...rows.pks.data]);
  assert.ok(out.rows.timestamps instanceof BigUint64Array);
  assert.deepEqual([...out.rows.timestamps], [...rows.timestamps]);
}

describe("delta log", () => {
  it("Int64 primary keys round trip (seeded, 0/1/many rows)", () => {
    const seed = 2024;
    const r = rng(seed);
    for (const n of [0, 1, 2, 1000]) {
      const { header, rows } = randomInt64Rows(r, n);
      try {
        check(header, rows);
      } catch (e) {
        assert.fail(`seed ${seed} rows ${n}: ${String(e)}`);
      }
    }
  });

  it("VarChar primary keys round trip, including empty and non-ASCII keys", () => {
    const r = rng(5);
    const keys = ["", "ü", "中文😀", ...Array.from({ length: 50 }, () => randomString(r, 10))];
    const ts = BigUint64Array.from(keys, (_, i) => BigInt(100 + i));
    check(
      {
        collectionId: 1n,
        partitionId: 2n,
        segmentId: 3n,
        pkType: DataType.VarChar,
        rowCount: keys.length,
        timestampFrom: 100n,
        timestampTo: BigInt(99 + keys.length),
      },
      { pks: { type: DataType.VarChar, data: keys }, timestamps: ts },
    );
  });

  it("rejects bad input with ParameterInvalid", () => {
    const good: DeltalogHeader = {
      collectionId: 1n,
      partitionId: 2n,
      segmentId: 3n,
      pkType: DataType.Int64,
      rowCount: 2,
      timestampFrom: 5n,
      timestampTo: 9n,
    };
    const rows: DeltaRows = {
      pks: { type: DataType.Int64, data: BigInt64Array.of(1n, 2n) },
      timestamps: BigUint64Array.of(5n, 9n),
    };
    const bad: [string, DeltalogHeader, DeltaRows][] = [
      ["timestamp below range", good, { ...rows, timestamps: BigUint64Array.of(4n, 9n) }],
      ["timestamp above range", good, { ...rows, timestamps: BigUint64Array.of(5n, 10n) }],
      ["row count mismatch", { ...good, rowCount: 3 }, rows],
      ["pk type mismatch", { ...good, pkType: DataType.VarChar }, rows],
      ["pk type not allowed", { ...good, pkType: DataType.Int32 as typeof DataType.Int64 }, rows],
      [
        "timestamps not BigUint64Array",
        good,
        { ...rows, timestamps: BigInt64Array.of(5n, 9n) as unknown as BigUint64Array },
      ],
      ["pks and timestamps differ in length", good, { ...rows, timestamps: BigUint64Array.of(5n) }],
      ["reversed range", { ...good, timestampFrom: 10n }, rows],
    ];
    for (const [name, h, r] of bad) {
      assert.throws(
        () => encodeDeltalog(h, r),
        (e: unknown) => isStrataError(e, "ParameterInvalid"),
        name,
      );
    }
  });
});

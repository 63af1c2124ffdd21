/**
 * Damage must surface as a typed error, never as a different column or a foreign exception.
 * Two layers are attacked: the raw file (the whole-file checksum must catch every flipped byte and
 * every truncation), and, after re-sealing the file checksum the way an attacker or a writer bug
 * could, the data itself (the data checksum and the structural checks must catch it).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, it } from "node:test";
import { crc32 } from "node:zlib";
import { Field, Int32, Int64, makeData, tableFromIPC } from "apache-arrow";
import type { Column } from "../../src/common/column.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { DataType } from "../../src/common/types.ts";
import { writeArrowFile } from "../../src/storage/arrow-file.ts";
import { decodeBinlog, decodeDeltalog, encodeBinlog, encodeDeltalog } from "../../src/storage/index.ts";
import { rng } from "../helpers/env.ts";
import { assertSameColumn, headerFor, int, randomColumn } from "./gen.ts";

type Decode = (b: Uint8Array) => unknown;

function expectTyped(decode: Decode, bytes: Uint8Array, what: string): string {
  try {
    decode(bytes);
  } catch (e) {
    if (isStrataError(e, "Corrupted") || isStrataError(e, "IoUnexpectedEOF")) return e.code;
    assert.fail(`${what}: wrong error ${String(e)}`);
  }
  assert.fail(`${what}: damaged file decoded without error`);
}

function flipped(bytes: Uint8Array, pos: number, mask: number): Uint8Array {
  const b = bytes.slice();
  b[pos] = (b[pos] ?? 0) ^ mask;
  return b;
}

/** Test-side reimplementation of the file checksum, to re-seal a tampered file. */
function reseal(bytes: Uint8Array): Uint8Array {
  const buf = Buffer.from(bytes);
  const at = buf.lastIndexOf("strata-file-crc32:") + "strata-file-crc32:".length;
  const crc = crc32(buf.subarray(at + 8), crc32(buf.subarray(0, at)));
  buf.write((crc >>> 0).toString(16).padStart(8, "0"), at, "latin1");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

const r0 = rng(42);
const samples: [string, Column, number][] = [
  ["int64", randomColumn(r0, DataType.Int64, 5), 5],
  ["bool", randomColumn(r0, DataType.Bool, 11), 11],
  ["varchar", { type: DataType.VarChar, data: ["héllo", "", "中文😀", "plain"] }, 4],
  ["json", randomColumn(r0, DataType.JSON, 3), 3],
  ["array<varchar>", randomColumn(r0, DataType.Array, 4, { elementType: DataType.VarChar }), 4],
  ["array<bool>", randomColumn(r0, DataType.Array, 4, { elementType: DataType.Bool }), 4],
  ["binary vector", randomColumn(r0, DataType.BinaryVector, 3, { dim: 16 }), 3],
  ["float vector", randomColumn(r0, DataType.FloatVector, 3, { dim: 4 }), 3],
  ["bf16 vector", randomColumn(r0, DataType.BFloat16Vector, 2, { dim: 4 }), 2],
  ["sparse", randomColumn(r0, DataType.SparseFloatVector, 3), 3],
  ["empty float", randomColumn(r0, DataType.Float, 0), 0],
];

const deltalog = encodeDeltalog(
  {
    collectionId: 1n,
    partitionId: 2n,
    segmentId: 3n,
    pkType: DataType.VarChar,
    rowCount: 3,
    timestampFrom: 10n,
    timestampTo: 30n,
  },
  { pks: { type: DataType.VarChar, data: ["a", "bé", ""] }, timestamps: BigUint64Array.of(10n, 20n, 30n) },
);

describe("binlog corruption", () => {
  it("every byte of small files, flipped (all bits and one bit), gives a typed error", () => {
    for (const [name, c, rows] of samples) {
      const bytes = encodeBinlog(headerFor(c, rows), c);
      for (let pos = 0; pos < bytes.length; pos++) {
        expectTyped(decodeBinlog, flipped(bytes, pos, 0xff), `${name} flip 0xff at ${pos}/${bytes.length}`);
        expectTyped(
          decodeBinlog,
          flipped(bytes, pos, 1 << (pos % 8)),
          `${name} bit flip at ${pos}/${bytes.length}`,
        );
      }
    }
  });

  it("300 seeded random flips over a larger file give a typed error", () => {
    const seed = 1234;
    const r = rng(seed);
    const c = randomColumn(r, DataType.FloatVector, 200, { dim: 16 });
    const bytes = encodeBinlog(headerFor(c, 200), c);
    for (let k = 0; k < 300; k++) {
      const pos = int(r, 0, bytes.length - 1);
      const mask = int(r, 1, 255);
      expectTyped(decodeBinlog, flipped(bytes, pos, mask), `seed ${seed}: flip ${mask} at ${pos}`);
    }
  });

  it("every truncation of small files, and random ones of a larger file, gives a typed error", () => {
    for (const [name, c, rows] of samples) {
      const bytes = encodeBinlog(headerFor(c, rows), c);
      for (let len = 0; len < bytes.length; len++) {
        const code = expectTyped(
          decodeBinlog,
          bytes.subarray(0, len),
          `${name} cut to ${len}/${bytes.length}`,
        );
        // A cut file lost its trailing magic: it must be reported as truncation.
        if (len > 0) assert.equal(code, "IoUnexpectedEOF", `${name} cut to ${len}`);
      }
    }
    const r = rng(77);
    const c = randomColumn(r, DataType.VarChar, 500);
    const bytes = encodeBinlog(headerFor(c, 500), c);
    for (let k = 0; k < 200; k++) {
      const len = int(r, 0, bytes.length - 1);
      assert.equal(expectTyped(decodeBinlog, bytes.subarray(0, len), `cut to ${len}`), "IoUnexpectedEOF");
    }
  });

  it("garbage, empty input and appended bytes give a typed error", () => {
    const r = rng(3);
    expectTyped(decodeBinlog, new Uint8Array(0), "empty");
    for (let k = 0; k < 50; k++) {
      const g = new Uint8Array(int(r, 1, 400)).map(() => int(r, 0, 255));
      expectTyped(decodeBinlog, g, `garbage ${k}`);
    }
    const [, c, rows] = samples[0] ?? assert.fail();
    const bytes = encodeBinlog(headerFor(c, rows), c);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expectTyped(decodeBinlog, longer, "appended byte");
  });

  it("a delta log is not a binlog and vice versa", () => {
    assert.throws(
      () => decodeBinlog(deltalog),
      (e: unknown) => isStrataError(e, "Corrupted"),
    );
    const [, c, rows] = samples[0] ?? assert.fail();
    assert.throws(
      () => decodeDeltalog(encodeBinlog(headerFor(c, rows), c)),
      (e: unknown) => isStrataError(e, "Corrupted"),
    );
  });
});

describe("deltalog corruption", () => {
  it("every flipped byte and every truncation gives a typed error", () => {
    for (let pos = 0; pos < deltalog.length; pos++) {
      expectTyped(decodeDeltalog, flipped(deltalog, pos, 0x5a), `flip at ${pos}`);
    }
    for (let len = 0; len < deltalog.length; len++)
      expectTyped(decodeDeltalog, deltalog.subarray(0, len), `cut to ${len}`);
  });
});

describe("inner checks, behind a re-sealed file checksum", () => {
  it("a flipped data byte is caught by the data checksum", () => {
    const r = rng(99);
    const c = randomColumn(r, DataType.FloatVector, 64, { dim: 8 });
    const bytes = encodeBinlog(headerFor(c, 64), c);
    const data = c.data as Float32Array;
    const start = Buffer.from(bytes).indexOf(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    assert.ok(start > 0, "vector bytes found in the file");
    for (let k = 0; k < 100; k++) {
      const pos = start + int(r, 0, data.byteLength - 1);
      const tampered = reseal(flipped(bytes, pos, int(r, 1, 255)));
      assert.throws(
        () => decodeBinlog(tampered),
        (e: unknown) => isStrataError(e, "Corrupted") && /data checksum/.test(e.message),
        `flip at ${pos}`,
      );
    }
  });

  it("a flipped header value is caught (checksum or consistency check)", () => {
    const c = randomColumn(rng(4), DataType.Int32, 3);
    const bytes = encodeBinlog(headerFor(c, 3, { segmentId: 123456n }), c);
    const at = Buffer.from(bytes).indexOf("123456");
    const tampered = Buffer.from(bytes);
    tampered.write("123457", at, "latin1");
    assert.throws(
      () => decodeBinlog(reseal(tampered)),
      (e: unknown) => isStrataError(e, "Corrupted"),
    );
  });

  it("padding bytes outside the data may change only without changing the decoded column", () => {
    // Re-sealed flips anywhere in the body region: a typed error, or the identical column.
    const r = rng(8);
    const c = randomColumn(r, DataType.Int16, 3); // 6 data bytes padded to 8: two padding bytes
    const header = headerFor(c, 3);
    const bytes = encodeBinlog(header, c);
    const data = c.data as Int16Array;
    const start = Buffer.from(bytes).indexOf(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    let identical = 0;
    for (let pos = start; pos < start + 8; pos++) {
      const tampered = reseal(flipped(bytes, pos, 0xff));
      try {
        const out = decodeBinlog(tampered);
        assert.deepEqual(out.header, header);
        assertSameColumn(out.column, c);
        identical++;
        assert.ok(pos >= start + 6, `only padding may be ignored, not byte ${pos - start}`);
      } catch (e) {
        if (!isStrataError(e, "Corrupted")) throw e;
      }
    }
    assert.equal(identical, 2);
  });

  it("a file whose schema disagrees with its header is rejected", () => {
    // Metadata of a valid Int64 binlog, but the column stored as Int32.
    const c = randomColumn(rng(1), DataType.Int64, 2);
    const good = encodeBinlog(headerFor(c, 2), c);
    const meta = new Map([...decodeMeta(good)].filter(([k]) => k !== "strata.fileCrc32"));
    const wrong = writeArrowFile(
      [new Field("data", new Int32(), false)],
      meta,
      [makeData({ type: new Int32(), length: 2, nullCount: 0, data: new Int32Array(2) })],
      2,
    );
    assert.throws(
      () => decodeBinlog(wrong),
      (e: unknown) => isStrataError(e, "Corrupted") && /field 0/.test(e.message),
    );
    const stillInt64 = writeArrowFile(
      [new Field("data", new Int64(), false)],
      meta,
      [makeData({ type: new Int64(), length: 2, nullCount: 0, data: new BigInt64Array(2) })],
      2,
    );
    assert.throws(
      () => decodeBinlog(stillInt64),
      (e: unknown) => isStrataError(e, "Corrupted") && /data checksum/.test(e.message),
    );
  });
});

/** The schema metadata, read through plain arrow, independent of the codec. */
function decodeMeta(bytes: Uint8Array): Map<string, string> {
  return tableFromIPC(bytes).schema.metadata;
}

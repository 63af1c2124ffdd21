import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { crc32 } from "node:zlib";
import { HnswIndex } from "../../src/index/hnsw.ts";
import { TWO_HOP_LEVELS } from "../../src/index/hnsw-calibrate.ts";
import {
  encodeTrailer,
  INDEX_FORMAT_VERSION,
  indexToBytes,
  loadIndexBytes,
  openIndexFile,
  verifyIndexBytes,
  verifyIndexFile,
  writeIndexFileSync,
} from "../../src/index/index-file.ts";
import { IvfIndex } from "../../src/index/ivf.ts";
import type { IndexSpec, VectorIndex } from "../../src/index/vector-index.ts";
import { tempDir } from "../helpers/env.ts";
import { clustered, clusteredBits, randomFilter } from "./ann-data.ts";
import { rng } from "./data.ts";

/** `bytes`' payload with `trailer` (its CRC recomputed) in place of its own. */
function withTrailer(bytes: Uint8Array, payloadLength: number, trailer: Buffer): Buffer {
  const p = trailer.length - 16;
  trailer.writeUInt32LE(crc32(trailer.subarray(0, p + 4)) >>> 0, p + 4);
  return Buffer.concat([Buffer.from(bytes.subarray(0, payloadLength)), trailer]);
}

const SEED = 31;
const d = clustered(3000, 16, 20, SEED, 100);
const bits = clusteredBits(2000, 64, 10, SEED);

const SPECS: readonly {
  spec: IndexSpec;
  vectors: Float32Array | Uint8Array;
  queries: Float32Array | Uint8Array;
  nq: number;
}[] = [
  {
    spec: { type: "HNSW", metric: "L2", dim: 16, params: { M: 8, efConstruction: 40 } },
    vectors: d.base,
    queries: d.queries,
    nq: 20,
  },
  {
    spec: { type: "HNSW_SQ", metric: "COSINE", dim: 16, params: { sq_type: "SQ8" } },
    vectors: d.base,
    queries: d.queries,
    nq: 20,
  },
  {
    spec: { type: "HNSW", metric: "JACCARD", dim: 64, params: {} },
    vectors: bits.base,
    queries: bits.queries,
    nq: 10,
  },
  {
    spec: { type: "IVF_FLAT", metric: "IP", dim: 16, params: { nlist: 16 } },
    vectors: d.base,
    queries: d.queries,
    nq: 20,
  },
  {
    spec: { type: "IVF_SQ8", metric: "L2", dim: 16, params: { nlist: 16 } },
    vectors: d.base,
    queries: d.queries,
    nq: 20,
  },
];

function build(spec: IndexSpec, vectors: Float32Array | Uint8Array): HnswIndex | IvfIndex {
  return spec.type === "HNSW" || spec.type === "HNSW_SQ"
    ? HnswIndex.build(spec, vectors)
    : IvfIndex.build(spec, vectors);
}

function isCorrupted(e: unknown): boolean {
  return e instanceof Error && (e as { code?: string }).code === "Corrupted";
}

function sameResults(
  a: VectorIndex,
  b: VectorIndex,
  q: Float32Array | Uint8Array,
  nq: number,
  ctx: string,
): void {
  const filter = randomFilter(a.count, 0.5, 3);
  // An opened HNSW file searches in the hnsw-filter addon, whose float kernels sum in another order
  // than the binding's: scores agree within 1e-6 × max(1, |s|), and rows may differ only where
  // scores tie that closely (next to each other, or at the k-th). Other kinds reopen bit for bit.
  const viaAddon = b instanceof HnswIndex && b.nativeFilter;
  const tol = (s: number) => (viaAddon ? 1e-6 * Math.max(1, Math.abs(s)) : 0);
  const tie = (s: number, t: number | undefined) => t !== undefined && Math.abs(s - t) <= tol(t);
  for (const f of [undefined, filter]) {
    const x = a.search(q, nq, 7, { ef: 32, nprobe: 4 }, f);
    const y = b.search(q, nq, 7, { ef: 32, nprobe: 4 }, f);
    for (let i = 0; i < x.scores.length; i++) {
      const s = x.scores[i]!;
      assert.ok(
        tie(y.scores[i]!, s) || (Number.isNaN(s) && Number.isNaN(y.scores[i]!)),
        `${ctx}: score ${y.scores[i]} for ${s}`,
      );
      if (y.offsets[i] === x.offsets[i]) continue;
      // Filtered, the addon walks (not the binding's over-fetch), so among rows tied at the k-th
      // score it may meet another one first.
      const kth = x.scores[(Math.floor(i / 7) + 1) * 7 - 1];
      const p = i % 7;
      const near = (p > 0 && tie(s, x.scores[i - 1])) || (p < 6 && tie(s, x.scores[i + 1]));
      assert.ok(
        (f !== undefined && s === kth) || (viaAddon && (near || tie(s, kth))),
        `${ctx}: row ${y.offsets[i]} for ${x.offsets[i]} (not a tie)`,
      );
    }
  }
}

describe(`index files (seed ${SEED})`, () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dir.cleanup();
  });

  for (const { spec, vectors, queries, nq } of SPECS) {
    const name = `${spec.type} ${spec.metric}`;

    it(`${name}: file and bytes round trips describe themselves and search like the original`, async () => {
      const idx = build(spec, vectors);
      const path = join(dir.dir, `${spec.type}-${spec.metric}.idx`);
      const info = writeIndexFileSync(path, idx);
      assert.equal(info.count, idx.count);
      assert.equal(info.spec.type, spec.type);
      assert.equal(info.spec.metric, spec.metric);
      assert.equal(info.spec.dim, spec.dim);
      const onDisk = readFileSync(path);
      assert.equal(onDisk.length, info.fileLength);
      assert.deepEqual(verifyIndexBytes(onDisk), info);
      assert.deepEqual(await verifyIndexFile(path), info);
      const bytes = indexToBytes(idx);
      assert.equal(Buffer.compare(Buffer.from(bytes), onDisk), 0, "bytes and file should be identical");
      const viewed = await openIndexFile(path);
      const loaded = await openIndexFile(path, { mode: "load" });
      const fromBytes = loadIndexBytes(bytes);
      for (const [what, other] of [
        ["view", viewed],
        ["load", loaded],
        ["bytes", fromBytes],
      ] as const) {
        assert.equal(other.type, spec.type);
        assert.equal(other.count, idx.count);
        sameResults(idx, other, queries, nq, `${name} ${what}`);
      }
    });

    it(`${name}: a flipped byte anywhere, or any truncation, is Corrupted (bytes and files)`, async () => {
      const bytes = indexToBytes(build(spec, vectors));
      const r = rng(SEED + bytes.length);
      // Random offsets over the whole file, plus every byte of the trailer (the last ~100 bytes).
      const offsets = new Set<number>();
      while (offsets.size < 40) offsets.add(Math.floor(r() * bytes.length));
      for (let i = Math.max(0, bytes.length - 120); i < bytes.length; i++) offsets.add(i);
      const path = join(dir.dir, `bad-${spec.type}-${spec.metric}.idx`);
      let fileChecks = 0;
      for (const off of offsets) {
        const bad = bytes.slice();
        bad[off]! ^= 1 << Math.floor(r() * 8);
        assert.throws(
          () => loadIndexBytes(bad),
          isCorrupted,
          `flip at ${off} of ${bytes.length} not detected`,
        );
        if (fileChecks++ < 25) {
          writeFileSync(path, bad);
          await assert.rejects(openIndexFile(path), isCorrupted, `file flip at ${off} not detected`);
        }
      }
      const cuts = [0, 1, 15, 16, bytes.length - 1, bytes.length - 17, Math.floor(bytes.length / 2)];
      for (let i = 0; i < 10; i++) cuts.push(Math.floor(r() * bytes.length));
      for (const len of cuts) {
        const cut = bytes.slice(0, len);
        assert.throws(() => verifyIndexBytes(cut), isCorrupted, `truncation to ${len} not detected`);
        writeFileSync(path, cut);
        await assert.rejects(
          openIndexFile(path, { mode: "load" }),
          isCorrupted,
          `file truncated to ${len} not detected`,
        );
      }
      // Bytes appended after the trailer are as wrong as bytes missing.
      const longer = new Uint8Array(bytes.length + 5);
      longer.set(bytes);
      assert.throws(() => verifyIndexBytes(longer), isCorrupted);
    });
  }

  it("indexes of an empty segment round trip through files and bytes", async () => {
    for (const spec of [
      { type: "HNSW", metric: "COSINE", dim: 16, params: {} },
      { type: "HNSW", metric: "HAMMING", dim: 64, params: {} },
      { type: "IVF_SQ8", metric: "L2", dim: 16, params: {} },
    ] as const) {
      const empty = spec.metric === "HAMMING" ? new Uint8Array(0) : new Float32Array(0);
      const q = spec.metric === "HAMMING" ? new Uint8Array(8) : d.queries.subarray(0, 16);
      const idx = build(spec, empty);
      const path = join(dir.dir, `empty-${spec.type}-${spec.metric}.idx`);
      writeIndexFileSync(path, idx);
      for (const other of [await openIndexFile(path), loadIndexBytes(indexToBytes(idx))]) {
        assert.equal(other.count, 0);
        assert.deepEqual([...other.search(q, 1, 3).offsets], [-1, -1, -1], spec.type);
      }
    }
  });

  it("a trailer from a newer format version is refused as Unimplemented, not misread", () => {
    const bytes = indexToBytes(
      IvfIndex.build({ type: "IVF_FLAT", metric: "L2", dim: 16, params: { nlist: 4 } }, d.base),
    );
    const info = verifyIndexBytes(bytes);
    const trailer = Buffer.from(encodeTrailer(info.spec, info.count, info.payloadLength, info.payloadCrc));
    trailer.writeUInt16LE(INDEX_FORMAT_VERSION + 1, 8);
    const newer = withTrailer(bytes, info.payloadLength, trailer);
    assert.throws(
      () => verifyIndexBytes(newer),
      (e: unknown) => (e as { code?: string }).code === "Unimplemented",
    );
  });

  it("measured properties round trip (Infinity and unmeasured levels too); version 1 files still read", () => {
    const spec: IndexSpec = { type: "HNSW", metric: "L2", dim: 16, params: { M: 8, efConstruction: 40 } };
    const built = HnswIndex.build(spec, d.base);
    const bytes = indexToBytes(built);
    built.close();
    const info = verifyIndexBytes(bytes);
    const widths = [Number.POSITIVE_INFINITY, 1, 0.75];
    for (const twoHopWidths of [widths, [Number.NaN, 2, 2]]) {
      const t = encodeTrailer(info.spec, info.count, info.payloadLength, info.payloadCrc, { twoHopWidths });
      const back = verifyIndexBytes(withTrailer(bytes, info.payloadLength, Buffer.from(t)));
      assert.deepEqual(back.props.twoHopWidths, twoHopWidths);
      assert.deepEqual(back.spec, info.spec, "the properties are not build parameters");
      const opened = loadIndexBytes(withTrailer(bytes, info.payloadLength, Buffer.from(t)));
      if (opened instanceof HnswIndex && opened.nativeFilter)
        assert.deepEqual(opened.twoHopWidths, twoHopWidths, "an opened index gets them");
      opened.close();
    }
    // Version 1: the same layout without properties.
    const v1 = Buffer.from(encodeTrailer(info.spec, info.count, info.payloadLength, info.payloadCrc));
    v1.writeUInt16LE(1, 8);
    assert.deepEqual(verifyIndexBytes(withTrailer(bytes, info.payloadLength, v1)).props, {});
    // Properties a version 1 writer could not have written, or malformed ones, are Corrupted.
    const bad = (props: string, version = INDEX_FORMAT_VERSION): Buffer => {
      const json = Buffer.from(JSON.stringify({ ...info.spec.params, $props: JSON.parse(props) }));
      const t = Buffer.from(
        encodeTrailer({ ...info.spec, params: {} }, info.count, info.payloadLength, info.payloadCrc),
      );
      const P = json.length;
      const out = Buffer.alloc(40 + P + 16);
      t.copy(out, 0, 0, 36);
      out.writeUInt16LE(version, 8);
      out.writeUInt32LE(P, 36);
      json.copy(out, 40);
      out.writeUInt32LE(out.length, 40 + P);
      t.copy(out, 40 + P + 8, t.length - 8);
      return withTrailer(bytes, info.payloadLength, out);
    };
    const good = (levels: string, widths: string) => `{"twoHop":{"levels":${levels},"widths":${widths}}}`;
    const current = JSON.stringify(TWO_HOP_LEVELS);
    assert.deepEqual(
      verifyIndexBytes(bad(good(current, "[0,1,1]"))).props.twoHopWidths,
      [Number.POSITIVE_INFINITY, 1, 1],
      "the hand-made trailer is valid",
    );
    assert.deepEqual(
      verifyIndexBytes(bad(good("[0.05,0.1]", "[0,1]"))).props,
      {},
      "widths measured at other levels are dropped, not refused",
    );
    for (const [props, version] of [
      [good(current, "[0,1,1]"), 1],
      [good(current, "[1]"), INDEX_FORMAT_VERSION],
      [good(current, "[0.1,1,1]"), INDEX_FORMAT_VERSION],
      [good(current, '["1",1,1]'), INDEX_FORMAT_VERSION],
      ['{"twoHop":[1,1,1]}', INDEX_FORMAT_VERSION],
      ["[1]", INDEX_FORMAT_VERSION],
    ] as const) {
      assert.throws(
        () => verifyIndexBytes(bad(props, version)),
        (e: unknown) => (e as { code?: string }).code === "Corrupted",
        `${props} in version ${version}`,
      );
    }
  });

  it("a missing file is KeyNotFound; a non-index file is Corrupted", async () => {
    await assert.rejects(
      openIndexFile(join(dir.dir, "nope.idx")),
      (e: unknown) => (e as { code?: string }).code === "KeyNotFound",
    );
    const junk = join(dir.dir, "junk.idx");
    writeFileSync(junk, "hello, this is not an index");
    await assert.rejects(openIndexFile(junk), isCorrupted);
    writeFileSync(junk, "");
    await assert.rejects(openIndexFile(junk), isCorrupted);
  });
});

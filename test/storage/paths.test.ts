import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import {
  buildLogPath,
  deltaLogPath,
  insertLogPath,
  type LogPath,
  logPrefix,
  parseLogPath,
  statsLogPath,
} from "../../src/storage/index.ts";
import { rng } from "../helpers/env.ts";
import { int } from "./gen.ts";

const MAX63 = (1n << 63n) - 1n;

function randomId(r: () => number): bigint {
  const k = r();
  if (k < 0.1) return 0n;
  if (k < 0.2) return MAX63;
  return ((BigInt(int(r, 0, 0x7fffffff)) << 32n) | BigInt(int(r, 0, 0xffffffff))) >> BigInt(int(r, 0, 60));
}

function isInvalid(e: unknown): boolean {
  return isStrataError(e, "ParameterInvalid");
}

describe("log paths", () => {
  it("the documented layout", () => {
    assert.equal(insertLogPath(1n, 2n, 3n, 100, 4n), "insert_log/1/2/3/100/4");
    assert.equal(statsLogPath(1n, 2n, 3n, 100, 4n), "stats_log/1/2/3/100/4");
    assert.equal(deltaLogPath(1n, 2n, 3n, 4n), "delta_log/1/2/3/4");
    assert.equal(
      insertLogPath(449812345678901234n, MAX63, 0n, 0, 7n),
      "insert_log/449812345678901234/9223372036854775807/0/0/7",
    );
  });

  it("build/parse round trip both ways (seeded)", () => {
    const r = rng(31337);
    for (let k = 0; k < 500; k++) {
      const kind = (["insert_log", "stats_log", "delta_log"] as const)[int(r, 0, 2)] ?? "insert_log";
      const base = {
        collectionId: randomId(r),
        partitionId: randomId(r),
        segmentId: randomId(r),
        logId: randomId(r),
      };
      const p: LogPath =
        kind === "delta_log" ? { kind, ...base } : { kind, ...base, fieldId: int(r, 0, 1000) };
      const key = buildLogPath(p);
      assert.deepEqual(parseLogPath(key), p, key);
      assert.equal(buildLogPath(parseLogPath(key)), key);
    }
  });

  it("prefixes match exactly the keys below them", () => {
    assert.equal(logPrefix("insert_log", 1n, 2n, 3n), "insert_log/1/2/3/");
    assert.equal(logPrefix("insert_log", 1n, 2n, 3n, 100), "insert_log/1/2/3/100/");
    assert.equal(logPrefix("delta_log", 1n), "delta_log/1/");
    assert.equal(logPrefix("stats_log"), "stats_log/");
    assert.ok(insertLogPath(1n, 2n, 3n, 100, 9n).startsWith(logPrefix("insert_log", 1n, 2n, 3n, 100)));
    // Segment 3 must not list segment 30.
    assert.ok(!insertLogPath(1n, 2n, 30n, 100, 9n).startsWith(logPrefix("insert_log", 1n, 2n, 3n)));
    assert.throws(() => logPrefix("delta_log", 1n, 2n, 3n, 100), isInvalid);
    assert.throws(() => logPrefix("insert_log", 1n, undefined, 3n), isInvalid);
  });

  it("rejects bad IDs when building", () => {
    assert.throws(() => insertLogPath(-1n, 2n, 3n, 100, 4n), isInvalid);
    assert.throws(() => insertLogPath(1n << 63n, 2n, 3n, 100, 4n), isInvalid);
    assert.throws(() => insertLogPath(1n, 2n, 3n, -1, 4n), isInvalid);
    assert.throws(() => insertLogPath(1n, 2n, 3n, 1.5, 4n), isInvalid);
    assert.throws(() => deltaLogPath(1n, 2n, 3n, 4 as unknown as bigint), isInvalid);
    assert.throws(() => buildLogPath({ kind: "other_log" } as unknown as LogPath), isInvalid);
  });

  it("rejects keys that are not canonical log paths", () => {
    for (const key of [
      "",
      "insert_log/1/2/3/100",
      "insert_log/1/2/3/100/4/5",
      "delta_log/1/2/3/100/4",
      "delta_log/1/2/3",
      "insert_log/01/2/3/100/4",
      "insert_log/-1/2/3/100/4",
      "insert_log/+1/2/3/100/4",
      "insert_log/1/2/3/100/ 4",
      "insert_log/1//3/100/4",
      "insert_log/9223372036854775808/2/3/100/4",
      "insert_log/1/2/3/100/4/",
      "/insert_log/1/2/3/100/4",
      "index_files/1/2/3/100/4",
      "insert_log/1/2/3/x/4",
    ]) {
      assert.throws(() => parseLogPath(key), isInvalid, JSON.stringify(key));
    }
  });
});

/**
 * The shared contract every ObjectStore implementation must pass. Each test gets a fresh, empty
 * namespace from the fixture and compares the store against a plain in-memory oracle.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ErrorCode, isStrataError } from "../../src/common/errors.ts";
import type { ObjectStore } from "../../src/objectstore/index.ts";
import { rng } from "../helpers/env.ts";

export interface ObjectStoreFixture {
  /** Opens a store on this fixture's namespace; calling it again reopens the same namespace. */
  open(): Promise<ObjectStore>;
  /** Removes everything the fixture created. */
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  readonly skip?: string | false;
  readonly before?: () => Promise<void>;
  readonly after?: () => Promise<void>;
  /** A fixture over a fresh, empty namespace. */
  readonly fresh: () => Promise<ObjectStoreFixture>;
  /**
   * Why the server under test cannot keep concurrent overwrites of one key atomic (s3rver writes
   * objects in place), which skips that one test; unset for a correct backend.
   */
  readonly skipConcurrentOverwrite?: string;
}

const MiB = 1024 * 1024;

export function randomBytes(next: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const w = Math.floor(next() * 0x1_0000_0000);
    out[i] = w & 0xff;
    if (i + 1 < n) out[i + 1] = (w >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (w >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = w >>> 24;
  }
  return out;
}

/** Byte-exact comparison with a short message (assert's diff of megabytes is useless). */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.byteLength, expected.byteLength, `${what}: length`);
  const i = actual.findIndex((b, j) => b !== expected[j]);
  assert.equal(i, -1, `${what}: first differing byte at ${i}`);
}

/** The result owns exactly its bytes, as the interface promises. */
function assertExact(b: Uint8Array, what: string): void {
  assert.ok(b instanceof Uint8Array, `${what}: a Uint8Array`);
  assert.equal(b.byteOffset, 0, `${what}: byteOffset`);
  assert.equal(b.buffer.byteLength, b.byteLength, `${what}: owns its buffer`);
}

export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStrataError(e, code), `${what}: expected StrataError ${code}, got ${String(e)}`);
    return true;
  });
}

export async function mapLimit<T>(items: readonly T[], limit: number, fn: (x: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function utf8Sorted(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Runs `fn` with a seeded rng; a failure names the seed so it can be replayed via STRATA_TEST_SEED. */
async function seeded(fn: (next: () => number) => Promise<void>): Promise<void> {
  const seed = Number(process.env.STRATA_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
  try {
    await fn(rng(seed));
  } catch (e) {
    console.error(`objectstore contract failed with seed ${seed} (STRATA_TEST_SEED=${seed} to replay)`);
    throw e;
  }
}

export const BAD_KEYS: readonly string[] = [
  "",
  "/abs",
  "/",
  "a/",
  "a//b",
  ".",
  "..",
  "./a",
  "a/./b",
  "../a",
  "a/../b",
  "a/..",
  "../../etc/passwd",
  "a\\b",
  "..\\..\\x",
  "a/..\\..\\x",
  "a\u0000b",
  "a\nb",
  "a\u007fb",
  "x".repeat(201),
  `a/${"é".repeat(100)}b`, // 201 bytes in one segment
  Array.from({ length: 4 }, () => "y".repeat(192)).join("/"), // 771 bytes
];

export function objectStoreContract(name: string, opts: ContractOptions): void {
  describe(`ObjectStore contract: ${name}`, { skip: opts.skip ?? false }, () => {
    if (opts.before) before(opts.before);
    if (opts.after) after(opts.after);

    async function withStore(fn: (s: ObjectStore, fx: ObjectStoreFixture) => Promise<void>): Promise<void> {
      const fx = await opts.fresh();
      const s = await fx.open();
      try {
        await fn(s, fx);
      } finally {
        await s.close();
        await fx.cleanup();
      }
    }

    it("round-trips random binary objects bit-exactly, 0 bytes to 8 MiB, and another instance sees them", () =>
      withStore((s, fx) =>
        seeded(async (next) => {
          const sizes = [0, 1, 3, 4096, 65_537, 8 * MiB + 13];
          const objs = sizes.map((n, i) => ({ key: `rt/obj-${i}`, data: randomBytes(next, n) }));
          for (const o of objs) await s.put(o.key, o.data);
          for (const o of objs) {
            const got = await s.get(o.key);
            assertExact(got, o.key);
            assertBytes(got, o.data, o.key);
            assert.deepEqual(await s.stat(o.key), { key: o.key, size: o.data.byteLength });
          }
          const again = await fx.open();
          try {
            for (const o of objs) assertBytes(await again.get(o.key), o.data, `reopened ${o.key}`);
          } finally {
            await again.close();
          }
        }),
      ));

    it("put copies the caller's bytes: mutating the array afterwards changes nothing", () =>
      withStore(async (s) => {
        const data = new Uint8Array([1, 2, 3, 4]);
        await s.put("copy/k", data);
        data.fill(9);
        assert.deepEqual([...(await s.get("copy/k"))], [1, 2, 3, 4]);
      }));

    it("accepts unusual but valid keys (spaces, URL metacharacters, unicode, dots, max lengths)", () =>
      withStore(async (s) => {
        const keys = [
          "sp ace/a+b%20c#d?e=f&g",
          "unicode/ü/日本/😀",
          "dots/.hidden/...",
          "dots/a..b",
          `long/${"s".repeat(200)}`,
          `long/${"é".repeat(100)}`,
          Array.from({ length: 3 }, (_, i) => `${i}${"z".repeat(199)}`)
            .join("/")
            .concat(`/${"w".repeat(165)}`), // exactly 768 bytes
        ];
        assert.equal(Buffer.byteLength(keys[6]!), 768);
        for (const [i, k] of keys.entries()) await s.put(k, new Uint8Array([i, i + 1]));
        for (const [i, k] of keys.entries()) assert.deepEqual([...(await s.get(k))], [i, i + 1], k);
        assert.deepEqual(
          (await s.list("")).map((o) => o.key),
          utf8Sorted(keys),
        );
      }));

    it("overwrite replaces the whole object, shrinking or growing", () =>
      withStore((s) =>
        seeded(async (next) => {
          const big = randomBytes(next, 100_000);
          const small = randomBytes(next, 10);
          await s.put("ow/k", big);
          await s.put("ow/k", small);
          assertBytes(await s.get("ow/k"), small, "after shrink");
          assert.equal((await s.stat("ow/k"))?.size, 10);
          assertBytes(await s.getRange("ow/k", 0, 1000), small, "range after shrink");
          await s.put("ow/k", big);
          assertBytes(await s.get("ow/k"), big, "after grow");
          await s.put("ow/k", new Uint8Array(0));
          assert.equal((await s.get("ow/k")).byteLength, 0);
          assert.deepEqual(await s.list("ow/"), [{ key: "ow/k", size: 0 }]);
        }),
      ));

    it("getRange: start, middle, end, clipped past the end, offset at/past the end, zero length", () =>
      withStore((s) =>
        seeded(async (next) => {
          const data = randomBytes(next, 1000);
          await s.put("gr/k", data);
          const cases: [number, number][] = [
            [0, 1],
            [0, 10],
            [1, 1],
            [500, 100],
            [990, 10],
            [999, 1],
            [995, 100],
            [0, 1000],
            [0, 5000],
            [10, 0],
            [0, 0],
            [1000, 0],
            [1000, 7],
          ];
          for (const [off, len] of cases) {
            const got = await s.getRange("gr/k", off, len);
            assertExact(got, `range ${off}+${len}`);
            assertBytes(got, data.subarray(off, off + len), `range ${off}+${len}`);
          }
          for (let i = 0; i < 40; i++) {
            const off = Math.floor(next() * 1001);
            const len = Math.floor(next() * 300);
            assertBytes(
              await s.getRange("gr/k", off, len),
              data.subarray(off, off + len),
              `random ${off}+${len}`,
            );
          }
          await rejectsWith(s.getRange("gr/k", 1001, 1), "ParameterInvalid", "offset past end");
          await rejectsWith(s.getRange("gr/k", 5000, 0), "ParameterInvalid", "offset past end, length 0");
          await rejectsWith(s.getRange("gr/k", -1, 5), "ParameterInvalid", "negative offset");
          await rejectsWith(s.getRange("gr/k", 0, -5), "ParameterInvalid", "negative length");
          await rejectsWith(s.getRange("gr/k", 1.5, 5), "ParameterInvalid", "fractional offset");
          await rejectsWith(s.getRange("gr/k", 0, Number.NaN), "ParameterInvalid", "NaN length");
          await rejectsWith(s.getRange("gr/missing", 0, 5), "KeyNotFound", "missing");
          await rejectsWith(s.getRange("gr/missing", 0, 0), "KeyNotFound", "missing, length 0");

          await s.put("gr/empty", new Uint8Array(0));
          assert.equal((await s.getRange("gr/empty", 0, 10)).byteLength, 0);
          assert.equal((await s.getRange("gr/empty", 0, 0)).byteLength, 0);
          await rejectsWith(s.getRange("gr/empty", 1, 1), "ParameterInvalid", "past end of empty");
        }),
      ));

    it("getRange deep inside an 8 MiB object matches the oracle", () =>
      withStore((s) =>
        seeded(async (next) => {
          const data = randomBytes(next, 8 * MiB + 5);
          await s.put("gr/big", data);
          for (const [off, len] of [
            [5 * MiB - 3, 1 * MiB],
            [8 * MiB - 10, 100],
            [1, 8 * MiB + 4],
          ] as const) {
            assertBytes(await s.getRange("gr/big", off, len), data.subarray(off, off + len), `${off}+${len}`);
          }
        }),
      ));

    it("stat: present, absent, and a directory-like prefix is not an object", () =>
      withStore(async (s) => {
        assert.equal(await s.stat("st/none"), undefined);
        await s.put("st/dir/leaf", new Uint8Array(42));
        assert.deepEqual(await s.stat("st/dir/leaf"), { key: "st/dir/leaf", size: 42 });
        assert.equal(await s.stat("st/dir"), undefined);
        assert.equal(await s.stat("st"), undefined);
        await rejectsWith(s.get("st/dir"), "KeyNotFound", "get of a prefix");
        assert.equal(await s.stat("st/dir/leaf/below"), undefined);
        await rejectsWith(s.get("st/dir/leaf/below"), "KeyNotFound", "get below an object");
      }));

    it("list: by prefix (also mid-name), nested, sorted by UTF-8 bytes, nothing from other prefixes", () =>
      withStore(async (s) => {
        const keys = [
          "insert_log/1/2/3/100/1",
          "insert_log/1/2/3/100/2",
          "insert_log/1/2/3/101/1",
          "insert_log/1/2/30/100/1",
          "insert_log/1/2/31",
          "insert_log/1/20/9",
          "insert_log/10/2/3",
          "insert_log2/x",
          "stats_log/1/2/3",
          "delta_log/1",
          "z/\uffff",
          "z/😀", // sorts after U+FFFF in UTF-8, before it in UTF-16
          "z/a",
          "z/B",
        ];
        const sizes = new Map(keys.map((k, i) => [k, i * 3]));
        for (const k of keys) await s.put(k, new Uint8Array(sizes.get(k)!));
        const oracle = (p: string) =>
          utf8Sorted(keys.filter((k) => k.startsWith(p))).map((key) => ({ key, size: sizes.get(key)! }));
        const prefixes = [
          "",
          "i",
          "insert_log",
          "insert_log/",
          "insert_log/1",
          "insert_log/1/",
          "insert_log/1/2/3",
          "insert_log/1/2/3/",
          "insert_log/1/2/3/10",
          "insert_log/1/2/3/100/1",
          "insert_log/1/2/3/100/1/",
          "insert_log/1/2/4",
          "stats_log/1/2/3/",
          "z/",
          "nothing",
          "nothing/here/",
          "..",
          ".",
          "insert_log/1/2/.",
        ];
        for (const p of prefixes) assert.deepEqual(await s.list(p), oracle(p), `list(${JSON.stringify(p)})`);
        assert.deepEqual(
          (await s.list("z/")).map((o) => o.key),
          ["z/B", "z/a", "z/\uffff", "z/😀"],
        );
        for (const bad of ["/abs", "a//", "../", "a/../b", "./", "a\\", "x\u0000"]) {
          await rejectsWith(s.list(bad), "ParameterInvalid", `list(${JSON.stringify(bad)})`);
        }
      }));

    it("delete: idempotent, leaves siblings, a missing key is fine, the namespace can be reused", () =>
      withStore(async (s) => {
        await s.put("del/a/1", new Uint8Array([1]));
        await s.put("del/a/2", new Uint8Array([2]));
        await s.put("del/b", new Uint8Array([3]));
        await s.delete("del/a/1");
        assert.equal(await s.stat("del/a/1"), undefined);
        await rejectsWith(s.get("del/a/1"), "KeyNotFound", "deleted");
        await s.delete("del/a/1");
        await s.delete("del/never/was");
        await s.delete("del/a"); // a prefix, not an object: nothing to delete, nothing deleted
        assert.deepEqual(
          (await s.list("del/")).map((o) => o.key),
          ["del/a/2", "del/b"],
        );
        await s.delete("del/a/2");
        await s.delete("del/b");
        assert.deepEqual(await s.list("del"), []);
        await s.put("del/a/1", new Uint8Array([4]));
        assert.deepEqual([...(await s.get("del/a/1"))], [4]);
      }));

    it("get of a missing key throws KeyNotFound (an input error)", () =>
      withStore(async (s) => {
        await assert.rejects(s.get("missing/key"), (e: unknown) => {
          assert.ok(isStrataError(e, "KeyNotFound"));
          assert.equal(e.kind, "input");
          assert.match(e.message, /missing\/key/);
          return true;
        });
      }));

    it("rejects bad keys and bad data with ParameterInvalid on every call, writing nothing", () =>
      withStore(async (s) => {
        for (const k of BAD_KEYS) {
          const what = JSON.stringify(k).slice(0, 40);
          await rejectsWith(s.put(k, new Uint8Array([1])), "ParameterInvalid", `put ${what}`);
          await rejectsWith(s.get(k), "ParameterInvalid", `get ${what}`);
          await rejectsWith(s.getRange(k, 0, 1), "ParameterInvalid", `getRange ${what}`);
          await rejectsWith(s.stat(k), "ParameterInvalid", `stat ${what}`);
          await rejectsWith(s.delete(k), "ParameterInvalid", `delete ${what}`);
        }
        const notAKey = 42 as unknown as string;
        await rejectsWith(s.put(notAKey, new Uint8Array(1)), "ParameterInvalid", "numeric key");
        const notBytes = "text" as unknown as Uint8Array;
        await rejectsWith(s.put("ok/key", notBytes), "ParameterInvalid", "string data");
        await rejectsWith(
          s.put("ok/key2", [1, 2] as unknown as Uint8Array),
          "ParameterInvalid",
          "array data",
        );
        assert.deepEqual(await s.list(""), []);
      }));

    it("concurrent puts of different keys all land intact", () =>
      withStore((s) =>
        seeded(async (next) => {
          const objs = Array.from({ length: 48 }, (_, i) => ({
            key: `cc/${i % 4}/k${i}`,
            data: randomBytes(next, Math.floor(next() * 200_000)),
          }));
          await Promise.all(objs.map((o) => s.put(o.key, o.data)));
          const listed = await s.list("cc/");
          assert.deepEqual(
            listed,
            utf8Sorted(objs.map((o) => o.key)).map((key) => ({
              key,
              size: objs.find((o) => o.key === key)!.data.byteLength,
            })),
          );
          await Promise.all(objs.map(async (o) => assertBytes(await s.get(o.key), o.data, o.key)));
        }),
      ));

    it(
      "concurrent puts of one key leave exactly one of the writes, whole",
      { skip: opts.skipConcurrentOverwrite ?? false },
      () =>
        withStore((s) =>
          seeded(async (next) => {
            const versions = Array.from({ length: 8 }, (_, i) => randomBytes(next, 50_000 + i * 1000));
            await Promise.all(versions.map((v) => s.put("cc/same", v)));
            const got = await s.get("cc/same");
            assert.ok(
              versions.some((v) => v.byteLength === got.byteLength && Buffer.compare(v, got) === 0),
              "the surviving object is exactly one of the writes",
            );
          }),
        ),
    );

    it("many keys: 1,500 objects list completely and in order (S3 pages past 1,000)", () =>
      withStore(async (s) => {
        const keys = Array.from({ length: 1500 }, (_, i) => `many/${(i * 7919) % 1500}/o`);
        await mapLimit(keys, 32, (k) => s.put(k, new TextEncoder().encode(k)));
        const all = await s.list("many/");
        assert.equal(all.length, 1500);
        assert.deepEqual(
          all,
          utf8Sorted(keys).map((key) => ({ key, size: Buffer.byteLength(key) })),
        );
        // "many/1" is a mid-name prefix: 1, 10-19, 100-199, 1000-1499.
        const ones = await s.list("many/1");
        assert.deepEqual(
          ones.map((o) => o.key),
          utf8Sorted(keys.filter((k) => k.startsWith("many/1"))),
        );
        assert.equal(ones.length, 1 + 10 + 100 + 500);
      }));

    it("close is idempotent and later calls throw Closed", async () => {
      const fx = await opts.fresh();
      const s = await fx.open();
      try {
        await s.put("cl/k", new Uint8Array([1]));
        await s.close();
        await s.close();
        await rejectsWith(s.get("cl/k"), "Closed", "get after close");
        await rejectsWith(s.put("cl/k", new Uint8Array(1)), "Closed", "put after close");
        await rejectsWith(s.list(""), "Closed", "list after close");
        const again = await fx.open();
        assert.deepEqual([...(await again.get("cl/k"))], [1]);
        await again.close();
      } finally {
        await fx.cleanup();
      }
    });
  });
}

/**
 * The MetaKv contract: every implementation registers these tests unchanged through a harness.
 *
 * On a shared etcd other processes may write at any moment, so a check that "this write advanced
 * the store revision by exactly one" is retried a few times and passes if any attempt sees it
 * undisturbed; an implementation that gets it wrong fails every attempt.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import { fromUtf8, utf8 } from "../../src/kv/codec.ts";
import type { Compare, CompareOp, KeyValue, MetaKv, WatchEvent } from "../../src/kv/types.ts";
import { rng } from "../helpers/env.ts";

export interface KvInstance {
  readonly kv: MetaKv;
  /** Closes `kv` if still open and opens the same state again (for etcd: a new client). */
  reopen(): Promise<MetaKv>;
  /** Removes everything the instance created; closes whatever is still open. */
  cleanup(): Promise<void>;
}

export interface KvHarness {
  /** A fresh, empty store. */
  create(): Promise<KvInstance>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

async function strictly(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 5; i++) if (await check()) return;
  assert.fail(`${what}: not observed in 5 attempts`);
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStrataError(e), `expected a StrataError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function text(kv: KeyValue | undefined): string | undefined {
  return kv === undefined ? undefined : fromUtf8(kv.value);
}

async function withKv(h: KvHarness, fn: (kv: MetaKv, inst: KvInstance) => Promise<void>): Promise<void> {
  const inst = await h.create();
  try {
    await fn(inst.kv, inst);
  } finally {
    await inst.cleanup();
  }
}

export function kvContract(
  name: string,
  h: KvHarness,
  opts: { skip: string | false } = { skip: false },
): void {
  describe(`MetaKv contract: ${name}`, { skip: opts.skip }, () => {
    it("get / put / delete with versions", () =>
      withKv(h, async (kv) => {
        assert.equal(await kv.get("k"), undefined);
        const r1 = await kv.put("k", utf8("one"));
        let got = await kv.get("k");
        assert.deepEqual(got, {
          key: "k",
          value: utf8("one"),
          createRevision: r1,
          modRevision: r1,
          version: 1,
        });
        const r2 = await kv.put("k", utf8("two"));
        assert.ok(r2 > r1);
        got = await kv.get("k");
        assert.deepEqual(got, {
          key: "k",
          value: utf8("two"),
          createRevision: r1,
          modRevision: r2,
          version: 2,
        });
        assert.equal(await kv.delete("k"), true);
        assert.equal(await kv.get("k"), undefined);
        assert.equal(await kv.delete("k"), false);
        const r3 = await kv.put("k", utf8("three"));
        got = await kv.get("k");
        assert.deepEqual(got, {
          key: "k",
          value: utf8("three"),
          createRevision: r3,
          modRevision: r3,
          version: 1,
        });
      }));

    it("every write advances the revision by one; a txn's writes share one", () =>
      withKv(h, async (kv) => {
        await strictly("put advances revision by 1", async () => {
          const before = await kv.revision();
          const r = await kv.put("a", utf8("1"));
          return r === before + 1 && (await kv.revision()) === r;
        });
        await strictly("consecutive puts are +1", async () => {
          const r1 = await kv.put("a", utf8("2"));
          const r2 = await kv.put("b", utf8("2"));
          return r2 === r1 + 1;
        });
        await strictly("delete advances by 1, a miss not at all", async () => {
          await kv.put("gone", utf8("x"));
          const before = await kv.revision();
          await kv.delete("gone");
          const mid = await kv.revision();
          assert.equal(await kv.delete("gone"), false);
          return mid === before + 1 && (await kv.revision()) === mid;
        });
        await strictly("txn writes share one revision", async () => {
          const before = await kv.revision();
          const res = await kv.txn({
            compare: [],
            success: [
              { type: "put", key: "t1", value: utf8("x") },
              { type: "put", key: "t2", value: utf8("y") },
              { type: "delete", key: "a" },
            ],
          });
          assert.ok(res.succeeded);
          const t1 = await kv.get("t1");
          const t2 = await kv.get("t2");
          assert.equal(t1?.modRevision, res.revision);
          assert.equal(t2?.modRevision, res.revision);
          assert.equal(await kv.get("a"), undefined);
          return res.revision === before + 1;
        });
        await strictly("a txn without writes does not advance", async () => {
          const before = await kv.revision();
          const res = await kv.txn({ compare: [], success: [{ type: "get", key: "t1" }] });
          return res.revision === before && (await kv.revision()) === before;
        });
      }));

    it("prefix scans are sorted by bytes and bounded by the prefix", () =>
      withKv(h, async (kv) => {
        const inside = ["a/1", "a/2", "a/10", "a/é", "a/\u{1F600}", "a/\uFFFD", "a/\u00ff", "a/a/b", "a/A"];
        const outside = ["a0", "a", "a.", "b/1", "A/1", "a\u{1F600}"];
        const r = rng(7);
        const all = [...inside, ...outside].sort(() => r() - 0.5);
        for (const k of all) await kv.put(k, utf8(`v:${k}`));
        const expected = [...inside].sort(byteOrder);
        const got = await kv.getPrefix("a/");
        assert.deepEqual(
          got.map((x) => x.key),
          expected,
        );
        for (const x of got) assert.equal(text(x), `v:${x.key}`);
        const limited = await kv.getPrefix("a/", { limit: 3 });
        assert.deepEqual(
          limited.map((x) => x.key),
          expected.slice(0, 3),
        );
        const everything = await kv.getPrefix("");
        assert.deepEqual(
          everything.map((x) => x.key),
          [...all].sort(byteOrder),
        );
        assert.deepEqual(await kv.getPrefix("zzz"), []);
        assert.deepEqual(
          (await kv.getPrefix("a/a")).map((x) => x.key),
          ["a/a/b"],
        );
      }));

    it("prefix scans page through many keys", () =>
      withKv(h, async (kv) => {
        const keys: string[] = [];
        for (let i = 0; i < 700; i++) keys.push(`many/${String(i).padStart(4, "0")}`);
        for (let i = 0; i < keys.length; i += 50) {
          await kv.txn({
            compare: [],
            success: keys.slice(i, i + 50).map((key) => ({ type: "put" as const, key, value: utf8(key) })),
          });
        }
        const got = await kv.getPrefix("many/");
        assert.deepEqual(
          got.map((x) => x.key),
          keys,
        );
        assert.equal((await kv.getPrefix("many/", { limit: 600 })).length, 600);
      }));

    it("deletePrefix deletes exactly the prefix, in one revision", () =>
      withKv(h, async (kv) => {
        for (const k of ["d/1", "d/2", "d/3/x", "d0", "d", "e/1"]) await kv.put(k, utf8(k));
        await strictly("deletePrefix is one revision", async () => {
          await kv.put("d/again", utf8("x"));
          const before = await kv.revision();
          const n = await kv.deletePrefix("d/");
          return n >= 1 && (await kv.revision()) === before + 1;
        });
        await kv.put("d/1", utf8("back"));
        await kv.put("d/2", utf8("back"));
        assert.equal(await kv.deletePrefix("d/"), 2);
        assert.deepEqual(await kv.getPrefix("d/"), []);
        assert.deepEqual(
          (await kv.getPrefix("")).map((x) => x.key),
          ["d", "d0", "e/1"],
        );
        assert.equal(await kv.deletePrefix("d/"), 0);
        assert.equal(await kv.deletePrefix("nothing/"), 0);
      }));

    it("txn compares every target with every op, including missing keys", () =>
      withKv(h, async (kv) => {
        const create = await kv.put("c", utf8("l"));
        const mod = await kv.put("c", utf8("m"));
        const ops: CompareOp[] = ["==", "!=", "<", ">"];
        const holds = (cmp: number, op: CompareOp): boolean =>
          op === "==" ? cmp === 0 : op === "!=" ? cmp !== 0 : op === "<" ? cmp < 0 : cmp > 0;
        const cases: { c: Compare; cmp: number | undefined }[] = [];
        for (const op of ops) {
          for (const [given, cmp] of [
            ["l", 1],
            ["m", 0],
            ["n", -1],
            ["", 1],
            ["mm", -1],
          ] as const) {
            cases.push({ c: { key: "c", target: "value", op, value: utf8(given) }, cmp });
            // A value compare on a missing key never holds.
            cases.push({ c: { key: "missing", target: "value", op, value: utf8(given) }, cmp: undefined });
          }
          for (const [target, actual] of [
            ["version", 2],
            ["createRevision", create],
            ["modRevision", mod],
          ] as const) {
            for (const given of [actual - 1, actual, actual + 1]) {
              cases.push({ c: { key: "c", target, op, value: given }, cmp: Math.sign(actual - given) });
            }
            for (const given of [0, 1]) {
              cases.push({ c: { key: "missing", target, op, value: given }, cmp: Math.sign(0 - given) });
            }
          }
        }
        for (const { c, cmp } of cases) {
          const expected = cmp === undefined ? false : holds(cmp, c.op);
          const res = await kv.txn({ compare: [c], success: [{ type: "get", key: "c" }], failure: [] });
          assert.equal(res.succeeded, expected, `${c.key} ${c.target} ${c.op} ${String(c.value)}`);
          assert.equal(res.gets.length, expected ? 1 : 0);
        }
        // All compares must hold.
        const both = await kv.txn({
          compare: [
            { key: "c", target: "version", op: "==", value: 2 },
            { key: "c", target: "version", op: "==", value: 3 },
          ],
          success: [{ type: "put", key: "c", value: utf8("no") }],
        });
        assert.equal(both.succeeded, false);
        assert.equal(text(await kv.get("c")), "m");
      }));

    it("txn takes the failure branch when a compare fails", () =>
      withKv(h, async (kv) => {
        await kv.put("x", utf8("1"));
        await kv.put("doomed", utf8("d"));
        const res = await kv.txn({
          compare: [{ key: "x", target: "value", op: "==", value: utf8("2") }],
          success: [{ type: "put", key: "s", value: utf8("s") }],
          failure: [
            { type: "put", key: "f", value: utf8("f") },
            { type: "get", key: "x" },
            { type: "get", key: "nope" },
            { type: "get", key: "f" },
            { type: "deletePrefix", prefix: "doo" },
          ],
        });
        assert.equal(res.succeeded, false);
        assert.equal(res.gets.length, 3);
        assert.equal(text(res.gets[0]), "1");
        assert.equal(res.gets[1], undefined);
        // A get after a put in the same txn sees it.
        assert.equal(text(res.gets[2]), "f");
        assert.equal(res.gets[2]?.modRevision, res.revision);
        assert.equal(await kv.get("s"), undefined);
        assert.equal(text(await kv.get("f")), "f");
        assert.equal(await kv.get("doomed"), undefined);
        const none = await kv.txn({
          compare: [{ key: "x", target: "version", op: ">", value: 5 }],
          success: [],
        });
        assert.deepEqual(none.gets, []);
        assert.equal(none.succeeded, false);
      }));

    it("bad input is refused with a typed error and changes nothing", () =>
      withKv(h, async (kv) => {
        await kv.put("keep", utf8("k"));
        const bad = utf8("x");
        await rejectsWith(kv.put("", bad), "ParameterInvalid");
        await rejectsWith(kv.put("k\ud800", bad), "ParameterInvalid");
        await rejectsWith(kv.put("k", "string" as unknown as Uint8Array), "ParameterInvalid");
        await rejectsWith(kv.get(""), "ParameterInvalid");
        await rejectsWith(kv.grantLease(0), "ParameterInvalid");
        await rejectsWith(kv.grantLease(1.5), "ParameterInvalid");
        await rejectsWith(kv.getPrefix("", { limit: 0 }), "ParameterInvalid");
        await rejectsWith(kv.keepAlive("not-a-lease"), "ParameterInvalid");
        await rejectsWith(kv.put("k", bad, { lease: "12345" }), "LeaseExpired");
        await rejectsWith(
          kv.txn({
            compare: [],
            success: [
              { type: "put", key: "p1", value: bad },
              { type: "put", key: "p1", value: bad },
            ],
          }),
          "ParameterInvalid",
        );
        await rejectsWith(
          kv.txn({
            compare: [],
            success: [
              { type: "put", key: "p/1", value: bad },
              { type: "deletePrefix", prefix: "p/" },
            ],
          }),
          "ParameterInvalid",
        );
        await rejectsWith(
          kv.txn({
            compare: [{ key: "keep", target: "version", op: "~" as CompareOp, value: 1 }],
            success: [],
          }),
          "ParameterInvalid",
        );
        await rejectsWith(
          kv.watch("", () => undefined, { fromRevision: 0 }),
          "ParameterInvalid",
        );
        assert.deepEqual(
          (await kv.getPrefix("")).map((x) => x.key),
          ["keep"],
        );
      }));

    it("concurrent CAS increments never lose an update", () =>
      withKv(h, async (kv) => {
        const clients = 8;
        const perClient = 20;
        let conflicts = 0;
        const increment = async (): Promise<void> => {
          for (;;) {
            const cur = await kv.get("counter");
            const n = cur === undefined ? 0 : Number(fromUtf8(cur.value));
            const res = await kv.txn({
              compare: [{ key: "counter", target: "modRevision", op: "==", value: cur?.modRevision ?? 0 }],
              success: [{ type: "put", key: "counter", value: utf8(String(n + 1)) }],
            });
            if (res.succeeded) return;
            conflicts++;
          }
        };
        await Promise.all(
          Array.from({ length: clients }, async () => {
            for (let i = 0; i < perClient; i++) await increment();
          }),
        );
        const final = await kv.get("counter");
        assert.equal(text(final), String(clients * perClient));
        assert.equal(final?.version, clients * perClient);
        assert.ok(conflicts > 0, "the clients should have raced at least once");
      }));

    it("watch delivers live events under the prefix in order, exactly once", () =>
      withKv(h, async (kv) => {
        const got: WatchEvent[] = [];
        const w = await kv.watch("w/", (evs) => got.push(...evs));
        const expected: { type: string; key: string; value: string; rev: number }[] = [];
        const r1 = await kv.put("w/1", utf8("a"));
        expected.push({ type: "put", key: "w/1", value: "a", rev: r1 });
        await kv.put("x/1", utf8("outside"));
        await kv.put("w0", utf8("outside"));
        const r2 = await kv.put("w/2", utf8("b"));
        expected.push({ type: "put", key: "w/2", value: "b", rev: r2 });
        const del = await kv.txn({ compare: [], success: [{ type: "delete", key: "w/1" }] });
        expected.push({ type: "delete", key: "w/1", value: "", rev: del.revision });
        const t = await kv.txn({
          compare: [],
          success: [
            { type: "put", key: "w/3", value: utf8("c") },
            { type: "put", key: "w/4", value: utf8("") },
            { type: "put", key: "y", value: utf8("outside") },
          ],
        });
        expected.push({ type: "put", key: "w/3", value: "c", rev: t.revision });
        expected.push({ type: "put", key: "w/4", value: "", rev: t.revision });
        const concurrent = await Promise.all(
          Array.from({ length: 20 }, (_, i) => kv.put(`w/c${i}`, utf8(`${i}`))),
        );
        concurrent.forEach((rev, i) => {
          expected.push({ type: "put", key: `w/c${i}`, value: `${i}`, rev });
        });
        expected.sort((a, b) => a.rev - b.rev || byteOrder(a.key, b.key));
        await waitFor("all watch events", () => got.length >= expected.length, 5000);
        await sleep(200);
        await w.close();
        assert.deepEqual(
          got.map((e) => ({ type: e.type, key: e.key, value: fromUtf8(e.value), rev: e.modRevision })),
          expected,
        );
        const before = got.length;
        await kv.put("w/after-close", utf8("z"));
        await sleep(200);
        assert.equal(got.length, before, "no events after close");
        await w.close();
      }));

    it("watch resumes from a past revision, replaying the gap once", () =>
      withKv(h, async (kv) => {
        const r1 = await kv.put("r/1", utf8("1"));
        const r2 = await kv.put("r/2", utf8("2"));
        await kv.put("s/ignored", utf8("-"));
        const r3 = await kv.put("r/1", utf8("1b"));
        const got: WatchEvent[] = [];
        const w = await kv.watch("r/", (evs) => got.push(...evs), { fromRevision: r2 });
        const r4 = await kv.put("r/3", utf8("3"));
        await waitFor("replay and live events", () => got.length >= 3, 5000);
        await sleep(200);
        await w.close();
        assert.deepEqual(
          got.map((e) => [e.key, fromUtf8(e.value), e.modRevision]),
          [
            ["r/2", "2", r2],
            ["r/1", "1b", r3],
            ["r/3", "3", r4],
          ],
        );
        // From the very first revision of this test.
        const all: WatchEvent[] = [];
        const w2 = await kv.watch("r/", (evs) => all.push(...evs), { fromRevision: r1 });
        await waitFor("full replay", () => all.length >= 4, 5000);
        await sleep(100);
        await w2.close();
        assert.deepEqual(
          all.map((e) => e.modRevision),
          [r1, r2, r3, r4],
        );
      }));

    it("keys vanish when their lease lapses; keepAlive on a lapsed lease throws", () =>
      withKv(h, async (kv) => {
        const lease = await kv.grantLease(1);
        const t0 = Date.now();
        await kv.put("l/1", utf8("x"), { lease });
        await kv.put("l/2", utf8("y"), { lease });
        await kv.put("l/3", utf8("z"));
        assert.equal((await kv.get("l/1"))?.lease, lease);
        assert.equal((await kv.get("l/3"))?.lease, undefined);
        await waitFor("leased keys to vanish", async () => (await kv.get("l/1")) === undefined, 8000);
        const elapsed = Date.now() - t0;
        assert.ok(elapsed >= 900, `keys vanished after ${elapsed} ms, before the TTL`);
        assert.equal(await kv.get("l/2"), undefined);
        assert.equal(text(await kv.get("l/3")), "z");
        await rejectsWith(kv.keepAlive(lease), "LeaseExpired");
        await rejectsWith(kv.put("l/4", utf8("w"), { lease }), "LeaseExpired");
      }));

    it("keepAlive keeps a lease alive; it lapses once renewals stop", () =>
      withKv(h, async (kv) => {
        const lease = await kv.grantLease(1);
        await kv.put("ka", utf8("x"), { lease });
        const until = Date.now() + 3500;
        while (Date.now() < until) {
          await kv.keepAlive(lease);
          await sleep(250);
          assert.ok((await kv.get("ka")) !== undefined, "key vanished while renewed");
        }
        await waitFor(
          "key to vanish after renewals stop",
          async () => (await kv.get("ka")) === undefined,
          8000,
        );
      }));

    it("revoking a lease deletes its keys at once and is idempotent", () =>
      withKv(h, async (kv) => {
        const lease = await kv.grantLease(60);
        await kv.put("rv/1", utf8("1"), { lease });
        await kv.txn({ compare: [], success: [{ type: "put", key: "rv/2", value: utf8("2"), lease }] });
        await kv.put("rv/3", utf8("3"), { lease });
        await kv.put("rv/3", utf8("3 unleased"));
        await kv.revokeLease(lease);
        assert.deepEqual(
          (await kv.getPrefix("rv/")).map((x) => [x.key, text(x)]),
          [["rv/3", "3 unleased"]],
        );
        await kv.revokeLease(lease);
        await rejectsWith(kv.keepAlive(lease), "LeaseExpired");
        await rejectsWith(kv.put("rv/4", utf8("4"), { lease }), "LeaseExpired");
        await rejectsWith(
          kv.txn({ compare: [], success: [{ type: "put", key: "rv/5", value: utf8("5"), lease }] }),
          "LeaseExpired",
        );
        assert.equal(await kv.get("rv/5"), undefined);
      }));

    it("binary and empty values round-trip", () =>
      withKv(h, async (kv) => {
        const all = new Uint8Array(256).map((_, i) => i);
        const r = rng(42);
        const random = new Uint8Array(100_000).map(() => Math.floor(r() * 256));
        const zeros = new Uint8Array(17);
        await kv.put("bin/all", all);
        await kv.put("bin/random", random);
        await kv.put("bin/zeros", zeros);
        await kv.put("bin/empty", new Uint8Array(0));
        await kv.put("bin/view", Buffer.from([9, 8, 7, 6]).subarray(1, 3));
        assert.deepEqual((await kv.get("bin/all"))?.value, all);
        assert.deepEqual((await kv.get("bin/random"))?.value, random);
        assert.deepEqual((await kv.get("bin/zeros"))?.value, zeros);
        const empty = await kv.get("bin/empty");
        assert.ok(empty !== undefined, "an empty value is still a key");
        assert.deepEqual(empty.value, new Uint8Array(0));
        assert.deepEqual((await kv.get("bin/view"))?.value, new Uint8Array([8, 7]));
        // Mutating a buffer after put, or a returned value, changes nothing stored.
        const mutable = new Uint8Array([1, 2, 3]);
        await kv.put("bin/mut", mutable);
        mutable[0] = 99;
        const back = await kv.get("bin/mut");
        assert.deepEqual(back?.value, new Uint8Array([1, 2, 3]));
        back!.value[1] = 99;
        assert.deepEqual((await kv.get("bin/mut"))?.value, new Uint8Array([1, 2, 3]));
        const cmp = await kv.txn({
          compare: [{ key: "bin/empty", target: "value", op: "==", value: new Uint8Array(0) }],
          success: [{ type: "get", key: "bin/all" }],
        });
        assert.equal(cmp.succeeded, true);
        assert.deepEqual(cmp.gets[0]?.value, all);
      }));

    it("reopening keeps the state and revisions continue", () =>
      withKv(h, async (kv, inst) => {
        const lease = await kv.grantLease(60);
        await kv.put("p/a", utf8("a"));
        await kv.put("p/a", utf8("a2"));
        await kv.put("p/b", utf8("b"), { lease });
        await kv.put("p/c", utf8("c"));
        await kv.delete("p/c");
        await kv.txn({
          compare: [],
          success: [
            { type: "put", key: "p/d", value: utf8("d") },
            { type: "put", key: "p/e", value: new Uint8Array([0, 255]) },
          ],
        });
        const before = await kv.getPrefix("");
        const rev = await kv.revision();
        const kv2 = await inst.reopen();
        assert.deepEqual(await kv2.getPrefix(""), before);
        assert.ok((await kv2.revision()) >= rev);
        const next = await kv2.put("p/f", utf8("f"));
        assert.ok(next > rev);
        // The lease survived too: it still owns its key and can be revoked.
        await kv2.keepAlive(lease);
        await kv2.revokeLease(lease);
        assert.equal(await kv2.get("p/b"), undefined);
      }));

    it("refuses calls after close", async () => {
      const inst = await h.create();
      try {
        await inst.kv.put("z", utf8("z"));
        await inst.kv.close();
        await inst.kv.close();
        await rejectsWith(inst.kv.get("z"), "Closed");
        await rejectsWith(inst.kv.put("z", utf8("y")), "Closed");
      } finally {
        await inst.cleanup();
      }
    });
  });
}

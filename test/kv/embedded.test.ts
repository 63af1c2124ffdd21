import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import { fromUtf8, utf8 } from "../../src/kv/codec.ts";
import { walName } from "../../src/kv/embedded/wal.ts";
import { type EmbeddedKv, openEmbeddedKv } from "../../src/kv/index.ts";
import type { KeyValue, MetaKv, WatchEvent } from "../../src/kv/types.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { type KvHarness, kvContract } from "./contract.ts";

const harness: KvHarness = {
  async create() {
    const t = await tempDir("strata-kv-");
    let current: MetaKv = await openEmbeddedKv({ dir: t.dir });
    return {
      kv: current,
      async reopen() {
        await current.close();
        current = await openEmbeddedKv({ dir: t.dir });
        return current;
      },
      async cleanup() {
        await current.close();
        await t.cleanup();
      },
    };
  },
};

kvContract("embedded", harness);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Image {
  readonly rev: number;
  readonly kvs: KeyValue[];
}

async function image(kv: MetaKv): Promise<Image> {
  return { rev: await kv.revision(), kvs: await kv.getPrefix("") };
}

/** A seeded mix of every kind of write; returns after each write so callers can observe. */
async function randomWrites(kv: MetaKv, seed: number, n: number, after: () => Promise<void>): Promise<void> {
  const r = rng(seed);
  const pick = (k: number) => Math.floor(r() * k);
  const key = () => `k/${pick(25)}`;
  const value = () => new Uint8Array(pick(40)).map(() => pick(256));
  let lease: string | undefined;
  for (let i = 0; i < n; i++) {
    const what = pick(10);
    if (what < 4) {
      await kv.put(key(), value());
    } else if (what === 4) {
      await kv.delete(key());
    } else if (what === 5) {
      await kv.txn({
        compare: [{ key: key(), target: "version", op: ">", value: pick(3) }],
        success: [
          { type: "put", key: `t/${pick(5)}`, value: value() },
          { type: "delete", key: key() },
        ],
        failure: [{ type: "put", key: `f/${pick(5)}`, value: value() }],
      });
    } else if (what === 6 && pick(4) === 0) {
      await kv.deletePrefix(`k/${pick(3)}`);
    } else if (what === 7) {
      lease ??= await kv.grantLease(3600);
      await kv.put(`l/${pick(5)}`, value(), { lease });
    } else if (what === 8 && lease !== undefined && pick(3) === 0) {
      await kv.revokeLease(lease);
      lease = undefined;
    } else {
      await kv.put(`big/${pick(3)}`, new Uint8Array(200 + pick(3000)).fill(i & 0xff));
    }
    await after();
  }
}

async function copyDir(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true });
  await rm(join(to, "LOCK"), { force: true });
}

describe("embedded meta store", () => {
  it("opens a WAL cut at any offset, keeping every write before the cut", async () => {
    const seed = 1234;
    const t = await tempDir("strata-kv-torn-");
    try {
      const src = join(t.dir, "src");
      const wal = join(src, walName(0));
      const kv = await openEmbeddedKv({ dir: src });
      // After each write: the WAL length and the state as seen live.
      const points: { end: number; img: Image }[] = [{ end: (await stat(wal)).size, img: await image(kv) }];
      await randomWrites(kv, seed, 150, async () => {
        points.push({ end: (await stat(wal)).size, img: await image(kv) });
      });
      await kv.close();
      const size = (await stat(wal)).size;
      assert.equal(size, points[points.length - 1]!.end);
      const r = rng(seed);
      const cuts = [0, 7, 16, size, size - 1, ...Array.from({ length: 35 }, () => Math.floor(r() * size))];
      for (const [i, cut] of cuts.entries()) {
        const dir = join(t.dir, `cut${i}`);
        await copyDir(src, dir);
        await truncate(join(dir, walName(0)), cut);
        let expected = points[0]!.img;
        for (const p of points) if (p.end <= cut) expected = p.img;
        const re = await openEmbeddedKv({ dir });
        try {
          assert.deepEqual(await image(re), expected, `seed ${seed}, cut at ${cut} of ${size}`);
          // The repaired log takes new writes and they survive another reopen.
          const rev = await re.put("after/cut", utf8(String(cut)));
          assert.equal(rev, expected.rev + 1);
          await re.close();
          const again = await openEmbeddedKv({ dir });
          assert.equal(fromUtf8((await again.get("after/cut"))!.value), String(cut));
          assert.equal(await again.revision(), rev);
          await again.close();
        } finally {
          await re.close();
          await rm(dir, { recursive: true, force: true });
        }
      }
      // Garbage after the last record, and a flipped bit inside it, are both torn tails.
      const full = await readFile(wal);
      const last = points[points.length - 1]!.img;
      const beforeLast = points.findLast((p) => p.end < size)!.img;
      const variants: [string, Buffer, Image][] = [
        ["garbage appended", Buffer.concat([full, Buffer.from("not a record at all, just noise")]), last],
        ["zeros appended", Buffer.concat([full, Buffer.alloc(4096)]), last],
        [
          "last record flipped",
          Buffer.from(full).fill(full[size - 3]! ^ 0x40, size - 3, size - 2),
          beforeLast,
        ],
      ];
      for (const [what, bytes, expected] of variants) {
        const dir = join(t.dir, "variant");
        await copyDir(src, dir);
        await writeFile(join(dir, walName(0)), bytes);
        const re = await openEmbeddedKv({ dir });
        assert.deepEqual(await image(re), expected, what);
        await re.close();
        await rm(dir, { recursive: true, force: true });
      }
    } finally {
      await t.cleanup();
    }
  });

  it("compaction and restarts keep every key, and revisions carry on", async () => {
    const t = await tempDir("strata-kv-compact-");
    try {
      let kv = await openEmbeddedKv({ dir: t.dir, compactWalBytes: 4096 });
      let writes = 0;
      await randomWrites(kv, 99, 400, async () => {
        writes++;
      });
      const before = await image(kv);
      await kv.close();
      const files = await readdir(t.dir);
      assert.ok(files.includes("snapshot"), `no snapshot among ${files.join(", ")}`);
      const wals = files.filter((f) => f.startsWith("wal-"));
      assert.equal(wals.length, 1, `old WAL generations left: ${wals.join(", ")}`);
      assert.notEqual(wals[0], walName(0), "the WAL should have rotated");

      kv = await openEmbeddedKv({ dir: t.dir, compactWalBytes: 4096 });
      assert.deepEqual(await image(kv), before);
      assert.equal(await kv.put("after", utf8("1")), before.rev + 1);
      // An explicit compaction, more writes, then restart again.
      await (kv as EmbeddedKv).compact();
      await kv.put("after", utf8("2"));
      await kv.delete("after");
      const lease = await kv.grantLease(3600);
      await kv.put("leased", utf8("l"), { lease });
      await (kv as EmbeddedKv).compact();
      await kv.put("final", utf8("f"));
      const before2 = await image(kv);
      assert.equal(before2.rev, before.rev + 5);
      await kv.close();
      kv = await openEmbeddedKv({ dir: t.dir });
      assert.deepEqual(await image(kv), before2);
      assert.equal((await kv.get("leased"))?.lease, lease);
      await kv.revokeLease(lease);
      assert.equal(await kv.get("leased"), undefined);
      const lease2 = await kv.grantLease(5);
      assert.notEqual(lease2, lease, "lease ids are not reused after restart");
      await kv.close();
      assert.ok(writes === 400);
    } finally {
      await t.cleanup();
    }
  });

  it("a reopened store replays its WAL into the watch history; too old a revision is refused", async () => {
    const t = await tempDir("strata-kv-hist-");
    try {
      let kv = await openEmbeddedKv({ dir: t.dir, historyEvents: 5 });
      const revs: number[] = [];
      for (let i = 0; i < 12; i++) revs.push(await kv.put(`h/${i}`, utf8(String(i))));
      await assert.rejects(
        kv.watch("h/", () => undefined, { fromRevision: revs[0]! }),
        (e: unknown) => isStrataError(e, "KeyNotFound") && /compacted/.test(e.message),
      );
      const got: WatchEvent[] = [];
      const w = await kv.watch("h/", (evs) => got.push(...evs), { fromRevision: revs[9]! });
      await sleep(50);
      await w.close();
      assert.deepEqual(
        got.map((e) => e.modRevision),
        revs.slice(9),
      );
      await kv.close();

      kv = await openEmbeddedKv({ dir: t.dir, historyEvents: 100 });
      const all: WatchEvent[] = [];
      const w2 = await kv.watch("h/", (evs) => all.push(...evs), { fromRevision: 1 });
      await sleep(50);
      assert.deepEqual(
        all.map((e) => fromUtf8(e.value)),
        Array.from({ length: 12 }, (_, i) => String(i)),
      );
      const live = await kv.put("h/live", utf8("x"));
      await sleep(50);
      assert.equal(all.at(-1)?.modRevision, live);
      await w2.close();
      await kv.close();
    } finally {
      await t.cleanup();
    }
  });

  it("a throwing watch callback is reported and the watch goes on", async () => {
    const t = await tempDir("strata-kv-cb-");
    const kv = await openEmbeddedKv({ dir: t.dir });
    try {
      const errors: Error[] = [];
      const keys: string[] = [];
      const w = await kv.watch(
        "",
        (evs) => {
          keys.push(...evs.map((e) => e.key));
          if (evs.some((e) => e.key === "boom")) throw new Error("callback failure");
        },
        { onError: (e) => errors.push(e) },
      );
      await kv.put("boom", utf8("1"));
      await kv.put("fine", utf8("2"));
      await sleep(20);
      assert.deepEqual(keys, ["boom", "fine"]);
      assert.equal(errors.length, 1);
      await w.close();
    } finally {
      await kv.close();
      await t.cleanup();
    }
  });

  it("one process per directory; a stale lock from a dead process is taken over", async () => {
    const t = await tempDir("strata-kv-lock-");
    try {
      const kv = await openEmbeddedKv({ dir: t.dir });
      await kv.put("x", utf8("1"));
      await assert.rejects(openEmbeddedKv({ dir: t.dir }), (e: unknown) => isStrataError(e, "IoFailed"));
      await kv.close();
      // A pid that surely is dead: a child that has exited and been reaped.
      const child = spawn(process.execPath, ["-e", ""]);
      const deadPid = child.pid!;
      await new Promise((r) => child.on("exit", r));
      await writeFile(join(t.dir, "LOCK"), `${deadPid}\n`);
      const kv2 = await openEmbeddedKv({ dir: t.dir });
      assert.equal(fromUtf8((await kv2.get("x"))!.value), "1");
      assert.equal((await readFile(join(t.dir, "LOCK"), "utf8")).trim(), String(process.pid));
      await kv2.close();
      assert.ok(!(await readdir(t.dir)).includes("LOCK"), "close releases the lock");
    } finally {
      await t.cleanup();
    }
  });

  it("leases survive a restart with a fresh full TTL; revocations survive too", async () => {
    const t = await tempDir("strata-kv-lease-");
    try {
      let kv = await openEmbeddedKv({ dir: t.dir });
      const lease = await kv.grantLease(2);
      const gone = await kv.grantLease(60);
      await kv.put("lease/live", utf8("1"), { lease });
      await kv.put("lease/revoked", utf8("2"), { lease: gone });
      await kv.revokeLease(gone);
      await kv.close();
      await sleep(2300);
      kv = await openEmbeddedKv({ dir: t.dir });
      const reopened = Date.now();
      assert.equal((await kv.get("lease/live"))?.lease, lease, "the lease restarts with its full TTL");
      assert.equal(await kv.get("lease/revoked"), undefined);
      await assert.rejects(kv.keepAlive(gone), (e: unknown) => isStrataError(e, "LeaseExpired"));
      while ((await kv.get("lease/live")) !== undefined) {
        assert.ok(Date.now() - reopened < 4000, "the key should vanish one TTL after the restart");
        await sleep(50);
      }
      assert.ok(Date.now() - reopened >= 1800, "vanished before the fresh TTL ran out");
      await kv.close();
      kv = await openEmbeddedKv({ dir: t.dir });
      assert.equal(await kv.get("lease/live"), undefined, "the expiry is durable");
      await kv.close();
    } finally {
      await t.cleanup();
    }
  });
});

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { isStrataError } from "../../src/common/errors.ts";
import { IdAllocator } from "../../src/common/id-allocator.ts";
import { composeTs, logicalOf, MAX_LOGICAL, physicalOf } from "../../src/common/timestamp.ts";
import { TimestampOracle } from "../../src/common/tso.ts";
import { openEmbeddedKv, openEtcdKv } from "../../src/kv/index.ts";
import type { MetaKv } from "../../src/kv/types.ts";
import { etcdServer, rng, tempDir, uniqueName } from "../helpers/env.ts";

interface KvHarness {
  /** Opens (or reopens) the store behind the same data. */
  open(): Promise<MetaKv>;
  cleanup(): Promise<void>;
}

function oracleSuite(name: string, skip: string | false, makeHarness: () => Promise<KvHarness>): void {
  describe(`timestamp oracle and ID allocator on ${name}`, { skip }, () => {
    let h: KvHarness;
    before(async () => {
      h = await makeHarness();
    });
    after(async () => {
      await h?.cleanup();
    });

    it("issues strictly increasing timestamps, batches included", async () => {
      const kv = await h.open();
      const tso = await TimestampOracle.open({ kv, key: "t1" });
      let last = 0n;
      for (let i = 0; i < 5000; i++) {
        const count = 1 + (i % 5);
        const ts = await tso.allocate(count);
        assert.ok(ts > last, `ts ${ts} not above ${last}`);
        last = ts + BigInt(count - 1);
        assert.equal(physicalOf(last), physicalOf(ts), "a batch stays within one millisecond");
      }
      const many = await Promise.all(Array.from({ length: 200 }, () => tso.allocate()));
      assert.equal(new Set(many).size, 200);
      assert.ok(many.every((t) => t > last));
      await tso.close();
      await assert.rejects(tso.allocate(), (e: unknown) => isStrataError(e, "Closed"));
      await kv.close();
    });

    it("stays monotonic when the wall clock goes backwards or logical space runs out", async () => {
      const kv = await h.open();
      let clock = 1_000_000_000_000;
      const tso = await TimestampOracle.open({ kv, key: "t2", now: () => clock, saveIntervalMs: 100 });
      const a = await tso.allocate(MAX_LOGICAL + 1);
      const b = await tso.allocate(1);
      assert.ok(b > a + BigInt(MAX_LOGICAL));
      assert.equal(logicalOf(b), 0);
      clock -= 60_000;
      const c = await tso.allocate(1);
      assert.ok(c > b);
      clock += 120_000;
      const d = await tso.allocate(1);
      assert.equal(d, composeTs(clock, 0));
      await assert.rejects(tso.allocate(0), (e: unknown) => isStrataError(e, "ParameterInvalid"));
      await assert.rejects(tso.allocate(MAX_LOGICAL + 2), (e: unknown) =>
        isStrataError(e, "ParameterInvalid"),
      );
      await tso.close();
      await kv.close();
    });

    it("never reissues a timestamp after a restart, even with the clock set back", async () => {
      let clock = 2_000_000_000_000;
      let kv = await h.open();
      let tso = await TimestampOracle.open({ kv, key: "t3", now: () => clock, saveIntervalMs: 5000 });
      let last = 0n;
      for (let i = 0; i < 100; i++) last = await tso.allocate();
      await tso.close();
      await kv.close();
      clock -= 3_600_000; // an hour back
      kv = await h.open();
      tso = await TimestampOracle.open({ kv, key: "t3", now: () => clock, saveIntervalMs: 5000 });
      const next = await tso.allocate();
      assert.ok(next > last, `restarted oracle issued ${next} <= ${last}`);
      await tso.close();
      await kv.close();
    });

    it("fences a second oracle on the same key", async () => {
      const kv = await h.open();
      const clock = { t: 3_000_000_000_000 };
      const first = await TimestampOracle.open({ kv, key: "t4", now: () => clock.t, saveIntervalMs: 100 });
      const fromFirst = await first.allocate();
      const second = await TimestampOracle.open({ kv, key: "t4", now: () => clock.t, saveIntervalMs: 100 });
      const fromSecond = await second.allocate();
      assert.ok(fromSecond > fromFirst);
      clock.t += 1000; // forces the first oracle to save a new window, which must fail
      await assert.rejects(first.allocate(), (e: unknown) => isStrataError(e, "ServiceInternal"));
      assert.ok((await second.allocate()) > fromSecond);
      await second.close();
      await kv.close();
    });

    it("hands out disjoint increasing ID ranges and skips, never reuses, after restart", async () => {
      let kv = await h.open();
      let ids = await IdAllocator.open({ kv, key: "i1", windowSize: 10 });
      const r = rng(11);
      const seen: bigint[] = [];
      for (let i = 0; i < 300; i++) {
        const n = 1 + Math.floor(r() * 25);
        const range = await ids.allocate(n);
        assert.equal(range.end - range.start, BigInt(n));
        assert.ok(seen.length === 0 || range.start >= (seen.at(-1) ?? 0n) + 1n);
        seen.push(range.end - 1n);
      }
      assert.equal(seen.length, 300);
      const parallel = await Promise.all(Array.from({ length: 50 }, () => ids.allocateOne()));
      assert.equal(new Set(parallel).size, 50);
      const maxBefore = parallel.reduce((m, x) => (x > m ? x : m), 0n);
      await ids.close();
      await kv.close();
      kv = await h.open();
      ids = await IdAllocator.open({ kv, key: "i1", windowSize: 10 });
      const after = await ids.allocateOne();
      assert.ok(after > maxBefore, `ID ${after} reused after restart (max before ${maxBefore})`);
      await assert.rejects(ids.allocate(0), (e: unknown) => isStrataError(e, "ParameterInvalid"));
      const other = await IdAllocator.open({ kv, key: "i1", windowSize: 10 });
      await other.allocate(100);
      await assert.rejects(ids.allocate(100), (e: unknown) => isStrataError(e, "ServiceInternal"));
      await ids.close();
      await kv.close();
    });
  });
}

oracleSuite("the embedded meta store", false, async () => {
  const t = await tempDir();
  return { open: () => openEmbeddedKv({ dir: t.dir }), cleanup: t.cleanup };
});

const etcd = etcdServer();
oracleSuite("etcd", etcd.skip, async () => {
  const prefix = `${uniqueName("tso")}/`;
  const endpoints = etcd.value ?? [];
  return {
    open: () => openEtcdKv({ endpoints, prefix }),
    cleanup: async () => {
      const kv = await openEtcdKv({ endpoints, prefix });
      await kv.deletePrefix("");
      await kv.close();
    },
  };
});

describe("timestamp oracle crash restarts (SIGKILL)", () => {
  it("never reissues a timestamp or an ID after 8 kills at random moments", async () => {
    const t = await tempDir();
    const child = fileURLToPath(new URL("./tso-child.ts", import.meta.url));
    const r = rng(2024);
    let maxTs = 0n;
    let maxId = 0n;
    try {
      for (let round = 0; round < 8; round++) {
        const p = spawn(process.execPath, ["--import", "tsx", child, t.dir], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        let buf = "";
        let ready = false;
        const readyP = new Promise<void>((resolve, reject) => {
          p.stdout.on("data", (d: Buffer) => {
            buf += d.toString();
            let nl = buf.indexOf("\n");
            while (nl >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (line === "ready") {
                ready = true;
                resolve();
              } else if (line.startsWith("t ")) {
                const ts = BigInt(line.slice(2));
                assert.ok(ts > maxTs, `round ${round}: ts ${ts} not above ${maxTs} (seen before the kill)`);
                maxTs = ts;
              } else if (line.startsWith("i ")) {
                const [, s, e] = line.split(" ");
                const start = BigInt(s ?? "0");
                assert.ok(start > maxId, `round ${round}: ID ${start} reused (max ${maxId})`);
                maxId = BigInt(e ?? "0") - 1n;
              }
              nl = buf.indexOf("\n");
            }
          });
          p.on("exit", (code) => {
            if (!ready) reject(new Error(`child exited early with ${code}`));
          });
        });
        await readyP;
        await new Promise((res) => setTimeout(res, 20 + Math.floor(r() * 300)));
        const exited = new Promise((res) => p.on("exit", res));
        p.kill("SIGKILL");
        await exited;
      }
      assert.ok(maxTs > 0n && maxId > 0n);
      // One last open in-process: still above everything any killed child printed.
      const kv = await openEmbeddedKv({ dir: t.dir });
      const tso = await TimestampOracle.open({ kv, key: "tso" });
      const ids = await IdAllocator.open({ kv, key: "ids" });
      assert.ok((await tso.allocate()) > maxTs);
      assert.ok((await ids.allocateOne()) > maxId);
      await tso.close();
      await ids.close();
      await kv.close();
    } finally {
      await t.cleanup();
    }
  });
});

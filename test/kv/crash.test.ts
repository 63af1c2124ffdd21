/**
 * Kills a writing child process at random moments and checks after each restart that the
 * embedded store kept every acknowledged write, invented nothing, and kept revisions increasing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { fromUtf8 } from "../../src/kv/codec.ts";
import { openEmbeddedKv } from "../../src/kv/index.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { valueFor } from "./crash-child.ts";

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));
const RUNS = 22;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RunLog {
  ready: number;
  tried: Set<string>;
  acked: Map<string, number>;
  triedPairs: Set<string>;
  ackedPairs: Map<string, number>;
  maxTriedInc: number;
  maxAckedInc: number;
  revs: number[];
}

async function runChild(dir: string, run: number, killAfterMs: number): Promise<RunLog> {
  const log: RunLog = {
    ready: -1,
    tried: new Set(),
    acked: new Map(),
    triedPairs: new Set(),
    ackedPairs: new Map(),
    maxTriedInc: 0,
    maxAckedInc: 0,
    revs: [],
  };
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, dir, String(run)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let rest = "";
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const l of lines) {
      const [what, a, b] = l.split(" ") as [string, string, string | undefined];
      switch (what) {
        case "ready":
          log.ready = Number(a);
          onReady();
          break;
        case "try-put":
          log.tried.add(a);
          break;
        case "put":
          log.acked.set(a, Number(b));
          log.revs.push(Number(b));
          break;
        case "try-pair":
          log.triedPairs.add(a);
          break;
        case "pair":
          log.ackedPairs.set(a, Number(b));
          log.revs.push(Number(b));
          break;
        case "try-inc":
          log.maxTriedInc = Math.max(log.maxTriedInc, Number(a));
          break;
        case "inc":
          log.maxAckedInc = Math.max(log.maxAckedInc, Number(a));
          log.revs.push(Number(b));
          break;
        default:
          throw new Error(`unexpected child output: ${l}`);
      }
    }
  });
  const closed = once(child, "close");
  await Promise.race([ready, closed]);
  assert.ok(log.ready >= 0, "child exited before it was ready");
  await sleep(killAfterMs);
  child.kill("SIGKILL");
  // "close" comes after the child is reaped and its output drained, so its lock pid is dead.
  const [code, signal] = await closed;
  assert.equal(signal, "SIGKILL", `child ended on its own (code ${String(code)})`);
  return log;
}

it("acknowledged writes survive SIGKILL at random moments", { timeout: 90_000 }, async () => {
  const seed = Number(process.env.STRATA_SEED ?? 20250611);
  const r = rng(seed);
  const t = await tempDir("strata-kv-crash-");
  const acked = new Map<string, number>();
  const tried = new Set<string>();
  const ackedPairs = new Map<string, number>();
  const triedPairs = new Set<string>();
  let maxAckedInc = 0;
  let maxTriedInc = 0;
  let lastRevision = 0;
  let totalAcks = 0;
  try {
    for (let run = 0; run < RUNS; run++) {
      const killAfter = 20 + Math.floor(r() * 400);
      const log = await runChild(t.dir, run, killAfter);
      const where = `seed ${seed}, run ${run}, killed after ${killAfter} ms`;
      assert.ok(
        log.ready >= lastRevision,
        `${where}: child started at revision ${log.ready} < ${lastRevision}`,
      );
      for (const rev of log.revs)
        assert.ok(rev > log.ready, `${where}: acknowledged revision ${rev} not new`);
      for (const [k, v] of log.acked) acked.set(k, v);
      for (const k of log.tried) tried.add(k);
      for (const [k, v] of log.ackedPairs) ackedPairs.set(k, v);
      for (const k of log.triedPairs) triedPairs.add(k);
      maxAckedInc = Math.max(maxAckedInc, log.maxAckedInc);
      maxTriedInc = Math.max(maxTriedInc, log.maxTriedInc);
      totalAcks += log.acked.size + log.ackedPairs.size;

      const kv = await openEmbeddedKv({ dir: t.dir });
      try {
        const rev = await kv.revision();
        const maxAcked = Math.max(0, ...log.revs);
        assert.ok(rev >= maxAcked && rev >= lastRevision, `${where}: revision ${rev} went back`);
        lastRevision = rev;

        const present = new Map((await kv.getPrefix("k/")).map((x) => [x.key, x]));
        for (const [key, ackRev] of acked) {
          const got = present.get(key);
          assert.ok(got !== undefined, `${where}: acknowledged ${key} lost`);
          assert.equal(got.modRevision, ackRev, `${where}: ${key} has the wrong revision`);
        }
        for (const [key, got] of present) {
          assert.ok(tried.has(key), `${where}: ${key} was never written`);
          assert.deepEqual(got.value, valueFor(key), `${where}: ${key} has a garbage value`);
          assert.equal(got.version, 1, `${where}: ${key} written twice`);
        }

        const pairs = new Map((await kv.getPrefix("p/")).map((x) => [x.key, x]));
        for (const id of triedPairs) {
          const a = pairs.get(`p/${id}/a`);
          const b = pairs.get(`p/${id}/b`);
          assert.equal(a === undefined, b === undefined, `${where}: pair ${id} is half there`);
          if (a !== undefined && b !== undefined) {
            assert.equal(a.modRevision, b.modRevision, `${where}: pair ${id} split across revisions`);
            assert.deepEqual(a.value, valueFor(`p/${id}/a`));
            assert.deepEqual(b.value, valueFor(`p/${id}/b`));
          }
          const ackRev = ackedPairs.get(id);
          if (ackRev !== undefined)
            assert.equal(a?.modRevision, ackRev, `${where}: acknowledged pair ${id} lost`);
        }
        assert.equal(pairs.size, 2 * [...triedPairs].filter((id) => pairs.has(`p/${id}/a`)).length);

        const counter = await kv.get("counter");
        const n = counter === undefined ? 0 : Number(fromUtf8(counter.value));
        assert.ok(n >= maxAckedInc, `${where}: counter ${n} below acknowledged ${maxAckedInc}`);
        assert.ok(n <= maxTriedInc, `${where}: counter ${n} above anything attempted (${maxTriedInc})`);
        assert.equal(counter?.version ?? 0, n, `${where}: counter version ${counter?.version} != value ${n}`);
        // The CAS loops resume from the recovered value; anything above it was never durable.
        maxTriedInc = n;
        maxAckedInc = Math.min(maxAckedInc, n);
      } finally {
        await kv.close();
      }
    }
    console.log(
      `crash test: ${RUNS} kills, ${totalAcks} acknowledged writes, counter ${maxTriedInc}, revision ${lastRevision}`,
    );
    assert.ok(totalAcks > RUNS * 10, `too few acknowledged writes (${totalAcks}) for the test to mean much`);
  } finally {
    await t.cleanup();
  }
});

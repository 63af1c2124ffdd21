/**
 * Kills a producing child process with SIGKILL at random moments and checks after every kill that
 * the log reopens with every acknowledged record exactly once, at its acknowledged position, in
 * order, and nothing that the child could not have written.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { openEmbeddedMq } from "../../src/mq/index.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { parseCrashPayload } from "./crash-records.ts";

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));
const ROUNDS = 20;

interface Acked {
  run: number;
  counter: number;
}

interface RoundResult {
  lines: string[];
  sawReady: boolean;
}

/** Runs one child, kills it `killAfterMs` after it is ready (or after spawn when `early`). */
function runChild(
  dir: string,
  run: number,
  seed: number,
  killAfterMs: number,
  early: boolean,
): Promise<RoundResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, dir, String(run), String(seed)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let sawReady = false;
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      child.kill("SIGKILL");
    };
    if (early) timer = setTimeout(kill, killAfterMs);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      out += d;
      if (!sawReady && out.startsWith("ready\n")) {
        sawReady = true;
        if (!early) timer = setTimeout(kill, killAfterMs);
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== "SIGKILL") {
        reject(new Error(`child exited on its own (code ${code}): ${err}`));
        return;
      }
      // Only complete lines count: the kill may cut the last one.
      const lines = out.split("\n");
      lines.pop();
      resolve({ lines: lines.filter((l) => l !== "ready"), sawReady });
    });
  });
}

describe("embedded log: SIGKILL crash loop", () => {
  it(`keeps every acknowledged record across ${ROUNDS} kills`, { timeout: 90_000 }, async () => {
    const seed = Number(process.env.STRATA_CRASH_SEED ?? 20260101);
    const r = rng(seed);
    const { dir, cleanup } = await tempDir("strata-mq-crash-");
    const acked = [new Map<number, Acked>(), new Map<number, Acked>()];
    let ackedCheckpoint = 0;
    let totalAcked = 0;
    let tornTails = 0;
    const started = Date.now();
    // Counts torn-tail repairs (not asserted: a SIGKILL only tears a write caught mid-syscall).
    const logger = pino(
      { level: "warn" },
      {
        write: (line: string) => {
          if (line.includes("torn")) tornTails++;
        },
      },
    );
    try {
      for (let run = 0; run < ROUNDS; run++) {
        const early = r() < 0.2;
        const delay = early ? 100 + Math.floor(r() * 900) : 20 + Math.floor(r() * 400);
        const { lines } = await runChild(dir, run, seed + run, delay, early);
        for (const line of lines) {
          const f = line.split(" ");
          if (f[0] === "K") {
            ackedCheckpoint = Math.max(ackedCheckpoint, Number(f[1]));
            continue;
          }
          assert.equal(f[0], "A", `unexpected child line ${line}`);
          const [ch, rn, first, n, firstSeq, lastSeq] = f.slice(1).map(Number) as number[];
          assert.equal(
            (lastSeq as number) - (firstSeq as number),
            (n as number) - 1,
            "a call's positions are consecutive",
          );
          for (let k = 0; k < (n as number); k++) {
            acked[ch as number]?.set((firstSeq as number) + k, {
              run: rn as number,
              counter: (first as number) + k,
            });
          }
          totalAcked += n as number;
        }

        const mq = await openEmbeddedMq({ dir, segmentBytes: 256 * 1024, logger });
        try {
          const ck = await mq.loadCheckpoint("ck", "c1");
          assert.ok(
            (ck ?? 0) >= ackedCheckpoint,
            `round ${run} (seed ${seed}): checkpoint ${ck} < acked ${ackedCheckpoint}`,
          );
          for (const ch of [0, 1]) {
            const name = `c${ch}`;
            const last = await mq.lastSeq(name);
            if (last === undefined) {
              assert.equal(acked[ch]?.size, 0, `round ${run}: channel ${name} lost`);
              continue;
            }
            const c = await mq.consume(name, { kind: "earliest" }, { maxBatch: 4096 });
            const seen = new Set<string>();
            let prev = 0;
            let count = 0;
            const present = new Set<number>();
            for (;;) {
              const batch = await c.next(0);
              if (batch.length === 0) break;
              for (const m of batch) {
                assert.ok(m.seq > prev, `round ${run}: seq ${m.seq} after ${prev}`);
                prev = m.seq;
                const id = parseCrashPayload(m.payload);
                assert.ok(
                  id !== undefined,
                  `round ${run} (seed ${seed}): ${name}@${m.seq} is not a record the child wrote`,
                );
                assert.equal(id.channel, ch, `round ${run}: record of another channel in ${name}`);
                const key = `${id.run}/${id.counter}`;
                assert.ok(!seen.has(key), `round ${run}: duplicate ${key} in ${name}`);
                seen.add(key);
                const want = acked[ch]?.get(m.seq);
                if (want !== undefined) {
                  assert.deepEqual(
                    { run: id.run, counter: id.counter },
                    want,
                    `round ${run}: ${name}@${m.seq}`,
                  );
                }
                present.add(m.seq);
                count++;
              }
            }
            await c.close();
            assert.equal(prev, last, `round ${run}: lastSeq`);
            // Retention may have dropped whole segments the checkpoint passed, nothing else.
            const floor = ch === 1 ? (ck ?? 0) : 0;
            for (const seq of acked[ch]?.keys() ?? []) {
              if (seq > floor)
                assert.ok(present.has(seq), `round ${run} (seed ${seed}): acked ${name}@${seq} missing`);
            }
            assert.ok(count > 0 || (acked[ch]?.size ?? 0) === 0);
          }
        } finally {
          await mq.close();
        }
      }
      assert.ok(totalAcked > 1000, `only ${totalAcked} records acknowledged over ${ROUNDS} rounds`);
      console.log(
        `crash loop: ${ROUNDS} kills, ${totalAcked} acked records, ${tornTails} torn tails cut, ${Date.now() - started} ms`,
      );
    } finally {
      await cleanup();
    }
  });
});

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Strata } from "../../src/api/embedded.ts";
import { DataType } from "../../src/common/types.ts";
import { readPersisted } from "../helpers/binlogs.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { CRASH_DIM, CRASH_OVERRIDES, CRASH_SCHEMA, tagOf, vecValue } from "./crash-data.ts";

const child = fileURLToPath(new URL("./crash-child.ts", import.meta.url));
const ROUNDS = 10;

interface Ledger {
  acked: Set<number>;
  attempted: Set<number>;
}

async function runRound(dir: string, round: number, killAfterMs: number, ledger: Ledger): Promise<void> {
  const p = spawn(process.execPath, ["--import", "tsx", child, dir, String(round)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let buf = "";
  let err = "";
  p.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    p.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const [kind, from, n] = buf.slice(0, nl).split(" ");
        buf = buf.slice(nl + 1);
        if (kind === "ready") resolve();
        const set = kind === "try" ? ledger.attempted : kind === "ack" ? ledger.acked : undefined;
        if (set !== undefined) for (let i = 0; i < Number(n); i++) set.add(Number(from) + i);
        nl = buf.indexOf("\n");
      }
    });
    void exited.then((code) => reject(new Error(`child exited (${code}) before ready: ${err.slice(-2000)}`)));
  });
  await ready;
  await new Promise((r) => setTimeout(r, killAfterMs));
  p.kill("SIGKILL");
  await exited;
}

describe("write path under SIGKILL", () => {
  it(`keeps every acknowledged row exactly once across ${ROUNDS} kills at random moments`, async () => {
    const seed = 4242;
    const r = rng(seed);
    const t = await tempDir();
    const ledger: Ledger = { acked: new Set(), attempted: new Set() };
    try {
      for (let round = 1; round <= ROUNDS; round++)
        await runRound(t.dir, round, 300 + Math.floor(r() * 1500), ledger);
      assert.ok(ledger.acked.size > 0, "the child acknowledged rows");
      const db = await Strata.open({ dataDir: t.dir, overrides: CRASH_OVERRIDES });
      try {
        await db.flush(CRASH_SCHEMA.name, { timeoutMs: 120_000 });
        const info = await db.describeCollection(CRASH_SCHEMA.name);
        const segs = await readPersisted(info, db.internals.dataservice, db.internals.backends.objects);
        const count = new Map<number, number>();
        let unexpected = 0;
        for (const s of segs) {
          for (const [part, id] of (s.columns.get(100) ?? []).entries()) {
            const vec = s.columns.get(101)?.[part];
            const tag = s.columns.get(102)?.[part];
            if (
              id.type !== DataType.Int64 ||
              vec?.type !== DataType.FloatVector ||
              tag?.type !== DataType.VarChar
            ) {
              assert.fail("binlog columns have the wrong types");
            }
            for (let i = 0; i < id.data.length; i++) {
              const pk = Number(id.data[i]);
              count.set(pk, (count.get(pk) ?? 0) + 1);
              let ok = ledger.attempted.has(pk) && tag.data[i] === tagOf(pk);
              for (let k = 0; ok && k < CRASH_DIM; k++)
                ok = vec.data[i * CRASH_DIM + k] === Math.fround(vecValue(pk, k));
              if (!ok) unexpected++;
            }
          }
        }
        let lost = 0;
        for (const pk of ledger.acked) if (!count.has(pk)) lost++;
        let duplicated = 0;
        for (const n of count.values()) if (n > 1) duplicated++;
        const indeterminate = [...ledger.attempted].filter(
          (pk) => !ledger.acked.has(pk) && count.has(pk),
        ).length;
        const summary = {
          seed,
          acked: ledger.acked.size,
          present: count.size,
          lost,
          duplicated,
          unexpected,
          indeterminate,
        };
        console.log(`crash summary ${JSON.stringify(summary)}`);
        assert.ok(summary.acked >= 1000, `too few acknowledged rows to prove anything: ${summary.acked}`);
        assert.deepEqual(
          { lost, duplicated, unexpected },
          { lost: 0, duplicated: 0, unexpected: 0 },
          JSON.stringify(summary),
        );
      } finally {
        await db.close();
      }
    } finally {
      await t.cleanup();
    }
  });
});

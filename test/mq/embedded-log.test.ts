/**
 * Embedded-log behaviour beyond the shared contract: segment retention, torn tails, damaged
 * records, the directory lock and group commit, checked against the files on disk.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import {
  FLAG_COMMIT,
  HEADER_BYTES,
  headerFlags,
  headerLen,
  headerSeq,
  recordOk,
} from "../../src/mq/embedded/record.ts";
import { segmentFileName } from "../../src/mq/embedded/segment.ts";
import { openEmbeddedMq } from "../../src/mq/index.ts";
import type { Consumer, Message, MessageQueue } from "../../src/mq/types.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { assertBytes, collect, randomBytes, rejectsWith } from "./contract.ts";

const enc = new TextEncoder();

function chanDir(dir: string, channel: string): string {
  return join(dir, "channels", channel);
}

async function segmentBases(dir: string, channel: string): Promise<number[]> {
  return (await readdir(chanDir(dir, channel)))
    .filter((n) => n.endsWith(".log"))
    .map((n) => Number(n.slice(0, 16)))
    .sort((a, b) => a - b);
}

/** Reads from `c` until a timeout brings nothing more (or a read fails). */
async function readAll(c: Consumer): Promise<{ msgs: Message[]; error?: unknown }> {
  const msgs: Message[] = [];
  for (;;) {
    let batch: Message[];
    try {
      batch = await c.next(50);
    } catch (error) {
      return { msgs, error };
    }
    if (batch.length === 0) return { msgs };
    msgs.push(...batch);
  }
}

/** Payload of record i: deterministic, variable length, self-identifying. */
function payloadOf(i: number, len: number): Uint8Array {
  const p = randomBytes(rng(i + 1), len);
  if (len >= 4) new DataView(p.buffer).setUint32(0, i, true);
  return p;
}

describe("embedded log: retention", () => {
  it("deletes old segments only once every checkpoint passed them", async () => {
    const { dir, cleanup } = await tempDir("strata-mq-ret-");
    try {
      const open = () => openEmbeddedMq({ dir, segmentBytes: 4096 });
      let mq = await open();
      const seqs: number[] = [];
      for (let i = 0; i < 120; i++)
        seqs.push(...(await mq.produce("r", [payloadOf(i, 400)])).map((p) => p.seq));
      const all = await segmentBases(dir, "r");
      assert.ok(all.length >= 10, `expected many segments, got ${all.length}`);
      assert.deepEqual(await segmentBases(dir, "r"), all, "no checkpoint: everything is kept");

      // A segment may go only when its last seq is at or below every checkpoint.
      const check = async (minCkpt: number): Promise<void> => {
        const kept = await segmentBases(dir, "r");
        const gone = all.filter((b) => !kept.includes(b));
        for (const b of gone) {
          const next = all[all.indexOf(b) + 1] as number;
          assert.ok(
            next - 1 <= minCkpt,
            `segment ${b} (last seq ${next - 1}) deleted before checkpoint ${minCkpt}`,
          );
        }
        const firstKept = kept[0] as number;
        const nextAfterFirst = all[all.indexOf(firstKept) + 1];
        if (nextAfterFirst !== undefined) {
          assert.ok(nextAfterFirst - 1 > minCkpt, `segment ${firstKept} could have been deleted`);
        }
        assert.equal(kept.at(-1), all.at(-1), "the tail segment stays");
        const c = await mq.consume("r", { kind: "earliest" });
        const got = (await readAll(c)).msgs;
        await c.close();
        assert.equal(got[0]?.seq, firstKept, "earliest is the first retained record");
        assert.equal(got.at(-1)?.seq, seqs.at(-1));
        assert.ok(got.length >= 120 - minCkpt);
      };

      // "slow" first: a checkpoint only protects data once it is saved.
      await mq.saveCheckpoint("slow", "r", seqs[20] as number);
      await mq.saveCheckpoint("fast", "r", seqs[80] as number);
      await check(seqs[20] as number);
      const afterSlow = await segmentBases(dir, "r");
      assert.ok(afterSlow.length < all.length, "something was released");
      assert.ok((afterSlow[0] as number) <= (seqs[21] as number));

      await mq.saveCheckpoint("slow", "r", seqs[60] as number);
      await check(seqs[60] as number);
      await mq.deleteCheckpoint("slow", "r");
      await check(seqs[80] as number);

      // A new checkpoint far behind holds back what is still there, also across a reopen.
      await mq.saveCheckpoint("fast", "r", seqs[119] as number);
      const kept = await segmentBases(dir, "r");
      await mq.close();
      mq = await open();
      assert.deepEqual(await segmentBases(dir, "r"), kept);
      assert.equal(await mq.loadCheckpoint("fast", "r"), seqs[119]);
      await mq.close();
    } finally {
      await cleanup();
    }
  });

  it("caps channels without checkpoints by size when asked to", async () => {
    const { dir, cleanup } = await tempDir("strata-mq-cap-");
    try {
      const mq = await openEmbeddedMq({ dir, segmentBytes: 4096, retention: { maxBytes: 16 * 1024 } });
      for (let i = 0; i < 200; i++) await mq.produce("cap", [payloadOf(i, 400)]);
      let total = 0;
      for (const b of await segmentBases(dir, "cap")) {
        total += (await stat(join(chanDir(dir, "cap"), segmentFileName(b)))).size;
      }
      assert.ok(total <= 16 * 1024 + 4096 + 424, `kept ${total} bytes`);
      const c = await mq.consume("cap", { kind: "earliest" });
      const got = (await readAll(c)).msgs;
      assert.equal(got.at(-1)?.seq, 200);
      assert.ok(got.length < 200 && got.length > 20);
      await c.close();
      await mq.close();
    } finally {
      await cleanup();
    }
  });
});

describe("embedded log: torn tails and damaged records", () => {
  /** Writes `calls` produce calls of 1..4 records to channel "t" and returns each record's file extent. */
  async function build(dir: string, calls: number, seed: number) {
    const r = rng(seed);
    const mq = await openEmbeddedMq({ dir });
    const records: { seq: number; start: number; end: number; payload: Uint8Array; last: boolean }[] = [];
    let off = 0;
    let n = 0;
    for (let c = 0; c < calls; c++) {
      const batch = Array.from({ length: 1 + Math.floor(r() * 4) }, () =>
        payloadOf(n++, Math.floor(r() * 900)),
      );
      const pos = await mq.produce("t", batch);
      batch.forEach((p, i) => {
        records.push({
          seq: pos[i]?.seq as number,
          start: off,
          end: off + HEADER_BYTES + p.byteLength,
          payload: p,
          last: i === batch.length - 1,
        });
        off += HEADER_BYTES + p.byteLength;
      });
    }
    await mq.close();
    return { records, file: join(chanDir(dir, "t"), segmentFileName(1)) };
  }

  it("truncating the tail at any offset keeps exactly the records wholly before the cut", async () => {
    const seed = 4242;
    const { dir, cleanup } = await tempDir("strata-mq-cut-");
    try {
      const src = join(dir, "src");
      const { records, file } = await build(src, 60, seed);
      const size = (await stat(file)).size;
      assert.equal(size, records.at(-1)?.end);
      const r = rng(seed);
      const cuts = new Set<number>([0, 1, 23, 24, 25, size - 1]);
      for (const rec of records.slice(0, 8)) for (const d of [-1, 0, 1, 12, 24]) cuts.add(rec.end + d);
      while (cuts.size < 120) cuts.add(Math.floor(r() * size));
      let i = 0;
      for (const cut of [...cuts].filter((c) => c >= 0 && c <= size)) {
        const work = join(dir, `w${i++}`);
        await mkdir(chanDir(work, "t"), { recursive: true });
        const copy = join(chanDir(work, "t"), segmentFileName(1));
        await copyFile(file, copy);
        await truncate(copy, cut);
        const mq = await openEmbeddedMq({ dir: work });
        const whole = records.filter((x) => x.end <= cut);
        try {
          assert.equal(await mq.lastSeq("t"), whole.length, `cut ${cut} (seed ${seed}): lastSeq`);
          assert.equal((await stat(copy)).size, whole.at(-1)?.end ?? 0, `cut ${cut}: file cut back`);
          const c = await mq.consume("t", { kind: "earliest" });
          const { msgs, error } = await readAll(c);
          assert.equal(error, undefined, `cut ${cut}: ${String(error)}`);
          assert.equal(msgs.length, whole.length, `cut ${cut} (seed ${seed}): records kept`);
          msgs.forEach((m, k) => {
            assertBytes(m.payload, whole[k]?.payload as Uint8Array, `cut ${cut} record ${k}`);
          });
          const [p] = await mq.produce("t", [enc.encode("after")]);
          assert.equal(p?.seq, whole.length + 1, "positions continue right after the kept records");
          const got = await collect(c, 1);
          assert.equal(new TextDecoder().decode(got[0]?.payload), "after");
          await c.close();
        } finally {
          await mq.close();
        }
      }
    } finally {
      await cleanup();
    }
  });

  async function flip(file: string, at: number): Promise<void> {
    const buf = await readFile(file);
    buf[at] = (buf[at] as number) ^ 0x5a;
    await writeFile(file, buf);
  }

  it("a damaged older record reads as Corrupted; the records around it stay readable", async () => {
    for (const where of ["payload", "length field"] as const) {
      const { dir, cleanup } = await tempDir("strata-mq-flip-");
      try {
        const { records, file } = await build(dir, 40, 77);
        const victim = records.find((x, k) => k > 10 && x.end - x.start > 200) ?? assert.fail("no victim");
        // The length field is at header offset 8.
        await flip(file, where === "payload" ? victim.start + HEADER_BYTES + 100 : victim.start + 8);
        const mq = await openEmbeddedMq({ dir });
        try {
          assert.equal(
            await mq.lastSeq("t"),
            records.length,
            "acknowledged records after the damage are kept",
          );
          const c = await mq.consume("t", { kind: "earliest" });
          const { msgs, error } = await readAll(c);
          assert.deepEqual(
            msgs.map((m) => m.seq),
            records.filter((x) => x.seq < victim.seq).map((x) => x.seq),
          );
          assert.ok(isStrataError(error, "Corrupted"), `${where}: got ${String(error)}`);
          await rejectsWith(c.next(10), "Corrupted", "still corrupted on retry");
          await c.seek(victim.seq);
          const rest = (await readAll(c)).msgs;
          assert.deepEqual(
            rest.map((m) => m.seq),
            records.filter((x) => x.seq > victim.seq).map((x) => x.seq),
          );
          rest.forEach((m) => {
            assertBytes(m.payload, records[m.seq - 1]?.payload as Uint8Array, `record ${m.seq} after damage`);
          });
          await c.close();
        } finally {
          await mq.close();
        }
      } finally {
        await cleanup();
      }
    }
  });

  it("damage inside the last write is a torn tail and is dropped on open", async () => {
    const { dir, cleanup } = await tempDir("strata-mq-lastflip-");
    try {
      const { records, file } = await build(dir, 30, 91);
      // The last produce call is the last group commit; damage its first record.
      let k = records.length - 1;
      while (k > 0 && !records[k - 1]?.last) k--;
      const victim = records[k] ?? assert.fail("no victim");
      await flip(file, victim.start + HEADER_BYTES / 2);
      const mq = await openEmbeddedMq({ dir });
      try {
        assert.equal(await mq.lastSeq("t"), victim.seq - 1);
        assert.equal((await stat(file)).size, victim.start);
        const c = await mq.consume("t", { kind: "earliest" });
        const { msgs, error } = await readAll(c);
        assert.equal(error, undefined);
        assert.equal(msgs.length, victim.seq - 1);
        await c.close();
      } finally {
        await mq.close();
      }
    } finally {
      await cleanup();
    }
  });

  it("damage in a sealed segment reads as Corrupted after a reopen", async () => {
    const { dir, cleanup } = await tempDir("strata-mq-sealed-");
    try {
      let mq = await openEmbeddedMq({ dir, segmentBytes: 4096 });
      for (let i = 0; i < 60; i++) await mq.produce("s", [payloadOf(i, 300)]);
      await mq.close();
      const bases = await segmentBases(dir, "s");
      const second = bases[1] as number;
      const file = join(chanDir(dir, "s"), segmentFileName(second));
      // Second record of the second segment (all records have 300-byte payloads).
      await flip(file, HEADER_BYTES + 300 + HEADER_BYTES + 7);
      mq = await openEmbeddedMq({ dir, segmentBytes: 4096 });
      try {
        assert.equal(await mq.lastSeq("s"), 60);
        const c = await mq.consume("s", { kind: "earliest" });
        const { msgs, error } = await readAll(c);
        assert.equal(msgs.at(-1)?.seq, second);
        assert.ok(isStrataError(error, "Corrupted"), String(error));
        await c.seek(second + 1);
        const rest = (await readAll(c)).msgs;
        assert.equal(rest.length, 60 - second - 1);
        await c.close();
      } finally {
        await mq.close();
      }
    } finally {
      await cleanup();
    }
  });

  it("a damaged checkpoint file is reported as Corrupted, not ignored", async () => {
    const { dir, cleanup } = await tempDir("strata-mq-ckbad-");
    try {
      let mq = await openEmbeddedMq({ dir });
      await mq.produce("c", [enc.encode("x")]);
      await mq.saveCheckpoint("a", "c", 1);
      await mq.close();
      const f = join(chanDir(dir, "c"), "checkpoints.json");
      await writeFile(f, (await readFile(f, "utf8")).replace('"a",1', '"a",9'));
      mq = await openEmbeddedMq({ dir });
      await rejectsWith(mq.loadCheckpoint("a", "c"), "Corrupted", "checkpoint checksum");
      await mq.close();
    } finally {
      await cleanup();
    }
  });
});

describe("embedded log: lock and group commit", () => {
  it("refuses a second opener and takes over a lock left by a dead process", async () => {
    const { dir, cleanup } = await tempDir("strata-mq-lock-");
    try {
      const mq = await openEmbeddedMq({ dir });
      await rejectsWith(openEmbeddedMq({ dir }), "IoFailed", "second open in this process");
      await mq.close();
      const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
      const deadPid = Number(dead.stdout.toString());
      assert.ok(deadPid > 0);
      await writeFile(join(dir, "LOCK"), `${deadPid}\n`);
      const again = await openEmbeddedMq({ dir });
      assert.equal((await readFile(join(dir, "LOCK"), "utf8")).split(/\s/)[0], String(process.pid));
      await again.close();
      await assert.rejects(readFile(join(dir, "LOCK")), "close removes the lock");
      // Our own pid with another start time: an earlier process whose pid was reused.
      await writeFile(join(dir, "LOCK"), `${process.pid} 1\n`);
      const reused = await openEmbeddedMq({ dir });
      await reused.close();
    } finally {
      await cleanup();
    }
  });

  /** Counts records and group-commit marks in a segment file. */
  async function groups(file: string): Promise<{ records: number; commits: number }> {
    const buf = await readFile(file);
    let off = 0;
    let records = 0;
    let commits = 0;
    while (off < buf.length) {
      assert.ok(recordOk(buf, off));
      assert.equal(headerSeq(buf, off), records + 1);
      if ((headerFlags(buf, off) & FLAG_COMMIT) !== 0) commits++;
      records++;
      off += HEADER_BYTES + headerLen(buf, off);
    }
    return { records, commits };
  }

  it("writes a whole batch in one commit and coalesces concurrent produces", async () => {
    const { dir, cleanup } = await tempDir("strata-mq-gc-");
    try {
      const mq: MessageQueue = await openEmbeddedMq({ dir });
      const vec = new Uint8Array(512);
      await mq.produce(
        "g",
        Array.from({ length: 1000 }, () => vec),
      );
      const file = join(chanDir(dir, "g"), segmentFileName(1));
      assert.deepEqual(await groups(file), { records: 1000, commits: 1 }, "1,000 payloads, one commit");
      const pos = await Promise.all(Array.from({ length: 300 }, () => mq.produce("g", [vec])));
      assert.deepEqual(
        pos.map((p) => p[0]?.seq),
        Array.from({ length: 300 }, (_, i) => 1001 + i),
        "concurrent calls are ordered by arrival",
      );
      const { records, commits } = await groups(file);
      assert.equal(records, 1300);
      assert.ok(commits < 1 + 300 / 4, `300 concurrent produces took ${commits - 1} commits`);
      await mq.close();
    } finally {
      await cleanup();
    }
  });
});

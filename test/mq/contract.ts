/**
 * The shared contract every MessageQueue implementation must pass, unchanged. Each test gets a
 * fresh, empty namespace from the fixture and checks the queue against plain in-memory oracles
 * (the payloads it produced, the positions it was given).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ErrorCode, isStrataError } from "../../src/common/errors.ts";
import type { Consumer, Message, MessageQueue } from "../../src/mq/types.ts";
import { rng } from "../helpers/env.ts";

export interface MqFixture {
  /** Opens the queue on this fixture's namespace; calling it again (after close) reopens the same data. */
  open(): Promise<MessageQueue>;
  /** Removes everything the fixture created. */
  cleanup(): Promise<void>;
}

export interface MqContractOptions {
  readonly skip?: string | false;
  /** A fixture over a fresh, empty namespace. */
  readonly fresh: () => Promise<MqFixture>;
}

const MiB = 1024 * 1024;
const enc = new TextEncoder();
const dec = new TextDecoder();

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

export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.byteLength, expected.byteLength, `${what}: length`);
  const i = actual.findIndex((b, j) => b !== expected[j]);
  assert.equal(i, -1, `${what}: first differing byte at ${i}`);
}

export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStrataError(e, code), `${what}: expected StrataError ${code}, got ${String(e)}`);
    return true;
  });
}

function texts(n: number, tag: string): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => enc.encode(`${tag}-${i}`));
}

/** Reads until `count` records arrived (or fails after `timeoutMs`). */
export async function collect(c: Consumer, count: number, timeoutMs = 10_000): Promise<Message[]> {
  const out: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count) {
    const left = deadline - Date.now();
    assert.ok(left > 0, `timed out with ${out.length} of ${count} records`);
    out.push(...(await c.next(Math.min(left, 1000))));
  }
  return out;
}

function assertIncreasing(seqs: readonly number[], what: string): void {
  for (let i = 1; i < seqs.length; i++) {
    assert.ok((seqs[i] as number) > (seqs[i - 1] as number), `${what}: seq ${seqs[i]} after ${seqs[i - 1]}`);
  }
}

export function mqContract(name: string, opts: MqContractOptions): void {
  describe(`MessageQueue contract: ${name}`, { skip: opts.skip ?? false }, () => {
    /** Runs `body` on a fresh namespace; always closes and cleans up. */
    async function withMq(body: (mq: MessageQueue, fx: MqFixture) => Promise<MessageQueue | undefined>) {
      const fx = await opts.fresh();
      let mq = await fx.open();
      try {
        mq = (await body(mq, fx)) ?? mq;
      } finally {
        await mq.close();
        await fx.cleanup();
      }
    }

    it("delivers every record once, in produce order, at the positions produce returned", async () => {
      await withMq(async (mq) => {
        const r = rng(101);
        const sent: Uint8Array[] = [];
        const positions: number[] = [];
        for (let call = 0; call < 20; call++) {
          const batch = Array.from({ length: 1 + Math.floor(r() * 30) }, () =>
            randomBytes(r, Math.floor(r() * 300)),
          );
          const pos = await mq.produce("orders", batch);
          assert.equal(pos.length, batch.length);
          for (const p of pos) assert.equal(p.channel, "orders");
          sent.push(...batch);
          positions.push(...pos.map((p) => p.seq));
        }
        assertIncreasing(positions, "produce positions");
        assert.ok((positions[0] as number) >= 1);
        assert.equal(await mq.lastSeq("orders"), positions.at(-1));
        const c = await mq.consume("orders", { kind: "earliest" });
        const got = await collect(c, sent.length);
        assert.equal(got.length, sent.length);
        assert.deepEqual(
          got.map((m) => m.seq),
          positions,
        );
        got.forEach((m, i) => {
          assert.equal(m.channel, "orders");
          assertBytes(m.payload, sent[i] as Uint8Array, `record ${i}`);
        });
        assert.deepEqual(await c.next(200), [], "nothing more");
        await c.close();
        return undefined;
      });
    });

    it("starts at earliest, latest, after a seq, and after a checkpoint", async () => {
      await withMq(async (mq) => {
        const first = await mq.produce("s", texts(6, "a"));
        const seqs = first.map((p) => p.seq);
        const latest = await mq.consume("s", { kind: "latest" });
        const fromZero = await mq.consume("s", { kind: "after", seq: 0 });
        const after2 = await mq.consume("s", { kind: "after", seq: seqs[2] as number });
        const noCkpt = await mq.consume("s", { kind: "checkpoint", consumer: "dn" });
        await mq.saveCheckpoint("dn", "s", seqs[3] as number);
        const withCkpt = await mq.consume("s", { kind: "checkpoint", consumer: "dn" });
        const atEnd = await mq.consume("s", { kind: "after", seq: seqs[5] as number });

        assert.deepEqual(await latest.next(150), [], "latest sees nothing old");
        const second = await mq.produce("s", texts(2, "b"));
        const l = await collect(latest, 2);
        assert.deepEqual(
          l.map((m) => dec.decode(m.payload)),
          ["b-0", "b-1"],
        );
        assert.deepEqual(
          l.map((m) => m.seq),
          second.map((p) => p.seq),
        );
        assert.deepEqual((await collect(fromZero, 8)).map((m) => dec.decode(m.payload)).slice(0, 6), [
          "a-0",
          "a-1",
          "a-2",
          "a-3",
          "a-4",
          "a-5",
        ]);
        assert.deepEqual(
          (await collect(after2, 5)).map((m) => dec.decode(m.payload)),
          ["a-3", "a-4", "a-5", "b-0", "b-1"],
        );
        assert.equal(dec.decode((await collect(noCkpt, 1))[0]?.payload ?? new Uint8Array()), "a-0");
        assert.deepEqual(
          (await collect(withCkpt, 4)).map((m) => dec.decode(m.payload)),
          ["a-4", "a-5", "b-0", "b-1"],
        );
        assert.deepEqual(
          (await collect(atEnd, 2)).map((m) => dec.decode(m.payload)),
          ["b-0", "b-1"],
        );
        for (const c of [latest, fromZero, after2, noCkpt, withCkpt, atEnd]) await c.close();
        return undefined;
      });
    });

    it("seek moves the read position back and forward", async () => {
      await withMq(async (mq) => {
        const pos = (await mq.produce("sk", texts(20, "r"))).map((p) => p.seq);
        const c = await mq.consume("sk", { kind: "earliest" }, { maxBatch: 5 });
        assert.equal((await collect(c, 20)).length, 20);
        await c.seek(0);
        const again = await collect(c, 20);
        assert.deepEqual(
          again.map((m) => m.seq),
          pos,
        );
        await c.seek(pos[14] as number);
        const tail = await collect(c, 5);
        assert.deepEqual(
          tail.map((m) => dec.decode(m.payload)),
          ["r-15", "r-16", "r-17", "r-18", "r-19"],
        );
        await c.seek(pos[3] as number);
        assert.equal(dec.decode((await c.next(1000))[0]?.payload ?? new Uint8Array()), "r-4");
        await c.seek((pos[19] as number) + 1000);
        await mq.produce("sk", texts(1, "late"));
        assert.deepEqual(await c.next(200), [], "seek past the end skips records up to there");
        await c.close();
        return undefined;
      });
    });

    it("a waiting next() wakes promptly on new records; a timeout returns []", async () => {
      await withMq(async (mq) => {
        await mq.ensureChannel("w");
        const c = await mq.consume("w", { kind: "latest" });
        const t0 = Date.now();
        assert.deepEqual(await c.next(120), []);
        assert.ok(Date.now() - t0 >= 100, "next(timeout) waited");
        const pending = c.next();
        await new Promise((r) => setTimeout(r, 50));
        const sentAt = Date.now();
        await mq.produce("w", texts(3, "x"));
        const got = await pending;
        assert.ok(Date.now() - sentAt < 1000, `woke after ${Date.now() - sentAt} ms`);
        assert.ok(got.length >= 1 && got.length <= 3);
        await c.close();
        return undefined;
      });
    });

    it("maxBatch bounds each next()", async () => {
      await withMq(async (mq) => {
        await mq.produce("mb", texts(50, "m"));
        const c = await mq.consume("mb", { kind: "earliest" }, { maxBatch: 7 });
        const all: Message[] = [];
        while (all.length < 50) {
          const b = await c.next(2000);
          assert.ok(b.length >= 1 && b.length <= 7, `batch of ${b.length}`);
          all.push(...b);
        }
        assert.deepEqual(
          all.map((m) => dec.decode(m.payload)),
          texts(50, "m").map((b) => dec.decode(b)),
        );
        await c.close();
        await rejectsWith(
          mq.consume("mb", { kind: "earliest" }, { maxBatch: 0 }),
          "ParameterInvalid",
          "maxBatch 0",
        );
        return undefined;
      });
    });

    it("checkpoints only move forward, are per consumer, and survive a reopen", async () => {
      await withMq(async (mq, fx) => {
        await mq.produce("ck", texts(10, "c"));
        assert.equal(await mq.loadCheckpoint("a", "ck"), undefined);
        await mq.saveCheckpoint("a", "ck", 5);
        await mq.saveCheckpoint("a", "ck", 3);
        assert.equal(await mq.loadCheckpoint("a", "ck"), 5, "a lower save is a no-op");
        await mq.saveCheckpoint("a", "ck", 8);
        await mq.saveCheckpoint("b", "ck", 2);
        await Promise.all([mq.saveCheckpoint("c", "ck", 4), mq.saveCheckpoint("c", "ck", 6)]);
        assert.equal(await mq.loadCheckpoint("a", "ck"), 8);
        assert.equal(await mq.loadCheckpoint("b", "ck"), 2);
        assert.equal(await mq.loadCheckpoint("c", "ck"), 6);
        await mq.deleteCheckpoint("b", "ck");
        await mq.deleteCheckpoint("b", "ck");
        await mq.deleteCheckpoint("nobody", "ck");
        assert.equal(await mq.loadCheckpoint("b", "ck"), undefined);
        await rejectsWith(
          mq.saveCheckpoint("a", "nochannel", 1),
          "MqTopicNotFound",
          "save on a missing channel",
        );
        assert.equal(await mq.loadCheckpoint("a", "nochannel"), undefined);
        await mq.close();
        const again = await fx.open();
        assert.equal(await again.loadCheckpoint("a", "ck"), 8);
        assert.equal(await again.loadCheckpoint("b", "ck"), undefined);
        assert.equal(await again.loadCheckpoint("c", "ck"), 6);
        await again.saveCheckpoint("a", "ck", 7);
        assert.equal(await again.loadCheckpoint("a", "ck"), 8);
        const c = await again.consume("ck", { kind: "checkpoint", consumer: "a" });
        assert.deepEqual(
          (await collect(c, 2)).map((m) => dec.decode(m.payload)),
          ["c-8", "c-9"],
        );
        await c.close();
        return again;
      });
    });

    it("keeps many channels independent", async () => {
      await withMq(async (mq) => {
        const names = Array.from({ length: 8 }, (_, i) => `ch-${i}_x`);
        await Promise.all(
          names.map(async (n, i) => {
            for (let k = 0; k < 3; k++) await mq.produce(n, texts(i + 1, `${n}/${k}`));
          }),
        );
        for (const [i, n] of names.entries()) {
          const c = await mq.consume(n, { kind: "earliest" });
          const got = await collect(c, 3 * (i + 1));
          assert.ok(got.every((m) => m.channel === n && dec.decode(m.payload).startsWith(`${n}/`)));
          assert.deepEqual(await c.next(50), []);
          assert.equal(await mq.lastSeq(n), got.at(-1)?.seq);
          await c.close();
        }
        const listed = await mq.listChannels();
        assert.deepEqual(listed, [...names].sort());
        return undefined;
      });
    });

    it("lastSeq, listChannels and dropChannel", async () => {
      await withMq(async (mq) => {
        assert.equal(await mq.lastSeq("d1"), undefined);
        assert.deepEqual(await mq.listChannels(), []);
        await mq.ensureChannel("d1");
        await mq.ensureChannel("d1");
        assert.equal(await mq.lastSeq("d1"), 0);
        await mq.produce("d2", texts(4, "z"));
        assert.deepEqual(await mq.listChannels(), ["d1", "d2"]);
        await mq.saveCheckpoint("k", "d2", 2);
        const open = await mq.consume("d2", { kind: "earliest" });
        await mq.dropChannel("d2");
        await mq.dropChannel("d2");
        await mq.dropChannel("never");
        assert.deepEqual(await open.next(500), [], "a consumer of a dropped channel gets nothing more");
        await open.close();
        assert.equal(await mq.lastSeq("d2"), undefined);
        assert.deepEqual(await mq.listChannels(), ["d1"]);
        await rejectsWith(mq.consume("d2", { kind: "earliest" }), "MqTopicNotFound", "consume dropped");
        await rejectsWith(mq.consume("zz", { kind: "latest" }), "MqTopicNotFound", "consume missing");
        const pos = await mq.produce("d2", texts(1, "new"));
        assert.equal(pos.length, 1);
        assert.equal(await mq.loadCheckpoint("k", "d2"), undefined, "drop removed the checkpoints");
        const c = await mq.consume("d2", { kind: "earliest" });
        assert.deepEqual(
          (await collect(c, 1)).map((m) => dec.decode(m.payload)),
          ["new-0"],
        );
        assert.deepEqual(await c.next(100), []);
        await c.close();
        return undefined;
      });
    });

    it("closing a consumer (or the queue) unblocks a pending next()", async () => {
      await withMq(async (mq, fx) => {
        await mq.ensureChannel("cl");
        const c = await mq.consume("cl", { kind: "earliest" });
        const pending = c.next();
        await new Promise((r) => setTimeout(r, 30));
        await c.close();
        assert.deepEqual(await pending, []);
        assert.deepEqual(await c.next(), []);
        await c.close();
        const d = await mq.consume("cl", { kind: "latest" });
        const pending2 = d.next();
        await new Promise((r) => setTimeout(r, 30));
        await mq.close();
        assert.deepEqual(await pending2, []);
        await rejectsWith(mq.produce("cl", texts(1, "x")), "Closed", "produce after close");
        await rejectsWith(mq.lastSeq("cl"), "Closed", "lastSeq after close");
        await mq.close();
        return fx.open();
      });
    });

    it("carries large (>= 1 MiB) and empty payloads intact", async () => {
      await withMq(async (mq, fx) => {
        const r = rng(7);
        const batch = [
          randomBytes(r, MiB),
          new Uint8Array(0),
          randomBytes(r, 3 * MiB + 17),
          new Uint8Array([42]),
        ];
        const pos = await mq.produce("big", batch);
        assertIncreasing(
          pos.map((p) => p.seq),
          "big positions",
        );
        await mq.produce("big", [new Uint8Array(0)]);
        const check = async (q: MessageQueue): Promise<void> => {
          const c = await q.consume("big", { kind: "earliest" });
          const got = await collect(c, 5);
          assert.deepEqual(
            got.slice(0, 4).map((m) => m.seq),
            pos.map((p) => p.seq),
          );
          got.slice(0, 4).forEach((m, i) => {
            assertBytes(m.payload, batch[i] as Uint8Array, `payload ${i}`);
          });
          assert.equal(got[4]?.payload.byteLength, 0);
          await c.close();
        };
        await check(mq);
        await mq.close();
        const again = await fx.open();
        await check(again);
        return again;
      });
    });

    it("concurrent producers on one channel lose and duplicate nothing", async () => {
      await withMq(async (mq) => {
        const r = rng(99);
        const producers = 8;
        const calls = 25;
        const plan = Array.from({ length: producers }, () =>
          Array.from({ length: calls }, () => 1 + Math.floor(r() * 20)),
        );
        const returned = new Map<string, number>();
        await Promise.all(
          plan.map(async (sizes, p) => {
            let k = 0;
            for (const n of sizes) {
              const batch = Array.from({ length: n }, () => enc.encode(`p${p}:${k++}`));
              const pos = await mq.produce("cc", batch);
              assertIncreasing(
                pos.map((x) => x.seq),
                `call of producer ${p}`,
              );
              batch.forEach((b, i) => {
                returned.set(dec.decode(b), pos[i]?.seq as number);
              });
            }
          }),
        );
        const total = plan.flat().reduce((a, b) => a + b, 0);
        assert.equal(returned.size, total);
        const c = await mq.consume("cc", { kind: "earliest" }, { maxBatch: 100 });
        const got = await collect(c, total);
        assert.deepEqual(await c.next(100), []);
        assertIncreasing(
          got.map((m) => m.seq),
          "consumed",
        );
        const next = new Array<number>(producers).fill(0);
        for (const m of got) {
          const text = dec.decode(m.payload);
          assert.equal(returned.get(text), m.seq, `position of ${text}`);
          const [p, k] = text.slice(1).split(":").map(Number) as [number, number];
          assert.equal(k, next[p], `producer ${p} order`);
          next[p] = k + 1;
        }
        await c.close();
        return undefined;
      });
    });

    it("rejects bad names and arguments without changing anything", async () => {
      await withMq(async (mq) => {
        await mq.produce("good", texts(2, "g"));
        const bad = ["", "a.b", "a b", "x".repeat(201), "ä", "a/b", "a*", ">", "..", "a\nb"];
        for (const b of bad) {
          await rejectsWith(mq.produce(b, texts(1, "x")), "ParameterInvalid", `produce ${JSON.stringify(b)}`);
          await rejectsWith(mq.ensureChannel(b), "ParameterInvalid", `ensure ${JSON.stringify(b)}`);
          await rejectsWith(mq.consume(b, { kind: "earliest" }), "ParameterInvalid", "consume");
          await rejectsWith(mq.lastSeq(b), "ParameterInvalid", "lastSeq");
          await rejectsWith(mq.dropChannel(b), "ParameterInvalid", "drop");
          await rejectsWith(mq.saveCheckpoint(b, "good", 1), "ParameterInvalid", "bad consumer");
          await rejectsWith(mq.saveCheckpoint("ok", b, 1), "ParameterInvalid", "bad channel in checkpoint");
          await rejectsWith(mq.loadCheckpoint(b, "good"), "ParameterInvalid", "load bad consumer");
        }
        await mq.ensureChannel("x".repeat(200));
        const notBytes = ["str"] as unknown as Uint8Array[];
        await rejectsWith(mq.produce("good", notBytes), "ParameterInvalid", "payload not bytes");
        await rejectsWith(
          mq.produce("good", [enc.encode("ok"), null] as unknown as Uint8Array[]),
          "ParameterInvalid",
          "null payload",
        );
        await rejectsWith(mq.saveCheckpoint("ok", "good", -1), "ParameterInvalid", "negative seq");
        await rejectsWith(mq.saveCheckpoint("ok", "good", 1.5), "ParameterInvalid", "fractional seq");
        await rejectsWith(
          mq.consume("good", { kind: "after", seq: -3 }),
          "ParameterInvalid",
          "negative start",
        );
        await rejectsWith(
          mq.consume("good", { kind: "sideways" } as unknown as { kind: "latest" }),
          "ParameterInvalid",
          "unknown start kind",
        );
        const c = await mq.consume("good", { kind: "earliest" });
        await rejectsWith(c.seek(-1), "ParameterInvalid", "negative seek");
        await rejectsWith(c.next(-5), "ParameterInvalid", "negative timeout");
        assert.deepEqual(
          (await collect(c, 2)).map((m) => dec.decode(m.payload)),
          ["g-0", "g-1"],
        );
        assert.deepEqual(await c.next(100), [], "the rejected produce wrote nothing");
        await c.close();
        assert.deepEqual(await mq.listChannels(), ["good", "x".repeat(200)]);
        assert.equal(await mq.loadCheckpoint("ok", "good"), undefined);
        return undefined;
      });
    });

    it("a reopen keeps every record and continues the positions", async () => {
      await withMq(async (mq, fx) => {
        const r = rng(5);
        const sent: Uint8Array[] = [];
        const pos: number[] = [];
        for (let i = 0; i < 10; i++) {
          const batch = Array.from({ length: 1 + (i % 4) }, () =>
            randomBytes(r, 10 + Math.floor(r() * 2000)),
          );
          pos.push(...(await mq.produce("re", batch)).map((p) => p.seq));
          sent.push(...batch);
        }
        await mq.produce("other", texts(3, "o"));
        await mq.close();
        const again = await fx.open();
        assert.deepEqual(await again.listChannels(), ["other", "re"]);
        assert.equal(await again.lastSeq("re"), pos.at(-1));
        const more = await again.produce("re", texts(2, "after"));
        assert.ok((more[0]?.seq as number) > (pos.at(-1) as number));
        const c = await again.consume("re", { kind: "earliest" });
        const got = await collect(c, sent.length + 2);
        assert.deepEqual(
          got.map((m) => m.seq),
          [...pos, ...more.map((p) => p.seq)],
        );
        got.slice(0, sent.length).forEach((m, i) => {
          assertBytes(m.payload, sent[i] as Uint8Array, `record ${i}`);
        });
        await c.close();
        return again;
      });
    });

    it("the async iterator yields batches until the consumer closes", async () => {
      await withMq(async (mq) => {
        await mq.produce("it", texts(12, "i"));
        const c = await mq.consume("it", { kind: "earliest" }, { maxBatch: 5 });
        const seen: string[] = [];
        for await (const batch of c) {
          seen.push(...batch.map((m) => dec.decode(m.payload)));
          if (seen.length >= 12) await c.close();
        }
        assert.deepEqual(
          seen,
          texts(12, "i").map((b) => dec.decode(b)),
        );
        return undefined;
      });
    });
  });
}

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isStrataError } from "../../src/common/errors.ts";
import { encodeMsg, type Msg, MsgType } from "../../src/common/msg/index.ts";
import { DataType } from "../../src/common/types.ts";
import {
  BoundedQueue,
  type FlowGraphEnd,
  flowGraph,
  type Pack,
  type PackSource,
  type Stage,
  TickInput,
} from "../../src/flowgraph/index.ts";
import { openEmbeddedMq } from "../../src/mq/index.ts";
import type { MessageQueue } from "../../src/mq/types.ts";
import { rng, tempDir } from "../helpers/env.ts";

let mq: MessageQueue;
let cleanup: () => Promise<void>;
let channelNo = 0;

before(async () => {
  const t = await tempDir("strata-fg-");
  cleanup = t.cleanup;
  mq = await openEmbeddedMq({ dir: t.dir });
});

after(async () => {
  await mq.close();
  await cleanup();
});

function newChannel(): string {
  return `fg_${++channelNo}`;
}

function insert(ts: bigint, segmentId: bigint, rows: number): Msg {
  const rowIds = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) + ts * 1000n);
  return {
    type: MsgType.Insert,
    timestamp: ts,
    collectionId: 1n,
    partitionId: 2n,
    segmentId,
    channel: "c",
    rowIds,
    fields: [{ fieldId: 100, column: { type: DataType.Int64, data: rowIds.slice() } }],
  };
}

function del(ts: bigint, pks: bigint[]): Msg {
  return {
    type: MsgType.Delete,
    timestamp: ts,
    collectionId: 1n,
    partitionId: -1n,
    channel: "c",
    pks: BigInt64Array.from(pks),
  };
}

function tick(ts: bigint): Msg {
  return { type: MsgType.TimeTick, timestamp: ts };
}

/** Produces messages in random-sized groups; returns each with its seq. */
async function produceAll(
  channel: string,
  msgs: readonly Msg[],
  r: () => number,
): Promise<{ seq: number; msg: Msg }[]> {
  const out: { seq: number; msg: Msg }[] = [];
  let i = 0;
  while (i < msgs.length) {
    const n = Math.min(msgs.length - i, 1 + Math.floor(r() * 5));
    const group = msgs.slice(i, i + n);
    const pos = await mq.produce(channel, group.map(encodeMsg));
    group.forEach((msg, k) => {
      out.push({ seq: (pos[k] as { seq: number }).seq, msg });
    });
    i += n;
  }
  return out;
}

/** Oracle: the packs a consumer starting after `afterSeq` must see. */
function expectedPacks(
  produced: readonly { seq: number; msg: Msg }[],
  afterSeq: number,
): { seqs: number[]; tickSeq: number; tickTs: bigint }[] {
  const packs: { seqs: number[]; tickSeq: number; tickTs: bigint }[] = [];
  let cur: number[] = [];
  for (const { seq, msg } of produced) {
    if (seq <= afterSeq) continue;
    if (msg.type === MsgType.TimeTick) {
      packs.push({ seqs: cur, tickSeq: seq, tickTs: msg.timestamp });
      cur = [];
    } else cur.push(seq);
  }
  return packs;
}

function randomStream(r: () => number, n: number): Msg[] {
  const msgs: Msg[] = [];
  let ts = 1000n;
  for (let i = 0; i < n; i++) {
    ts += 1n;
    const x = r();
    if (x < 0.3) msgs.push(tick(ts));
    else if (x < 0.8) msgs.push(insert(ts, BigInt(1 + Math.floor(r() * 3)), 1 + Math.floor(r() * 4)));
    else msgs.push(del(ts, [BigInt(Math.floor(r() * 100))]));
  }
  msgs.push(tick(ts + 1n));
  return msgs;
}

function recorder(): { stage: Stage<Pack, Pack>; packs: Pack[] } {
  const packs: Pack[] = [];
  return {
    packs,
    stage: {
      name: "record",
      process: (p) => {
        packs.push(p);
        return p;
      },
    },
  };
}

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe("TickInput", () => {
  it("cuts packs exactly at ticks, keeps order, and holds back records after the last tick", async () => {
    for (const seed of [1, 2, 3]) {
      const r = rng(seed);
      const channel = newChannel();
      const msgs = randomStream(r, 120);
      msgs.push(insert(99_999n, 1n, 2)); // after the last tick: never delivered
      const produced = await produceAll(channel, msgs, r);
      for (const afterSeq of [0, (produced[Math.floor(produced.length / 2)] as { seq: number }).seq]) {
        const input = await TickInput.open({ mq, channel, afterSeq, maxBatch: 3 });
        const want = expectedPacks(produced, afterSeq);
        for (const w of want) {
          const p = await input.next();
          assert.ok(p !== undefined, `seed ${seed}: pack missing`);
          assert.equal(p.tickSeq, w.tickSeq, `seed ${seed}`);
          assert.equal(p.tickTs, w.tickTs, `seed ${seed}`);
          assert.deepEqual(
            p.msgs.map((m) => m.seq),
            w.seqs,
            `seed ${seed}`,
          );
          for (const m of p.msgs) {
            const orig = produced.find((x) => x.seq === m.seq)?.msg;
            assert.equal(m.msg.type, orig?.type);
            assert.equal(m.msg.timestamp, orig?.timestamp);
          }
        }
        // Nothing more until another tick arrives.
        const pending = input.next();
        const raced = await Promise.race([pending, sleep(100).then(() => "waiting" as const)]);
        assert.equal(raced, "waiting", `seed ${seed}: a pack without its tick was delivered`);
        await input.close();
        assert.equal(await pending, undefined, "close must unblock a pending next()");
      }
    }
  });

  it("a record that is not a message fails next() with Corrupted", async () => {
    const channel = newChannel();
    await mq.produce(channel, [encodeMsg(tick(5n)), new Uint8Array([1, 2, 3])]);
    const input = await TickInput.open({ mq, channel, afterSeq: 0 });
    assert.equal((await input.next())?.tickSeq, 1);
    await assert.rejects(input.next(), (e: unknown) => isStrataError(e, "Corrupted"));
    await input.close();
  });

  it("next() after close resolves undefined at once", async () => {
    const channel = newChannel();
    await mq.ensureChannel(channel);
    const input = await TickInput.open({ mq, channel, afterSeq: 0 });
    await input.close();
    assert.equal(await input.next(), undefined);
  });
});

describe("flowgraph", () => {
  it("stages process every pack in order, one at a time, each after the previous stage", async () => {
    const r = rng(11);
    const channel = newChannel();
    const produced = await produceAll(channel, randomStream(r, 150), r);
    const want = expectedPacks(produced, 0);
    const log: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const mk = (name: string): Stage<Pack, Pack> => ({
      name,
      process: async (p) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await sleep(Math.floor(r() * 3));
        log.push(`${name}:${p.tickSeq}`);
        inFlight--;
        return p;
      },
    });
    const rec = recorder();
    const input = await TickInput.open({ mq, channel, afterSeq: 0, maxBatch: 7 });
    const g = flowGraph(input)
      .pipe(mk("a"))
      .pipe(mk("b"))
      .pipe(mk("c"))
      .pipe(rec.stage)
      .start({ queueCapacity: 2 });
    await waitFor(() => rec.packs.length === want.length, "all packs");
    await g.close();
    assert.equal(maxInFlight, 1);
    const expectedLog = want.flatMap((w) => ["a", "b", "c"].map((s) => `${s}:${w.tickSeq}`));
    assert.deepEqual(log, expectedLog);
    assert.deepEqual(
      rec.packs.map((p) => p.tickSeq),
      want.map((w) => w.tickSeq),
    );
    assert.deepEqual(await g.done, { kind: "closed" });
  });

  it("back-pressure: a blocked stage stops the input after the queue fills", async () => {
    const channel = newChannel();
    const msgs: Msg[] = [];
    for (let i = 1; i <= 300; i++) msgs.push(insert(BigInt(i * 10), 1n, 1), tick(BigInt(i * 10 + 1)));
    await mq.produce(channel, msgs.map(encodeMsg));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    const seen: number[] = [];
    const capacity = 3;
    const maxBatch = 4;
    const input = await TickInput.open({ mq, channel, afterSeq: 0, maxBatch });
    const g = flowGraph(input)
      .pipe<Pack>({
        name: "slow",
        process: async (p) => {
          if (seen.length === 0) await gate;
          seen.push(p.tickSeq);
          return p;
        },
      })
      .start({ queueCapacity: capacity });
    await waitFor(() => g.stats().queued === capacity, "queue full");
    await sleep(200);
    const s = g.stats();
    // one pack in the stage, `capacity` queued, one read and waiting for room
    assert.ok(s.read <= capacity + 2, `read ${s.read} packs while blocked`);
    assert.equal(s.queued, capacity);
    assert.equal(s.processed, 0);
    // the log was read no further than those packs plus one mq batch (2 records per pack)
    assert.ok(input.position <= 2 * (capacity + 2) + maxBatch, `input read up to seq ${input.position}`);
    release();
    await waitFor(() => seen.length === 300, "all packs after release");
    assert.deepEqual(
      seen,
      Array.from({ length: 300 }, (_, i) => 2 * (i + 1)),
    );
    assert.ok(g.stats().queued <= capacity);
    await g.close();
  });

  it("close waits for the pack in flight, unblocks the input and makes no callbacks afterwards", async () => {
    const channel = newChannel();
    await mq.produce(channel, [encodeMsg(tick(1n))]);
    let calls = 0;
    let closes = 0;
    let finishedInFlight = false;
    const input = await TickInput.open({ mq, channel, afterSeq: 0 });
    const g = flowGraph(input)
      .pipe<Pack>({
        name: "s",
        process: async (p, ctx) => {
          calls++;
          if (calls === 2) {
            await sleep(150);
            assert.ok(ctx.signal.aborted, "the signal is aborted while closing");
            finishedInFlight = true;
          }
          return p;
        },
        close: () => {
          closes++;
        },
      })
      .start();
    await waitFor(() => calls === 1, "first pack");
    // idle: the input is blocked in next(); close must not hang
    await mq.produce(channel, [encodeMsg(tick(2n))]);
    await waitFor(() => calls === 2, "second pack in flight");
    const t0 = Date.now();
    await g.close();
    assert.ok(finishedInFlight, "close returned before the in-flight pack finished");
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(closes, 1);
    await mq.produce(channel, [encodeMsg(tick(3n)), encodeMsg(tick(4n))]);
    await sleep(100);
    assert.equal(calls, 2, "no process call after close");
    assert.deepEqual(await g.done, { kind: "closed" });
    await g.close(); // idempotent
  });

  it("an idle graph closes promptly", async () => {
    const channel = newChannel();
    await mq.ensureChannel(channel);
    const input = await TickInput.open({ mq, channel, afterSeq: 0 });
    const g = flowGraph(input).pipe(recorder().stage).start();
    await sleep(20);
    const t0 = Date.now();
    await g.close();
    assert.ok(Date.now() - t0 < 1000);
  });

  it("a stage error stops the graph and surfaces through done and onError, without an unhandled rejection", async () => {
    const channel = newChannel();
    const msgs: Msg[] = [];
    for (let i = 1; i <= 10; i++) msgs.push(tick(BigInt(i)));
    await mq.produce(channel, msgs.map(encodeMsg));
    const after: number[] = [];
    const errors: { stage: string; error: unknown }[] = [];
    let stageCloses = 0;
    const input = await TickInput.open({ mq, channel, afterSeq: 0 });
    const g = flowGraph(input)
      .pipe<Pack>({
        name: "boom",
        process: async (p) => {
          if (p.tickSeq === 3) throw new Error("stage failed on purpose");
          return p;
        },
        close: () => {
          stageCloses++;
        },
      })
      .pipe<number>({
        name: "after",
        process: (p) => {
          after.push(p.tickSeq);
          return p.tickSeq;
        },
      })
      .start({ onError: (stage, error) => errors.push({ stage, error }) });
    const end: FlowGraphEnd = await g.done;
    assert.equal(end.kind, "failed");
    assert.equal(end.kind === "failed" ? end.stage : "", "boom");
    assert.match(String(end.kind === "failed" ? end.error : ""), /on purpose/);
    assert.deepEqual(after, [1, 2]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.stage, "boom");
    assert.equal(stageCloses, 1);
    await g.close(); // after failure: no throw
    assert.deepEqual(after, [1, 2]);
  });

  it("a source error fails the graph as stage 'input'", async () => {
    const channel = newChannel();
    await mq.produce(channel, [encodeMsg(tick(1n)), new Uint8Array([0xff])]);
    const rec = recorder();
    const input = await TickInput.open({ mq, channel, afterSeq: 0 });
    const end = await flowGraph(input).pipe(rec.stage).start().done;
    assert.equal(end.kind, "failed");
    assert.ok(end.kind === "failed" && end.stage === "input" && isStrataError(end.error, "Corrupted"));
    assert.equal(rec.packs.length, 1);
  });

  it("a finite source ends the graph after every item went through", async () => {
    const items = [1, 2, 3, 4, 5];
    let i = 0;
    const source: PackSource<number> = {
      next: async () => items[i++],
      close: async () => undefined,
    };
    const out: number[] = [];
    const end = await flowGraph(source)
      .pipe<string>({ name: "str", process: (n) => `#${n}` })
      .pipe<undefined>({
        name: "collect",
        process: async (s) => {
          await sleep(1);
          out.push(Number(s.slice(1)));
          return undefined;
        },
      })
      .start({ queueCapacity: 1 }).done;
    assert.deepEqual(end, { kind: "ended" });
    assert.deepEqual(out, items);
  });
});

describe("BoundedQueue", () => {
  it("blocks put when full, hands items over in order, and close releases both sides", async () => {
    const q = new BoundedQueue<number>(2);
    assert.equal(await q.put(1), true);
    assert.equal(await q.put(2), true);
    let third = false;
    const p3 = q.put(3).then((ok) => {
      third = ok;
    });
    await sleep(10);
    assert.equal(third, false);
    assert.equal(await q.take(), 1);
    await p3;
    assert.equal(third, true);
    assert.equal(await q.take(), 2);
    assert.equal(await q.take(), 3);
    const pending = q.take();
    q.close();
    assert.equal(await pending, undefined);
    assert.equal(await q.put(4), false);
    assert.throws(
      () => new BoundedQueue(0),
      (e: unknown) => isStrataError(e, "ParameterInvalid"),
    );
  });

  it("end() lets the taker drain queued items", async () => {
    const q = new BoundedQueue<number>(3);
    await q.put(1);
    await q.put(2);
    q.end();
    assert.equal(await q.put(3), false);
    assert.equal(await q.take(), 1);
    assert.equal(await q.take(), 2);
    assert.equal(await q.take(), undefined);
  });
});

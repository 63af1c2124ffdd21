import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { openNatsMq } from "../../src/mq/index.ts";
import type { MessageQueue } from "../../src/mq/types.ts";
import { natsServer, rng, uniqueName } from "../helpers/env.ts";
import { assertBytes, collect, mqContract, randomBytes } from "./contract.ts";

const nats = natsServer();

/** Deletes every stream of the given prefix (the fixture's whole namespace). */
async function deletePrefix(servers: string[], prefix: string): Promise<void> {
  const nc = await connect({ servers });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const n of jsm.streams.names()) if (n.startsWith(`${prefix}_`)) names.push(n);
    for (const n of names) await jsm.streams.delete(n);
  } finally {
    await nc.close();
  }
}

mqContract("NATS JetStream", {
  skip: nats.skip,
  fresh: async () => {
    const servers = nats.value ?? [];
    const prefix = uniqueName("mqc").replaceAll(".", "_").slice(0, 40);
    return {
      open: () => openNatsMq({ servers, prefix }),
      cleanup: () => deletePrefix(servers, prefix),
    };
  },
});

describe("NATS message queue specifics", { skip: nats.skip }, () => {
  const servers = nats.value ?? [];
  const prefix = uniqueName("mqn").slice(0, 40);
  let a: MessageQueue;
  let b: MessageQueue;
  before(async () => {
    // Small chunks force the chunking path; two instances are two connections that can interleave.
    a = await openNatsMq({ servers, prefix, chunkBytes: 1000 });
    b = await openNatsMq({ servers, prefix, chunkBytes: 1000 });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await deletePrefix(servers, prefix);
  });

  it("reassembles chunked records written concurrently by two connections", async () => {
    const r = rng(3);
    const sentA = Array.from({ length: 15 }, () => randomBytes(r, 500 + Math.floor(r() * 6000)));
    const sentB = Array.from({ length: 15 }, () => randomBytes(r, 500 + Math.floor(r() * 6000)));
    const [pa, pb] = await Promise.all([
      Promise.all(sentA.map((p) => a.produce("chunky", [p]))),
      Promise.all(sentB.map((p) => b.produce("chunky", [p]))),
    ]);
    const bySeq = new Map<number, Uint8Array>();
    pa.forEach((pos, i) => {
      bySeq.set(pos[0]?.seq as number, sentA[i] as Uint8Array);
    });
    pb.forEach((pos, i) => {
      bySeq.set(pos[0]?.seq as number, sentB[i] as Uint8Array);
    });
    assert.equal(bySeq.size, 30);
    const c = await a.consume("chunky", { kind: "earliest" });
    const got = await collect(c, 30);
    assert.deepEqual(await c.next(300), [], "no extra or partial records");
    for (const m of got) {
      const want = bySeq.get(m.seq);
      assert.ok(want !== undefined, `unexpected seq ${m.seq}`);
      assertBytes(m.payload, want, `record at ${m.seq}`);
    }
    // Starting in the middle of a chunked record skips to the next whole record. Which record
    // lands first depends on timing, and a one-chunk record has no middle: pick a split one.
    const split = got.findIndex((m, i) => m.payload.byteLength > 1000 && i + 1 < got.length);
    assert.ok(split >= 0, "some record before the last was split into chunks");
    const splitRecord = got[split] as (typeof got)[number];
    const chunks = Math.ceil(splitRecord.payload.byteLength / 1000);
    // Its chunks hold seqs seq-chunks+1 .. seq; "after the first" starts at the second.
    const mid = await a.consume("chunky", { kind: "after", seq: splitRecord.seq - chunks + 1 });
    const m0 = (await mid.next(2000))[0];
    assert.ok(m0 !== undefined && m0.seq === got[split + 1]?.seq, "skipped the partial record");
    await mid.close();
    await c.close();
  });

  it("reads a backlog larger than the server's per-client buffer without stalling, slow reader included", async () => {
    const r = rng(8);
    const payloads = Array.from({ length: 4 }, () => randomBytes(r, 512_000));
    // Default chunking (the server's max_payload): each payload is one message.
    const plain = await openNatsMq({ servers, prefix });
    for (let i = 0; i < 150; i++) await plain.produce("backlog", [payloads[i % 4] as Uint8Array]);
    const c = await plain.consume("backlog", { kind: "earliest" }, { maxBatch: 8 });
    let n = 0;
    const t0 = Date.now();
    while (n < 150) {
      const batch = await c.next(5000);
      assert.ok(batch.length > 0, `stalled after ${n} records`);
      for (const m of batch) assertBytes(m.payload, payloads[n++ % 4] as Uint8Array, `record ${n}`);
      if (n < 40) await new Promise((res) => setTimeout(res, 5));
    }
    assert.ok(Date.now() - t0 < 20_000);
    await c.close();
    await plain.dropChannel("backlog");
    await plain.close();
  });

  it("retention purges the stream below the lowest checkpoint", async () => {
    const pos = await a.produce(
      "ret",
      Array.from({ length: 20 }, (_, i) => new Uint8Array([i])),
    );
    await a.saveCheckpoint("y", "ret", pos[4]?.seq as number);
    await a.saveCheckpoint("x", "ret", pos[9]?.seq as number);
    let c = await b.consume("ret", { kind: "earliest" });
    assert.equal((await c.next(2000))[0]?.seq, pos[5]?.seq, "y holds back retention at its checkpoint");
    await c.close();
    await a.deleteCheckpoint("y", "ret");
    c = await b.consume("ret", { kind: "earliest" });
    assert.equal((await c.next(2000))[0]?.seq, pos[10]?.seq);
    await c.close();
  });
});

import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import { pino } from "pino";
import { utf8 } from "../../src/kv/codec.ts";
import { openEtcdKv } from "../../src/kv/index.ts";
import type { MetaKv, WatchEvent } from "../../src/kv/types.ts";
import { etcdServer, uniqueName } from "../helpers/env.ts";
import { type KvHarness, kvContract } from "./contract.ts";

const etcd = etcdServer();

const harness: KvHarness = {
  async create() {
    const endpoints = etcd.value!;
    const prefix = `${uniqueName("kvtest")}/`;
    let current: MetaKv = await openEtcdKv({ endpoints, prefix });
    return {
      kv: current,
      async reopen() {
        await current.close();
        current = await openEtcdKv({ endpoints, prefix });
        return current;
      },
      async cleanup() {
        await current.close();
        const admin = await openEtcdKv({ endpoints, prefix });
        await admin.deletePrefix("");
        await admin.close();
      },
    };
  },
};

kvContract("etcd", harness, { skip: etcd.skip });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A TCP proxy to etcd whose connections can be cut, to make the client reconnect. */
async function proxy(target: URL): Promise<{ url: string; cut: () => void; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((down) => {
    const up = connect(Number(target.port), target.hostname);
    for (const s of [down, up]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("proxy has no port");
  return {
    url: `http://127.0.0.1:${addr.port}`,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe("etcd meta store", { skip: etcd.skip }, () => {
  it("a watch resumes after the connection drops, missing and repeating nothing", async () => {
    const endpoints = etcd.value!;
    const prefix = `${uniqueName("kvwatch")}/`;
    const p = await proxy(new URL(endpoints[0]!));
    const warnings: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => warnings.push(line) });
    const watched = await openEtcdKv({ endpoints: [p.url], prefix, logger });
    const direct = await openEtcdKv({ endpoints, prefix });
    try {
      const got: WatchEvent[] = [];
      const errors: Error[] = [];
      const w = await watched.watch("", (evs) => got.push(...evs), { onError: (e) => errors.push(e) });
      const revs: number[] = [];
      for (let round = 0; round < 3; round++) {
        revs.push(await direct.put(`live/${round}`, utf8("x")));
        await waitFor("a live event", () => got.length === revs.length, 5000);
        p.cut();
        // Written while the watcher is disconnected: must arrive after it reconnects.
        for (let i = 0; i < 4; i++) revs.push(await direct.put(`gap/${round}/${i}`, utf8(String(i))));
        const txn = await direct.txn({
          compare: [],
          success: [
            { type: "put", key: `gap/${round}/t1`, value: utf8("a") },
            { type: "delete", key: `gap/${round}/0` },
          ],
        });
        revs.push(txn.revision, txn.revision);
        await waitFor("the gap to be replayed", () => got.length >= revs.length, 15_000);
      }
      await sleep(300);
      await w.close();
      assert.deepEqual(
        got.map((e) => e.modRevision),
        revs,
      );
      assert.deepEqual(errors, []);
      const resumed = warnings.filter((l) => l.includes("etcd watch lost")).length;
      assert.ok(resumed >= 3, `the watch should have been cut and resumed 3 times, saw ${resumed}`);
    } finally {
      await watched.close();
      await direct.deletePrefix("");
      await direct.close();
      await p.close();
    }
  });

  it("open fails with ServiceUnavailable when etcd is unreachable", async () => {
    const p = await proxy(new URL("http://127.0.0.1:1"));
    await p.close();
    await assert.rejects(openEtcdKv({ endpoints: [p.url], timeoutMs: 2000 }), (e: unknown) => {
      return e instanceof Error && "code" in e && (e.code === "ServiceUnavailable" || e.code === "Timeout");
    });
  });
});

/**
 * Cluster sessions on the meta store (embedded and etcd): node IDs are unique under concurrent
 * starts; a session is seen up by every watcher and down at once when closed; a holder that stops
 * renewing disappears after the TTL; a holder whose lease is gone is told it lost its session.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { StrataError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/log.ts";
import { openEmbeddedKv, openEtcdKv } from "../../src/kv/index.ts";
import type { MetaKv } from "../../src/kv/types.ts";
import { allocNodeId, Session, type SessionChange, SessionWatch } from "../../src/server/cluster/sessions.ts";
import { etcdServer, tempDir, uniqueName } from "../helpers/env.ts";

const log = silentLogger();

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The kv with keep-alives replaced (a stalled holder, or one whose lease vanished). */
function withKeepAlive(kv: MetaKv, keepAlive: MetaKv["keepAlive"]): MetaKv {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === "keepAlive") return keepAlive;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

function suite(
  name: string,
  open: () => Promise<{ kv: MetaKv; close: () => Promise<void> }>,
  skip: string | false,
) {
  describe(`cluster sessions on ${name}`, { skip }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });
    const kvOf = async () => {
      const o = await open();
      cleanups.push(o.close);
      return o.kv;
    };

    it("allocates unique node IDs under concurrent starts", async () => {
      const kv = await kvOf();
      const ids = await Promise.all(Array.from({ length: 16 }, () => allocNodeId(kv)));
      assert.equal(new Set(ids).size, 16);
      assert.deepEqual(
        [...ids].sort((a, b) => a - b),
        Array.from({ length: 16 }, (_, i) => i + 1),
      );
    });

    it("a session is seen up by a watcher and down as soon as it closes", async () => {
      const kv = await kvOf();
      const watch = await SessionWatch.open(kv, log);
      cleanups.push(() => watch.close());
      const seen: SessionChange[] = [];
      watch.onChange((c) => seen.push(c));
      const s = await Session.open(
        kv,
        { role: "querynode", nodeId: 7, address: "127.0.0.1:1", pid: 1, startedAt: 1 },
        { ttlSeconds: 5, logger: log, onLost: () => assert.fail("not lost") },
      );
      await until("up", () => watch.get("querynode", 7) !== undefined);
      assert.deepEqual(
        watch.list("querynode").map((x) => x.address),
        ["127.0.0.1:1"],
      );
      const later = await SessionWatch.open(kv, log);
      cleanups.push(() => later.close());
      assert.equal(later.get("querynode", 7)?.nodeId, 7, "a watch opened later lists it too");
      const waiting = later.waitFor("proxy", 5000);
      const px = await Session.open(
        kv,
        { role: "proxy", nodeId: 8, address: "127.0.0.1:2", pid: 1, startedAt: 2 },
        { ttlSeconds: 5, logger: log, onLost: () => undefined },
      );
      assert.equal((await waiting).nodeId, 8);
      await s.close();
      await until("down", () => watch.get("querynode", 7) === undefined, 3000);
      assert.deepEqual(
        seen.filter((c) => c.info.role === "querynode").map((c) => c.type),
        ["up", "down"],
      );
      await px.close();
      await assert.rejects(
        later.waitFor("indexnode", 100),
        (e: unknown) => e instanceof StrataError && e.code === "ServiceUnavailable",
      );
    });

    it("a holder that stops renewing disappears after the TTL; one whose lease is gone learns it", async () => {
      const kv = await kvOf();
      const watch = await SessionWatch.open(kv, log);
      cleanups.push(() => watch.close());
      const stalled = await Session.open(
        withKeepAlive(kv, async () => undefined),
        { role: "datanode", nodeId: 3, address: "a", pid: 1, startedAt: 1 },
        { ttlSeconds: 2, logger: log, onLost: () => undefined },
      );
      await until("up", () => watch.get("datanode", 3) !== undefined);
      await until("the stalled session to lapse", () => watch.get("datanode", 3) === undefined, 15_000);
      let lost = false;
      const gone = await Session.open(
        withKeepAlive(kv, async () => {
          throw new StrataError("LeaseExpired", "lease is gone");
        }),
        { role: "datanode", nodeId: 4, address: "b", pid: 1, startedAt: 1 },
        {
          ttlSeconds: 1,
          logger: log,
          onLost: () => {
            lost = true;
          },
        },
      );
      await until("onLost", () => lost, 5000);
      await stalled.close();
      await gone.close();
    });
  });
}

suite(
  "the embedded kv",
  async () => {
    const t = await tempDir("strata-sess-");
    const kv = await openEmbeddedKv({ dir: t.dir, logger: log });
    return {
      kv,
      close: async () => {
        await kv.close();
        await t.cleanup();
      },
    };
  },
  false,
);

const etcd = etcdServer();
suite(
  "etcd",
  async () => {
    const prefix = `${uniqueName("sess")}/`;
    const kv = await openEtcdKv({ endpoints: etcd.value ?? [], prefix });
    return {
      kv,
      close: async () => {
        await kv.deletePrefix("");
        await kv.close();
      },
    };
  },
  etcd.skip,
);

/**
 * Internal RPC: a role served by RpcServer and called through RpcClients behaves like the object
 * itself — arguments and results keep bigints, typed arrays and maps; StrataErrors keep their code;
 * an unreachable peer is ServiceUnavailable; the Snapshot rpc serves synchronous reads.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { StrataError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/log.ts";
import { RpcClients } from "../../src/rpc/client.ts";
import { loadRoleServices } from "../../src/rpc/proto.ts";
import { RpcServer } from "../../src/rpc/server.ts";
import { remoteIndexNode, remoteQueryNode, remoteRootCoord } from "../../src/rpc/stubs.ts";
import { freePort } from "../api/milvus/spawn.ts";

describe("internal RPC", () => {
  const services = loadRoleServices();
  const server = new RpcServer(services, silentLogger());
  const clients = new RpcClients(services);
  const calls: unknown[][] = [];
  // A stand-in rootcoord: every rpc of proto/strata/rootcoord.proto must exist on the object.
  const names = Object.keys(services.rootcoord).map((n) => n.charAt(0).toLowerCase() + n.slice(1));
  const fake: Record<string, (...a: unknown[]) => Promise<unknown>> = Object.fromEntries(
    names.map((n) => [
      n,
      async (...args: unknown[]) => {
        calls.push([n, ...args]);
        return undefined;
      },
    ]),
  );
  fake.allocID = async (count: unknown) => ({ start: 1n << 60n, count });
  fake.describeCollection = async (nameOrId: unknown) => {
    if (nameOrId === "nope") throw new StrataError("CollectionNotFound", "collection nope does not exist");
    if (nameOrId === "boom") throw new Error("plain failure");
    return {
      collectionId: nameOrId,
      vec: new Float32Array([1.5, -2]),
      ids: new BigInt64Array([-1n, 9007199254740993n]),
      meta: new Map([[1n, "a"]]),
      missing: undefined,
    };
  };

  before(async () => {
    server.add("rootcoord", fake);
    server.add(
      "querynode",
      Object.fromEntries(
        Object.keys(services.querynode).map((n) => [
          n.charAt(0).toLowerCase() + n.slice(1),
          async () => undefined,
        ]),
      ),
      {
        snapshot: (channels: unknown) => ({
          tSafe: new Map((channels as string[]).map((c) => [c, 42n])),
          resourceCost: { memUsage: 7, cpuUsage: 0 },
          segments: { sealed: [3n], growing: [] },
        }),
      },
    );
    server.add(
      "indexnode",
      Object.fromEntries(
        Object.keys(services.indexnode).map((n) => [n.charAt(0).toLowerCase() + n.slice(1), async () => []]),
      ),
      { snapshot: () => ({ nodeId: 5, stats: { running: 1, queued: 2, slots: 3 } }) },
    );
    await server.listen("127.0.0.1", 0);
  });
  after(async () => {
    clients.close();
    await server.close();
  });

  it("refuses to serve an object that lacks an rpc of the role", () => {
    const s = new RpcServer(services, silentLogger());
    assert.throws(() => s.add("datanode", { flush: async () => undefined }), /does not implement/);
  });

  it("carries arguments and results with bigints, typed arrays and maps", async () => {
    const rc = remoteRootCoord(clients, server.address);
    const got = (await rc.describeCollection(12345678901234567n)) as unknown as Record<string, unknown>;
    assert.equal(got.collectionId, 12345678901234567n);
    assert.deepEqual(got.vec, new Float32Array([1.5, -2]));
    assert.deepEqual(got.ids, new BigInt64Array([-1n, 9007199254740993n]));
    assert.deepEqual(got.meta, new Map([[1n, "a"]]));
    assert.ok("missing" in got);
    assert.deepEqual(await rc.allocID(3), { start: 1n << 60n, count: 3 });
    await rc.createPartition("c", "p");
    assert.deepEqual(calls.at(-1), ["createPartition", "c", "p"]);
    // Lifecycle calls are the stub's own: they never reach the remote role.
    const before = calls.length;
    await rc.start();
    await rc.close();
    assert.equal(calls.length, before);
  });

  it("keeps a StrataError's code and message; other failures are ServiceInternal", async () => {
    const rc = remoteRootCoord(clients, server.address);
    await assert.rejects(rc.describeCollection("nope"), (e: unknown) => {
      assert.ok(e instanceof StrataError);
      assert.equal(e.code, "CollectionNotFound");
      assert.equal(e.message, "collection nope does not exist");
      return true;
    });
    await assert.rejects(rc.describeCollection("boom"), (e: unknown) => {
      assert.ok(e instanceof StrataError);
      assert.equal(e.code, "ServiceInternal");
      assert.match(e.message, /plain failure/);
      return true;
    });
  });

  it("an unreachable peer is ServiceUnavailable, quickly", async () => {
    const rc = remoteRootCoord(clients, `127.0.0.1:${await freePort()}`);
    const t0 = Date.now();
    await assert.rejects(rc.getDdChannel(), (e: unknown) => {
      assert.ok(e instanceof StrataError);
      assert.equal(e.code, "ServiceUnavailable");
      assert.match(e.message, /is not available/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  });

  it("a coordinator stub asks for the address at every call and fails clearly without one", async () => {
    let addr: string | undefined;
    const rc = remoteRootCoord(clients, () => {
      if (addr === undefined)
        throw new StrataError("ServiceUnavailable", "no rootcoord is running in the cluster");
      return addr;
    });
    await assert.rejects(rc.getDdChannel(), /no rootcoord is running/);
    addr = server.address;
    await rc.getDdChannel();
  });

  it("serves synchronous reads from the polled Snapshot", async () => {
    const qn = remoteQueryNode(clients, server.address, 20);
    assert.equal(qn.tSafe("ch1"), 0n, "unknown until polled");
    await qn.refresh();
    assert.equal(qn.tSafe("ch1"), 42n);
    assert.deepEqual(qn.resourceCost(), { memUsage: 7, cpuUsage: 0 });
    assert.deepEqual(qn.segments().sealed, [3n]);
    await qn.close();
    const ix = remoteIndexNode(clients, server.address, 5, 20);
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(ix.stats(), { running: 1, queued: 2, slots: 3 });
    assert.equal(ix.nodeId, 5);
    await ix.close();
  });
});

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import sdk from "@zilliz/milvus2-sdk-node";
import { loadConfig, type StrataConfig } from "../../src/common/config.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/log.ts";
import { type StrataServer, startServer } from "../../src/server/serve.ts";
import { tempDir } from "../helpers/env.ts";

const { MilvusClient, DataType, ErrorCode } = sdk;

function config(dataDir: string, overrides: Record<string, unknown> = {}): StrataConfig {
  return loadConfig({
    env: {},
    overrides: { dataDir, server: { port: 0, metricsPort: 0 }, ...overrides },
  });
}

/** The value of one sample in Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const brace = line.indexOf("{");
    const labelText = brace === name.length ? line.slice(brace + 1, line.indexOf("}")) : "";
    const got = new Map([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v))
      return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}

async function rest(port: number, route: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`http://127.0.0.1:${port}/v2/vectordb/${route}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as { code: number; data?: unknown; message?: string } };
}

describe("startServer: roles, Milvus gRPC + REST on one port, ops endpoint", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const dir = async () => {
    const t = await tempDir("strata-serve-");
    cleanups.push(t.cleanup);
    return t.dir;
  };
  const start = async (c: StrataConfig, closeGraceMs?: number): Promise<StrataServer> => {
    const s = await startServer(c, silentLogger(), {
      version: "9.9.9-test",
      ...(closeGraceMs === undefined ? {} : { closeGraceMs }),
    });
    cleanups.push(() => s.close());
    return s;
  };

  it("serves the SDK and REST on one port; metrics count requests, rows, segments and tSafe lag per server", async () => {
    const a = await start(config(await dir()));
    const b = await start(config(await dir()));
    assert.notEqual(a.port, b.port);
    const ops = `http://127.0.0.1:${a.metricsPort}`;
    assert.deepEqual(await get(`${ops}/readyz`), { status: 200, text: '{"status":"ready"}' });
    assert.deepEqual(await get(`${ops}/healthz`), { status: 200, text: '{"status":"ok"}' });
    assert.equal((await get(`${ops}/livez`)).status, 200);
    assert.equal((await get(`${ops}/nope`)).status, 404);

    const client = new MilvusClient({ address: `127.0.0.1:${a.port}`, logLevel: "error" });
    try {
      await client.connectPromise;
      const c = "serve_docs";
      const created = await client.createCollection({
        collection_name: c,
        fields: [
          { name: "id", data_type: DataType.Int64, is_primary_key: true, autoID: false },
          { name: "vec", data_type: DataType.FloatVector, dim: 4 },
        ],
      });
      assert.equal(created.error_code, ErrorCode.SUCCESS, created.reason);
      const rows = Array.from({ length: 10 }, (_, i) => ({ id: i, vec: [i, 0, 0, 1] }));
      const ins = await client.insert({ collection_name: c, data: rows });
      assert.equal(Number(ins.insert_cnt), 10);
      assert.equal((await client.flushSync({ collection_names: [c] })).status.error_code, ErrorCode.SUCCESS);
      await client.createIndex({
        collection_name: c,
        field_name: "vec",
        index_type: "FLAT",
        metric_type: "L2",
      });
      assert.equal((await client.loadCollectionSync({ collection_name: c })).error_code, ErrorCode.SUCCESS);
      const res = await client.search({ collection_name: c, data: [3, 0, 0, 1], limit: 1 });
      assert.equal(Number((res.results[0] as { id: string }).id), 3);
    } finally {
      await client.closeConnection();
    }
    // REST on the same port.
    const listed = await rest(a.port, "collections/list", {});
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.data, ["serve_docs"]);

    const m = await get(`${ops}/metrics`);
    assert.equal(m.status, 200);
    const text = m.text;
    assert.equal(
      sample(text, "strata_requests_total", { protocol: "grpc", method: "Insert", code: "Success" }),
      1,
    );
    assert.equal(
      sample(text, "strata_requests_total", { protocol: "grpc", method: "Search", code: "Success" }),
      1,
    );
    assert.equal(
      sample(text, "strata_requests_total", {
        protocol: "rest",
        method: "collections/list",
        code: "Success",
      }),
      1,
    );
    assert.equal(
      sample(text, "strata_request_duration_seconds_count", {
        protocol: "grpc",
        method: "Insert",
        code: "Success",
      }),
      1,
    );
    assert.equal(sample(text, "strata_rows_total", { kind: "insert" }), 10);
    assert.equal(sample(text, "strata_rows_total", { kind: "delete" }), 0);
    assert.ok(
      (sample(text, "strata_segments", { state: "flushed" }) ?? 0) >= 1,
      "a flushed segment is counted",
    );
    assert.equal(sample(text, "strata_segments", { state: "growing" }), 0);
    const lags = text.split("\n").filter((l) => l.startsWith("strata_tsafe_lag_seconds{"));
    assert.ok(lags.length >= 1, "every channel of the loaded collection reports its tSafe lag");
    for (const l of lags) {
      const v = Number(l.slice(l.lastIndexOf(" ") + 1));
      assert.ok(v >= 0 && v < 5, `tSafe lag ${l}`);
    }
    assert.equal(sample(text, "strata_build_info", { version: "9.9.9-test" }), 1);
    assert.ok((sample(text, "strata_process_resident_memory_bytes") ?? 0) > 1e6);

    // The other server counted none of it.
    const mb = (await get(`http://127.0.0.1:${b.metricsPort}/metrics`)).text;
    assert.equal(
      sample(mb, "strata_requests_total", { protocol: "grpc", method: "Insert", code: "Success" }),
      undefined,
    );
    assert.equal(sample(mb, "strata_rows_total", { kind: "insert" }), 0);
  });

  it("close: /readyz and /healthz turn 503 while requests drain, then everything stops and the data dir reopens", async () => {
    const d = await dir();
    const s = await start(config(d), 800);
    const ops = `http://127.0.0.1:${s.metricsPort}`;
    // A REST request whose body never completes keeps the front door draining for the grace period.
    const hanging = connect(s.port, "127.0.0.1");
    hanging.on("error", () => {});
    hanging.write("POST /v2/vectordb/collections/list HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{");
    await sleep(100);
    const t0 = Date.now();
    const closing = s.close();
    assert.equal(s.phase(), "stopping");
    const ready = await get(`${ops}/readyz`);
    assert.deepEqual(ready, { status: 503, text: '{"status":"stopping"}' });
    const health = await get(`${ops}/healthz`);
    assert.equal(health.status, 503);
    assert.match(health.text, /server is stopping/);
    await closing;
    const took = Date.now() - t0;
    assert.ok(took >= 700 && took < 5000, `close took ${took} ms`);
    assert.equal(s.phase(), "stopped");
    await assert.rejects(fetch(`${ops}/livez`));
    await assert.rejects(
      fetch(`http://127.0.0.1:${s.port}/v2/vectordb/collections/list`, { method: "POST" }),
    );
    hanging.destroy();
    const again = await start(config(d));
    assert.equal((await rest(again.port, "collections/list", {})).status, 200);
    await again.close();
  });

  it("with auth on: the first start generates root's password, clients need it, and a restart keeps it", async () => {
    const d = await dir();
    const s = await start(config(d, { auth: { enabled: true } }));
    const pw = s.initialRootPassword;
    assert.ok(pw !== undefined);
    const refused = await rest(s.port, "collections/list", {});
    assert.equal(refused.status, 401);
    assert.match(refused.body.message ?? "", /authentication is required/);
    assert.equal(
      (await rest(s.port, "collections/list", {}, { authorization: "Bearer root:wrong-one" })).status,
      401,
    );
    assert.equal(
      (await rest(s.port, "collections/list", {}, { authorization: `Bearer root:${pw}` })).status,
      200,
    );
    const bad = new MilvusClient({
      address: `127.0.0.1:${s.port}`,
      username: "root",
      password: "wrong-one",
      logLevel: "error",
    });
    try {
      await bad.connectPromise.catch(() => undefined);
      const shown = await bad.showCollections();
      assert.notEqual(shown.status.error_code, ErrorCode.SUCCESS);
      assert.match(shown.status.reason, /wrong user name or password/);
    } finally {
      await bad.closeConnection();
    }
    await s.close();

    const s2 = await start(config(d, { auth: { enabled: true, rootPassword: "ignored-now" } }));
    assert.equal(s2.initialRootPassword, undefined);
    const good = new MilvusClient({
      address: `127.0.0.1:${s2.port}`,
      token: `root:${pw}`,
      logLevel: "error",
    });
    try {
      await good.connectPromise;
      assert.equal((await good.showCollections()).status.error_code, ErrorCode.SUCCESS);
    } finally {
      await good.closeConnection();
    }
    assert.equal(
      (await rest(s2.port, "collections/list", {}, { authorization: "Bearer root:ignored-now" })).status,
      401,
    );
    await s2.close();
  });

  it("fails with IoFailed on a busy port and releases what it started", async () => {
    const d = await dir();
    const busy = await start(config(await dir()));
    await assert.rejects(
      startServer(config(d, { server: { port: busy.port, metricsPort: 0 } }), silentLogger()),
      (e: unknown) => isStrataError(e, "IoFailed") && new RegExp(`:${busy.port}`).test(e.message),
    );
    await assert.rejects(
      startServer(config(d, { server: { port: 0, metricsPort: busy.metricsPort } }), silentLogger()),
      (e: unknown) => isStrataError(e, "IoFailed") && /health\/metrics/.test(e.message),
    );
    // The data dir is free again (the embedded stores lock it while open).
    const s = await start(config(d));
    assert.equal(s.phase(), "serving");
    await s.close();
  });
});

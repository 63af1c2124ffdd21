import assert from "node:assert/strict";
import { request } from "node:http";
import { describe, it } from "node:test";
import { isStrataError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/log.ts";
import { type ServerPhase, startOpsServer } from "../../src/server/ops.ts";

async function get(url: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(url, { method });
  return { status: r.status, type: r.headers.get("content-type") ?? "", body: await r.text() };
}

describe("ops endpoint (/livez, /readyz, /healthz, /metrics)", () => {
  it("follows the server's phase and problems", async () => {
    let phase: ServerPhase = "starting";
    let problems: () => Promise<readonly string[]> = async () => [];
    const ops = await startOpsServer({
      host: "127.0.0.1",
      port: 0,
      status: { phase: () => phase, problems: () => problems() },
      logger: silentLogger(),
      checkTimeoutMs: 100,
    });
    const base = `http://127.0.0.1:${ops.port}`;
    try {
      assert.deepEqual(await get(`${base}/livez`), {
        status: 200,
        type: "application/json",
        body: '{"status":"ok"}',
      });
      assert.deepEqual((await get(`${base}/readyz`)).body, '{"status":"starting"}');
      assert.equal((await get(`${base}/readyz`)).status, 503);
      const starting = await get(`${base}/healthz`);
      assert.equal(starting.status, 503);
      assert.deepEqual(JSON.parse(starting.body), { status: "unavailable", reasons: ["server is starting"] });

      phase = "serving";
      assert.deepEqual(await get(`${base}/readyz`), {
        status: 200,
        type: "application/json",
        body: '{"status":"ready"}',
      });
      assert.deepEqual(await get(`${base}/healthz`), {
        status: 200,
        type: "application/json",
        body: '{"status":"ok"}',
      });
      assert.equal((await get(`${base}/healthz?verbose=1`)).status, 200, "query strings are ignored");
      assert.equal((await get(`${base}/api/v1/health`)).status, 200, "Milvus' health path");
      const head = await get(`${base}/healthz`, "HEAD");
      assert.equal(head.status, 200);
      assert.equal(head.body, "");

      problems = async () => ["query node 1 is abnormal"];
      const sick = await get(`${base}/healthz`);
      assert.equal(sick.status, 503);
      assert.deepEqual(JSON.parse(sick.body), {
        status: "unavailable",
        reasons: ["query node 1 is abnormal"],
      });
      assert.equal((await get(`${base}/readyz`)).status, 200, "readiness is about the phase only");
      problems = async () => {
        throw new Error("boom");
      };
      assert.match((await get(`${base}/healthz`)).body, /health check failed: boom/);
      problems = () => new Promise(() => {});
      const t0 = Date.now();
      const hung = await get(`${base}/healthz`);
      assert.equal(hung.status, 503);
      assert.match(hung.body, /did not answer within 100 ms/);
      assert.ok(Date.now() - t0 < 2000);

      phase = "stopping";
      assert.deepEqual((await get(`${base}/readyz`)).body, '{"status":"stopping"}');
      assert.equal((await get(`${base}/healthz`)).status, 503);
      assert.equal((await get(`${base}/livez`)).status, 200);

      assert.equal((await get(`${base}/metrics`)).status, 404, "no metrics configured");
      assert.equal((await get(`${base}/nope`)).status, 404);
      const post = await get(`${base}/healthz`, "POST");
      assert.equal(post.status, 405);
    } finally {
      await ops.close();
    }
    await assert.rejects(fetch(`${base}/livez`));
    await ops.close(); // idempotent
  });

  it("serves metrics with their content type, answers 500 when rendering fails, and refuses a busy port", async () => {
    let fail = false;
    const ops = await startOpsServer({
      host: "127.0.0.1",
      port: 0,
      status: { phase: () => "serving", problems: async () => [] },
      metrics: {
        contentType: "text/plain; version=0.0.4; charset=utf-8",
        render: async () => {
          if (fail) throw new Error("render broke");
          return "# TYPE x counter\nx 1\n";
        },
      },
      logger: silentLogger(),
    });
    const base = `http://127.0.0.1:${ops.port}`;
    try {
      assert.deepEqual(await get(`${base}/metrics`), {
        status: 200,
        type: "text/plain; version=0.0.4; charset=utf-8",
        body: "# TYPE x counter\nx 1\n",
      });
      fail = true;
      const broken = await get(`${base}/metrics`);
      assert.equal(broken.status, 500);
      assert.match(broken.body, /render broke/);
      await assert.rejects(
        startOpsServer({
          host: "127.0.0.1",
          port: ops.port,
          status: { phase: () => "serving", problems: async () => [] },
          logger: silentLogger(),
        }),
        (e: unknown) => isStrataError(e, "IoFailed") && e.message.includes(String(ops.port)),
      );
    } finally {
      // A keep-alive connection left open must not hold close().
      await new Promise<void>((resolve) => {
        const req = request(
          `${base}/livez`,
          { agent: undefined, headers: { connection: "keep-alive" } },
          (res) => {
            res.resume();
            res.on("end", () => resolve());
          },
        );
        req.end();
      });
      const t0 = Date.now();
      await ops.close();
      assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
    }
  });
});

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/env.ts";

const bin = fileURLToPath(new URL("../../bin/strata.mjs", import.meta.url));

interface Running {
  readonly proc: ChildProcess;
  readonly front: string;
  readonly ops: string;
  out(): string;
  err(): string;
  exit: Promise<number | null>;
}

/** Spawns `strata serve` on free ports and resolves once the banner is printed and /readyz says 200. */
async function serve(
  dataDir: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<Running> {
  const proc = spawn(
    process.execPath,
    [bin, "serve", "--data-dir", dataDir, "--port", "0", "--metrics-port", "0", ...args],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, STRATA_LOG__LEVEL: "warn", ...env } },
  );
  let out = "";
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => proc.on("exit", (c) => resolve(c)));
  const { front, ops } = await new Promise<{ front: string; ops: string }>((resolve, reject) => {
    proc.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const f = /Milvus gRPC \+ REST\s+(\S+)/.exec(out);
      const o = /health & metrics\s+(http:\/\/\S+)\/healthz/.exec(out);
      if (f?.[1] !== undefined && o?.[1] !== undefined) resolve({ front: f[1], ops: o[1] });
    });
    exit.then((c) => reject(new Error(`exited with ${c} before ready:\n${out}${err}`)));
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await fetch(`${ops}/readyz`).catch(() => undefined);
    if (r?.status === 200) break;
    assert.ok(Date.now() < deadline, "not ready within 10 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, front, ops, out: () => out, err: () => err, exit };
}

async function stop(r: Running, boundMs: number): Promise<number | null> {
  const t0 = Date.now();
  r.proc.kill("SIGTERM");
  const code = await r.exit;
  assert.ok(Date.now() - t0 < boundMs, `stopped in ${Date.now() - t0} ms`);
  return code;
}

const METRIC_NAMES = [
  "strata_requests_total",
  "strata_request_duration_seconds",
  "strata_rows_total",
  "strata_segments",
  "strata_tsafe_lag_seconds",
  "strata_process_resident_memory_bytes",
  "strata_build_info",
];

describe("strata serve (the README's run command)", () => {
  it("starts on a fresh data dir, serves REST and ops, stops cleanly on SIGTERM, and restarts on the same dir", async () => {
    const t = await tempDir();
    try {
      for (const format of ["json", "pretty"] as const) {
        const r = await serve(t.dir, ["--log-format", format, "--log-level", "info"], {});
        assert.match(r.out(), /^Strata \d+\.\d+\.\d+ is ready$/m);
        assert.match(r.out(), /backends\s+mq=embedded kv=embedded objectstore=local/);
        assert.match(r.out(), /auth\s+off/);
        assert.ok(r.out().includes(t.dir), "the banner names the data dir");
        const health = await fetch(`${r.ops}/healthz`);
        const healthText = await health.text();
        assert.equal(health.status, 200, healthText);
        assert.deepEqual(JSON.parse(healthText), { status: "ok" });
        assert.equal((await fetch(`${r.ops}/livez`)).status, 200);
        const listed = await fetch(`http://${r.front}/v2/vectordb/collections/list`, {
          method: "POST",
          body: "{}",
        });
        assert.equal(listed.status, 200);
        assert.deepEqual(await listed.json(), { code: 0, data: [] });
        const metrics = await fetch(`${r.ops}/metrics`);
        assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/);
        const text = await metrics.text();
        for (const name of METRIC_NAMES) assert.ok(text.includes(`# TYPE ${name} `), `${name} in /metrics`);
        assert.match(
          text,
          /strata_requests_total\{protocol="rest",method="collections\/list",code="Success"\} 1/,
        );
        const code = await stop(r, 10_000);
        assert.equal(code, 0, `${format} round exit code; stderr: ${r.err()}`);
        assert.match(r.out(), /strata: stopped/);
        const lines = r.err().trim().split("\n");
        if (format === "json") {
          for (const l of lines)
            assert.equal(typeof (JSON.parse(l) as { level: unknown }).level, "number", l);
        } else {
          assert.ok(
            lines.some((l) =>
              /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}\[ops\] health and metrics endpoint listening/.test(l),
            ),
            r.err(),
          );
          assert.ok(!lines.some((l) => l.startsWith("{")), "no JSON in pretty mode");
        }
      }
    } finally {
      await t.cleanup();
    }
  });

  it("a second signal during a graceful stop forces exit 1", async () => {
    const t = await tempDir();
    try {
      const r = await serve(t.dir);
      // A REST request whose body never completes holds the graceful stop for its 5 s grace.
      const [host, port] = r.front.split(":");
      const hanging = connect(Number(port), host ?? "127.0.0.1");
      hanging.on("error", () => {});
      hanging.write("POST /v2/vectordb/collections/list HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{");
      await new Promise((res) => setTimeout(res, 100));
      r.proc.kill("SIGTERM");
      const deadline = Date.now() + 5000;
      while (!r.out().includes("shutting down")) {
        assert.ok(Date.now() < deadline, "no shutdown message");
        await new Promise((res) => setTimeout(res, 20));
      }
      const t0 = Date.now();
      r.proc.kill("SIGINT");
      assert.equal(await r.exit, 1);
      assert.ok(Date.now() - t0 < 2000, "forced exit is immediate");
      hanging.destroy();
    } finally {
      await t.cleanup();
    }
  });

  it("prints the generated root password once when auth is turned on", async () => {
    const t = await tempDir();
    try {
      const first = await serve(t.dir, [], { STRATA_AUTH__ENABLED: "true" });
      const m = /generated password (\S+) \(shown only this once/.exec(first.out());
      assert.ok(m?.[1] !== undefined, first.out());
      const pw = m[1];
      const url = `http://${first.front}/v2/vectordb/collections/list`;
      assert.equal((await fetch(url, { method: "POST", body: "{}" })).status, 401);
      const ok = await fetch(url, {
        method: "POST",
        body: "{}",
        headers: { authorization: `Bearer root:${pw}` },
      });
      assert.equal(ok.status, 200);
      assert.equal(await stop(first, 10_000), 0);
      const second = await serve(t.dir, [], { STRATA_AUTH__ENABLED: "true" });
      assert.ok(!second.out().includes(pw), "shown only at creation");
      assert.match(second.out(), /auth\s+on/);
      const again = await fetch(`http://${second.front}/v2/vectordb/collections/list`, {
        method: "POST",
        body: "{}",
        headers: { authorization: `Bearer root:${pw}` },
      });
      assert.equal(again.status, 200);
      assert.equal(await stop(second, 10_000), 0);
    } finally {
      await t.cleanup();
    }
  });

  it("rejects a bad config with a clear error and a non-zero exit", async () => {
    for (const [args, re] of [
      [["--metrics-port", "notaport"], /ConfigInvalid: server.metricsPort: expected a number/],
      [["--log-format", "xml"], /ConfigInvalid: log.format must be one of json, pretty/],
      [["--log-level", "loud"], /ConfigInvalid: log.level must be one of trace, debug/],
      [["--nope"], /Unknown option '--nope'/],
    ] as const) {
      const p = spawn(process.execPath, [bin, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      p.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      const code = await new Promise<number | null>((resolve) => p.on("exit", (c) => resolve(c)));
      assert.equal(code, 1, err);
      assert.match(err, re);
    }
  });

  it("prints the version, and refuses an unknown command with exit 2", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const p = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        p.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        p.stderr.on("data", (d: Buffer) => {
          err += d.toString();
        });
        p.on("exit", (code) => resolve({ code, out, err }));
      });
    const v = await run(["version"]);
    assert.equal(v.code, 0);
    assert.match(v.out, /^\d+\.\d+\.\d+\n$/);
    const u = await run(["frobnicate"]);
    assert.equal(u.code, 2);
    assert.match(u.err, /unknown command "frobnicate"/);
  });
});

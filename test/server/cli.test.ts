import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/env.ts";

const bin = fileURLToPath(new URL("../../bin/strata.mjs", import.meta.url));

describe("strata serve (the README's run command)", () => {
  it("starts on a fresh data dir, answers /healthz, stops cleanly on SIGTERM, and restarts on the same dir", async () => {
    const t = await tempDir();
    try {
      for (let round = 0; round < 2; round++) {
        const p = spawn(process.execPath, [bin, "serve", "--data-dir", t.dir, "--metrics-port", "0"], {
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, STRATA_LOG__LEVEL: "warn" },
        });
        let out = "";
        let err = "";
        p.stderr.on("data", (d: Buffer) => {
          err += d.toString();
        });
        const url = await new Promise<string>((resolve, reject) => {
          p.stdout.on("data", (d: Buffer) => {
            out += d.toString();
            const m = /health (http:\/\/\S+\/healthz)/.exec(out);
            if (m?.[1] !== undefined) resolve(m[1]);
          });
          p.on("exit", (code) => reject(new Error(`exited with ${code} before ready: ${out}${err}`)));
        });
        const res = await fetch(url);
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { status: "ok" });
        const code = await new Promise<number | null>((resolve) => {
          p.on("exit", (c) => resolve(c));
          p.kill("SIGTERM");
        });
        assert.equal(code, 0, `round ${round} exit code; stderr: ${err}`);
      }
    } finally {
      await t.cleanup();
    }
  });

  it("rejects a bad config with a clear error and a non-zero exit", async () => {
    const p = spawn(process.execPath, [bin, "serve", "--metrics-port", "notaport"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    p.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => p.on("exit", (c) => resolve(c)));
    assert.equal(code, 1);
    assert.match(err, /ConfigInvalid: server.metricsPort: expected a number/);
  });
});

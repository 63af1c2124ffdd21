import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { defaultConfig, loadConfig } from "../../src/common/config.ts";
import { isStrataError } from "../../src/common/errors.ts";
import { tempDir } from "../helpers/env.ts";

describe("config", () => {
  it("defaults to embedded backends under ./strata-data", () => {
    const c = loadConfig({ env: {} });
    assert.deepEqual(c, defaultConfig());
    assert.equal(c.mq.backend, "embedded");
    assert.equal(c.kv.backend, "embedded");
    assert.equal(c.objectstore.backend, "local");
    assert.equal(c.server.port, 19530);
  });

  it("layers defaults, file, env and overrides in that order", async () => {
    const t = await tempDir();
    try {
      const file = join(t.dir, "strata.yaml");
      await writeFile(
        file,
        "dataDir: /from/file\nmq:\n  backend: nats\n  nats:\n    servers: [nats://a:1, nats://b:2]\nserver:\n  port: 1000\n",
      );
      const c = loadConfig({
        file,
        env: {
          STRATA_SERVER__PORT: "2000",
          STRATA_KV__BACKEND: "etcd",
          STRATA_TEST_NATS: "ignored",
          HOME: "/x",
        },
        overrides: { kv: { rootPath: "over" } },
      });
      assert.equal(c.dataDir, "/from/file");
      assert.equal(c.mq.backend, "nats");
      assert.deepEqual(c.mq.nats.servers, ["nats://a:1", "nats://b:2"]);
      assert.equal(c.server.port, 2000);
      assert.equal(c.kv.backend, "etcd");
      assert.equal(c.kv.rootPath, "over");
      const e = loadConfig({
        env: { STRATA_DATA_DIR: "/env", STRATA_MQ__NATS__SERVERS: "nats://x:1,nats://y:2" },
      });
      assert.equal(e.dataDir, "/env");
      assert.deepEqual(e.mq.nats.servers, ["nats://x:1", "nats://y:2"]);
    } finally {
      await t.cleanup();
    }
  });

  it("rejects unknown keys, bad types and bad enum values with ConfigInvalid", async () => {
    const bad = (overrides: Record<string, unknown>, re: RegExp) =>
      assert.throws(
        () => loadConfig({ env: {}, overrides }),
        (e: unknown) => isStrataError(e, "ConfigInvalid") && re.test(e.message),
      );
    bad({ nope: 1 }, /unknown config key nope/);
    bad({ mq: { backend: "kafka" } }, /mq.backend must be one of/);
    bad({ server: { port: "abc" } }, /server.port: expected a number/);
    bad({ server: { port: 70000 } }, /port number/);
    bad({ objectstore: { s3: { forcePathStyle: "maybe" } } }, /true or false/);
    assert.throws(
      () => loadConfig({ env: { STRATA_SERVER__PORT: "x" } }),
      (e: unknown) => isStrataError(e, "ConfigInvalid"),
    );
    const t = await tempDir();
    try {
      const file = join(t.dir, "bad.yaml");
      await writeFile(file, "mq: [unclosed\n");
      assert.throws(
        () => loadConfig({ file, env: {} }),
        (e: unknown) => isStrataError(e, "ConfigInvalid"),
      );
      assert.throws(
        () => loadConfig({ file: join(t.dir, "missing.yaml"), env: {} }),
        (e: unknown) => isStrataError(e, "ConfigInvalid") && /cannot read/.test(e.message),
      );
    } finally {
      await t.cleanup();
    }
  });
  it("has auth off and JSON logs by default, and takes auth and log.format from file, env and overrides", async () => {
    const d = loadConfig({ env: {} });
    assert.deepEqual(d.auth, { enabled: false, rootPassword: "" });
    assert.equal(d.log.format, "json");
    const t = await tempDir();
    try {
      const file = join(t.dir, "strata.yaml");
      await writeFile(file, "auth:\n  enabled: true\n  rootPassword: fromfile1\nlog:\n  format: pretty\n");
      const f = loadConfig({ file, env: {} });
      assert.deepEqual(f.auth, { enabled: true, rootPassword: "fromfile1" });
      assert.equal(f.log.format, "pretty");
      const e = loadConfig({
        file,
        env: {
          STRATA_AUTH__ENABLED: "false",
          STRATA_AUTH__ROOT_PASSWORD: "fromenv12",
          STRATA_LOG__FORMAT: "json",
        },
      });
      assert.deepEqual(e.auth, { enabled: false, rootPassword: "fromenv12" });
      assert.equal(e.log.format, "json");
      const o = loadConfig({ env: {}, overrides: { auth: { enabled: "1" }, log: { format: "pretty" } } });
      assert.equal(o.auth.enabled, true);
      assert.equal(o.log.format, "pretty");
    } finally {
      await t.cleanup();
    }
  });

  it("rejects a bad log.format or level, a non-boolean auth.enabled and a root password of the wrong length", () => {
    const bad = (overrides: Record<string, unknown>, re: RegExp) =>
      assert.throws(
        () => loadConfig({ env: {}, overrides }),
        (e: unknown) => isStrataError(e, "ConfigInvalid") && re.test(e.message),
      );
    bad({ log: { format: "xml" } }, /log.format must be one of json, pretty/);
    bad(
      { log: { level: "loud" } },
      /log.level must be one of trace, debug, info, warn, error, fatal, silent/,
    );
    bad({ auth: { enabled: "yes" } }, /auth.enabled: expected true or false/);
    bad({ auth: { rootPassword: "short" } }, /auth.rootPassword must be 6 to 256 characters/);
    bad({ auth: { rootPassword: "x".repeat(257) } }, /auth.rootPassword must be 6 to 256 characters/);
    bad({ auth: { user: "root" } }, /unknown config key auth.user/);
    // The message names the length, never the password itself.
    assert.throws(
      () => loadConfig({ env: {}, overrides: { auth: { rootPassword: "s3cr" } } }),
      (e: unknown) => isStrataError(e, "ConfigInvalid") && !e.message.includes("s3cr"),
    );
    assert.equal(
      loadConfig({ env: {}, overrides: { auth: { rootPassword: "Milvus" } } }).auth.rootPassword,
      "Milvus",
    );
  });
});

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { AuthService, type AuthServiceOptions } from "../../../src/api/auth/index.ts";
import { type ErrorCode, isStrataError } from "../../../src/common/errors.ts";
import { type Logger, silentLogger } from "../../../src/common/log.ts";
import { openEmbeddedKv, openEtcdKv } from "../../../src/kv/index.ts";
import type { MetaKv } from "../../../src/kv/types.ts";
import { etcdServer, tempDir, uniqueName } from "../../helpers/env.ts";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** A logger that keeps every entry, to check what was logged and at which level. */
function recordingLogger(): { logger: Logger; entries: { level: number; msg: string }[] } {
  const entries: { level: number; msg: string }[] = [];
  const logger: Logger = pino(
    { level: "info" },
    {
      write(line: string) {
        entries.push(JSON.parse(line) as { level: number; msg: string });
      },
    },
  );
  return { logger, entries };
}

/** Counts meta-store reads: a cached verification reads nothing. */
function countingKv(kv: MetaKv): { kv: MetaKv; gets: () => number } {
  let gets = 0;
  const wrapped: MetaKv = {
    get: (key) => {
      gets++;
      return kv.get(key);
    },
    getPrefix: (p, o) => kv.getPrefix(p, o),
    put: (k, v, o) => kv.put(k, v, o),
    delete: (k) => kv.delete(k),
    deletePrefix: (p) => kv.deletePrefix(p),
    txn: (r) => kv.txn(r),
    watch: (p, f, o) => kv.watch(p, f, o),
    grantLease: (t) => kv.grantLease(t),
    keepAlive: (l) => kv.keepAlive(l),
    revokeLease: (l) => kv.revokeLease(l),
    revision: () => kv.revision(),
    close: () => kv.close(),
  };
  return { kv: wrapped, gets: () => gets };
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStrataError(e, code), `expected ${code}, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

/** Opens a store, runs `f` with it, closes it: one "start" of a server on that data dir. */
async function withKv<T>(open: () => Promise<MetaKv>, f: (kv: MetaKv) => Promise<T>): Promise<T> {
  const kv = await open();
  try {
    return await f(kv);
  } finally {
    await kv.close();
  }
}

function openAuth(kv: MetaKv, o: Partial<AuthServiceOptions> = {}): Promise<AuthService> {
  return AuthService.open({ kv, enabled: true, logger: silentLogger(), ...o });
}

function restartSuite(name: string, skip: string | false, open: () => Promise<MetaKv>) {
  describe(`auth: root bootstrap across restarts (${name})`, { skip }, () => {
    it("creates root with auth.rootPassword at the first start and never resets it", async () => {
      await withKv(open, async (kv) => {
        const auth = await openAuth(kv, { rootPassword: "first-pass" });
        assert.equal(auth.initialRootPassword, undefined);
        assert.equal(await auth.authenticateGrpc(b64("root:first-pass")), "root");
        assert.deepEqual(await auth.listUsers(), ["root"]);
      });
      await withKv(open, async (kv) => {
        // A different configured password later does not touch the stored one.
        const auth = await openAuth(kv, { rootPassword: "second-pass" });
        assert.equal(await auth.authenticateGrpc(b64("root:first-pass")), "root");
        await rejectsWith(auth.authenticateGrpc(b64("root:second-pass")), "AuthenticationFailed", /wrong/);
      });
    });
  });
}

describe("auth: users in the meta store", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });
  const embedded = async () => {
    const t = await tempDir();
    cleanups.push(t.cleanup);
    return () => openEmbeddedKv({ dir: t.dir });
  };

  it("generates a root password when none is configured, logs it once at warn, and keeps it on restart", async () => {
    const open = await embedded();
    const first = recordingLogger();
    const generated = await withKv(open, async (kv) => {
      const auth = await openAuth(kv, { logger: first.logger });
      const pw = auth.initialRootPassword;
      assert.ok(pw !== undefined && pw.length >= 16);
      assert.equal(await auth.authenticateHttp(`Bearer root:${pw}`), "root");
      return pw;
    });
    const warned = first.entries.filter((e) => e.level === 40);
    assert.equal(warned.length, 1);
    assert.ok(warned[0]?.msg.includes(generated));
    assert.match(warned[0]?.msg ?? "", /shown only this once/);

    const second = recordingLogger();
    await withKv(open, async (kv) => {
      const auth = await openAuth(kv, { logger: second.logger });
      assert.equal(auth.initialRootPassword, undefined);
      assert.equal(await auth.authenticateGrpc(b64(`root:${generated}`)), "root");
    });
    assert.ok(!second.entries.some((e) => e.msg.includes(generated)), "the password is logged only once");
  });

  it("refuses wrong, unknown, missing and malformed credentials with AuthenticationFailed", async () => {
    await withKv(await embedded(), async (kv) => {
      const auth = await openAuth(kv, { rootPassword: "Milvus" });
      await rejectsWith(auth.authenticateGrpc(b64("root:milvus")), "AuthenticationFailed", /"root".*wrong/);
      await rejectsWith(
        auth.authenticateGrpc(b64("nobody:Milvus")),
        "AuthenticationFailed",
        /"nobody".*wrong/,
      );
      await rejectsWith(
        auth.authenticateGrpc(undefined),
        "AuthenticationFailed",
        /authentication is required/,
      );
      await rejectsWith(auth.authenticateGrpc(""), "AuthenticationFailed", /authentication is required/);
      await rejectsWith(
        auth.authenticateHttp(undefined),
        "AuthenticationFailed",
        /authentication is required/,
      );
      await rejectsWith(auth.authenticateGrpc(b64("no-colon-token")), "AuthenticationFailed", /malformed/);
      await rejectsWith(auth.authenticateHttp("Bearer"), "AuthenticationFailed", /malformed/);
      await rejectsWith(auth.authenticateHttp("Digest root:Milvus"), "AuthenticationFailed", /not supported/);
      await rejectsWith(
        auth.authenticateHttp(`Basic ${b64("root:nope12")}`),
        "AuthenticationFailed",
        /wrong/,
      );
    });
  });

  it("accepts the SDKs' token and user/password forms on gRPC and HTTP", async () => {
    await withKv(await embedded(), async (kv) => {
      const auth = await openAuth(kv, { rootPassword: "Milvus" });
      await auth.createUser("alice", "pa:ss:word");
      // gRPC: MilvusClient({token}) and MilvusClient({username, password}) both send base64("user:password").
      assert.equal(await auth.authenticateGrpc(b64("root:Milvus")), "root");
      assert.equal(await auth.authenticateGrpc(b64("alice:pa:ss:word")), "alice");
      assert.equal(await auth.authenticateGrpc("alice:pa:ss:word"), "alice");
      // HTTP: HttpClient sends "Bearer <token | user:password>"; curl users send Basic.
      assert.equal(await auth.authenticateHttp("Bearer root:Milvus"), "root");
      assert.equal(await auth.authenticateHttp("bearer alice:pa:ss:word"), "alice");
      assert.equal(await auth.authenticateHttp(`Bearer ${b64("alice:pa:ss:word")}`), "alice");
      assert.equal(await auth.authenticateHttp(`Basic ${b64("alice:pa:ss:word")}`), "alice");
      await rejectsWith(auth.authenticateHttp("Bearer alice:pa:ss:wor"), "AuthenticationFailed", /wrong/);
    });
  });

  it("passes every request when disabled and creates no user", async () => {
    await withKv(await embedded(), async (kv) => {
      const auth = await AuthService.open({
        kv,
        enabled: false,
        rootPassword: "Milvus",
        logger: silentLogger(),
      });
      assert.equal(auth.enabled, false);
      assert.equal(await auth.authenticateGrpc(undefined), "root");
      assert.equal(await auth.authenticateGrpc(b64("root:wrong-password")), "root");
      assert.equal(await auth.authenticateHttp("Digest garbage"), "root");
      assert.deepEqual(await auth.listUsers(), []);
    });
  });

  it("caches successful checks briefly, and forgets them at once on a password change or deletion", async () => {
    await withKv(await embedded(), async (base) => {
      const { kv, gets } = countingKv(base);
      let now = 1_000_000;
      const auth = await openAuth(kv, { rootPassword: "Milvus", cacheTtlMs: 5000, now: () => now });
      await auth.createUser("bob", "bob-pass-1");
      const before = gets();
      // A burst with new credentials costs one verification.
      const burst = await Promise.all(
        Array.from({ length: 8 }, () => auth.authenticateGrpc(b64("bob:bob-pass-1"))),
      );
      assert.deepEqual(new Set(burst), new Set(["bob"]));
      assert.equal(gets() - before, 1);
      await auth.authenticateHttp("Bearer bob:bob-pass-1"); // same credentials, other door: cached
      assert.equal(gets() - before, 1);
      now += 5001;
      await auth.authenticateGrpc(b64("bob:bob-pass-1"));
      assert.equal(gets() - before, 2, "expired entries are verified again");
      // Failures are never cached: each wrong attempt pays a verification.
      await rejectsWith(auth.authenticateGrpc(b64("bob:bob-pass-x")), "AuthenticationFailed", /wrong/);
      await rejectsWith(auth.authenticateGrpc(b64("bob:bob-pass-x")), "AuthenticationFailed", /wrong/);
      assert.equal(gets() - before, 4);

      await rejectsWith(
        auth.updatePassword("bob", "bob-pass-2", { oldPassword: "not-it" }),
        "AuthenticationFailed",
        /old password/,
      );
      await auth.updatePassword("bob", "bob-pass-2", { oldPassword: "bob-pass-1" });
      await rejectsWith(auth.authenticateGrpc(b64("bob:bob-pass-1")), "AuthenticationFailed", /wrong/);
      assert.equal(await auth.authenticateGrpc(b64("bob:bob-pass-2")), "bob");
      await auth.deleteUser("bob");
      await rejectsWith(auth.authenticateGrpc(b64("bob:bob-pass-2")), "AuthenticationFailed", /wrong/);
    });
  });

  it("manages users with validation: names, password length, duplicates, root protected", async () => {
    await withKv(await embedded(), async (kv) => {
      const auth = await openAuth(kv, { rootPassword: "Milvus" });
      await auth.createUser("zed", "zed-password");
      await auth.createUser("amy_2", "amy-password");
      assert.deepEqual(await auth.listUsers(), ["amy_2", "root", "zed"]);
      await rejectsWith(auth.createUser("zed", "other-password"), "ParameterInvalid", /already exists/);
      await rejectsWith(auth.createUser("9lives", "password"), "ParameterInvalid", /invalid user name/);
      await rejectsWith(auth.createUser("a:b", "password"), "ParameterInvalid", /invalid user name/);
      await rejectsWith(auth.createUser("x".repeat(33), "password"), "ParameterInvalid", /invalid user name/);
      await rejectsWith(auth.createUser("shorty", "12345"), "ParameterInvalid", /6 to 256 characters/);
      await rejectsWith(auth.updatePassword("ghost", "password"), "ParameterInvalid", /does not exist/);
      await rejectsWith(auth.updatePassword("zed", "short"), "ParameterInvalid", /6 to 256/);
      await rejectsWith(auth.deleteUser("root"), "ParameterInvalid", /cannot be deleted/);
      await rejectsWith(auth.deleteUser("ghost"), "ParameterInvalid", /does not exist/);
      assert.deepEqual(await auth.listUsers(), ["amy_2", "root", "zed"], "failed calls changed nothing");
      await auth.updatePassword("zed", "zed-password-2");
      assert.equal(await auth.verify("zed", "zed-password-2"), true);
      assert.equal(await auth.verify("zed", "zed-password"), false);
      await rejectsWith(
        AuthService.open({ kv, enabled: true, rootPassword: "tiny", logger: silentLogger() }),
        "ParameterInvalid",
        /6 to 256/,
      );
    });
  });

  it("stores only salted scrypt hashes, never the password", async () => {
    await withKv(await embedded(), async (kv) => {
      const auth = await openAuth(kv, { rootPassword: "plain-secret" });
      await auth.createUser("eve", "plain-secret");
      const root = await kv.get("auth/user/root");
      const eve = await kv.get("auth/user/eve");
      assert.ok(root !== undefined && eve !== undefined);
      const r = JSON.parse(Buffer.from(root.value).toString("utf8")) as {
        algo: string;
        hash: string;
        salt: string;
      };
      const e = JSON.parse(Buffer.from(eve.value).toString("utf8")) as { hash: string; salt: string };
      assert.equal(r.algo, "scrypt");
      assert.ok(!Buffer.from(root.value).toString("utf8").includes("plain-secret"));
      assert.notEqual(r.salt, e.salt);
      assert.notEqual(r.hash, e.hash, "same password, different salts, different hashes");
    });
  });
});

const etcd = etcdServer();
const etcdPrefix = `${uniqueName("auth")}/`;
let embeddedDir: Promise<{ dir: string; cleanup: () => Promise<void> }> | undefined;
restartSuite("embedded", false, async () => {
  embeddedDir ??= tempDir();
  return openEmbeddedKv({ dir: (await embeddedDir).dir });
});
after(async () => (await embeddedDir)?.cleanup());
restartSuite("etcd", etcd.skip, () => openEtcdKv({ endpoints: etcd.value ?? [], prefix: etcdPrefix }));
after(async () => {
  if (etcd.value === undefined) return;
  const kv = await openEtcdKv({ endpoints: etcd.value, prefix: etcdPrefix });
  await kv.deletePrefix("");
  await kv.close();
});

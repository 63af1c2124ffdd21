import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { openLocalObjectStore } from "../../src/objectstore/index.ts";
import { tempDir } from "../helpers/env.ts";
import { BAD_KEYS, objectStoreContract, rejectsWith } from "./contract.ts";

objectStoreContract("local filesystem", {
  fresh: async () => {
    const t = await tempDir("strata-os-local-");
    const root = join(t.dir, "root");
    return { open: () => openLocalObjectStore({ root }), cleanup: t.cleanup };
  },
});

/** Every path under `dir`, relative, directories with a trailing '/'. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const rel = join(e.parentPath, e.name).slice(dir.length + 1);
    out.push(e.isDirectory() ? `${rel}/` : rel);
  }
  return out.sort();
}

const CHILD = fileURLToPath(new URL("./crash-put-child.ts", import.meta.url));
const SIZE = 48 * 1024 * 1024;

/** The object at the key must be one whole version: SIZE bytes, all equal to the version byte. */
function assertWholeVersion(b: Uint8Array, what: string): number {
  assert.equal(b.byteLength, SIZE, `${what}: whole length`);
  const v = b[0]!;
  assert.equal(
    b.findIndex((x) => x !== v),
    -1,
    `${what}: one version throughout`,
  );
  return v;
}

describe("local object store: crash safety and containment", () => {
  it("a put killed mid-write (SIGKILL) leaves the old object or the new one, whole; temp files are ignored, then cleaned on open", async () => {
    const t = await tempDir("strata-os-crash-");
    try {
      const root = join(t.dir, "root");
      const key = "insert_log/1/2/3/100/7";
      const keyPath = join(root, ...key.split("/"));
      const seen = await openLocalObjectStore({ root });
      await seen.put(key, new Uint8Array(SIZE).fill(1));
      let leftovers = 0;
      // Kill points: as soon as the temp file exists, once it is partly written, and after a few
      // complete puts at a random moment.
      for (const [round, mode] of (["on-create", "mid-write", "later"] as const).entries()) {
        const child: ChildProcess = spawn(
          process.execPath,
          ["--import", "tsx", CHILD, root, key, String(SIZE)],
          {
            stdio: ["ignore", "pipe", "inherit"],
          },
        );
        let puts = 0;
        child.stdout?.on("data", (d: Buffer) => {
          puts += d
            .toString()
            .split("\n")
            .filter((l) => l.startsWith("put ")).length;
        });
        const dir = join(root, "insert_log/1/2/3/100");
        const deadline = Date.now() + 20_000;
        for (;;) {
          assert.ok(Date.now() < deadline, `round ${round}: child never started a put`);
          const temps = (await readdir(dir)).filter((n) => n.includes("\\"));
          if (temps.length > 0) {
            if (mode === "on-create") break;
            const size = await stat(join(dir, temps[0]!)).then(
              (st) => st.size,
              () => 0,
            );
            if (mode === "mid-write" && size > 0 && size < SIZE) break;
            if (mode === "later" && puts >= 2 && Math.random() < 0.2) break;
          }
          await sleep(1);
        }
        child.kill("SIGKILL");
        await once(child, "exit");

        // The key holds one whole version, read raw and through an already-open store.
        assertWholeVersion(await readFile(keyPath), `round ${round} raw`);
        assertWholeVersion(await seen.get(key), `round ${round} via store`);
        assert.deepEqual(await seen.stat(key), { key, size: SIZE });
        assert.deepEqual(
          (await seen.list("")).map((o) => o.key),
          [key],
          "temp files never show up in list",
        );
        const before = (await readdir(dir)).filter((n) => n.includes("\\"));
        leftovers += before.length;

        const reopened = await openLocalObjectStore({ root });
        assert.deepEqual(
          (await readdir(dir)).filter((n) => n.includes("\\")),
          [],
          "open removes temp files of dead writers",
        );
        assertWholeVersion(await reopened.get(key), `round ${round} reopened`);
        await reopened.close();
      }
      // Proves the scenario was exercised: at least one kill really interrupted a put.
      assert.ok(leftovers > 0, "no round left a temp file behind");
      await seen.close();
    } finally {
      await t.cleanup();
    }
  });

  it("open keeps temp files of live writers (another store on the same root) and removes dead ones", async () => {
    const t = await tempDir("strata-os-tmp-");
    try {
      const root = join(t.dir, "root");
      await mkdir(join(root, "d"), { recursive: true });
      const live = join(root, "d", `.put\\${process.pid}-abc`);
      const dead = join(root, "d", ".put\\999999999-abc");
      const odd = join(root, "d", "junk\\name");
      for (const p of [live, dead, odd]) await writeFile(p, "partial");
      const s = await openLocalObjectStore({ root });
      assert.deepEqual(await tree(root), ["d/", `d/.put\\${process.pid}-abc`]);
      assert.deepEqual(await s.list(""), []);
      assert.equal(await s.stat("d"), undefined);
      await s.close();
    } finally {
      await t.cleanup();
    }
  });

  it("bad keys cannot write, read or delete outside the root", async () => {
    const t = await tempDir("strata-os-escape-");
    try {
      const root = join(t.dir, "sandbox", "root");
      await mkdir(join(t.dir, "sandbox", "outside"), { recursive: true });
      await writeFile(join(t.dir, "sandbox", "outside", "secret"), "keep");
      await writeFile(join(t.dir, "sandbox", "secret"), "keep");
      const s = await openLocalObjectStore({ root });
      const before = await tree(t.dir);
      const escapes = [
        ...BAD_KEYS,
        "../secret",
        "../outside/secret",
        "a/../../secret",
        "..\\secret",
        `${t.dir}/sandbox/secret`,
        "/tmp/x",
      ];
      for (const k of escapes) {
        await rejectsWith(s.put(k, new Uint8Array([1])), "ParameterInvalid", `put ${JSON.stringify(k)}`);
        await rejectsWith(s.delete(k), "ParameterInvalid", `delete ${JSON.stringify(k)}`);
        await rejectsWith(s.get(k), "ParameterInvalid", `get ${JSON.stringify(k)}`);
      }
      await rejectsWith(s.list("../"), "ParameterInvalid", "list ../");
      assert.deepEqual(await tree(t.dir), before, "nothing changed anywhere");
      assert.equal(await readFile(join(t.dir, "sandbox", "secret"), "utf8"), "keep");
      assert.deepEqual(await readdir(root), []);
      await s.close();
    } finally {
      await t.cleanup();
    }
  });

  it("a key cannot be both an object and a directory of other keys: ParameterInvalid, nothing changed", async () => {
    const t = await tempDir("strata-os-clash-");
    try {
      const s = await openLocalObjectStore({ root: t.dir });
      await s.put("a/b", new Uint8Array([1]));
      await rejectsWith(s.put("a/b/c", new Uint8Array([2])), "ParameterInvalid", "below an object");
      await rejectsWith(s.put("a/b/c/d", new Uint8Array([2])), "ParameterInvalid", "deeper below");
      await s.put("x/y/z", new Uint8Array([3]));
      await rejectsWith(s.put("x/y", new Uint8Array([4])), "ParameterInvalid", "over a directory");
      assert.deepEqual(await s.list(""), [
        { key: "a/b", size: 1 },
        { key: "x/y/z", size: 1 },
      ]);
      assert.deepEqual(await tree(t.dir), ["a/", "a/b", "x/", "x/y/", "x/y/z"], "no temp files left");
      await s.close();
    } finally {
      await t.cleanup();
    }
  });

  it("delete prunes empty parent directories, and puts racing deletes in the same directory still land", async () => {
    const t = await tempDir("strata-os-prune-");
    try {
      const s = await openLocalObjectStore({ root: t.dir });
      await s.put("p/q/r/k", new Uint8Array([1]));
      await s.put("p/other", new Uint8Array([1]));
      await s.delete("p/q/r/k");
      assert.deepEqual(await tree(t.dir), ["p/", "p/other"]);
      for (let i = 0; i < 200; i++) {
        await s.put(`race/${i % 3}/old`, new Uint8Array([1]));
        await Promise.all([
          s.delete(`race/${i % 3}/old`),
          s.put(`race/${i % 3}/new${i}`, new Uint8Array([2])),
        ]);
        assert.deepEqual([...(await s.get(`race/${i % 3}/new${i}`))], [2], `iteration ${i}`);
        await s.delete(`race/${i % 3}/new${i}`);
      }
      assert.deepEqual(await tree(t.dir), ["p/", "p/other"]);
      await s.close();
    } finally {
      await t.cleanup();
    }
  });

  it("creates a missing root; a root that is a file fails with IoFailed", async () => {
    const t = await tempDir("strata-os-root-");
    try {
      const s = await openLocalObjectStore({ root: join(t.dir, "deep", "er") });
      await s.put("k", new Uint8Array([5]));
      assert.deepEqual([...(await readFile(join(t.dir, "deep", "er", "k")))], [5], "file named by its key");
      await s.close();
      await writeFile(join(t.dir, "file"), "x");
      await rejectsWith(openLocalObjectStore({ root: join(t.dir, "file") }), "IoFailed", "root is a file");
      await rejectsWith(openLocalObjectStore({ root: "" }), "ConfigInvalid", "empty root");
    } finally {
      await t.cleanup();
    }
  });
});

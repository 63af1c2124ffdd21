import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Strata } from "../../src/api/embedded.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { exactTopK, floatScorer, recallAtK } from "../index/ann-data.ts";
import { INDEX_CRASH } from "./index-crash-data.ts";

const child = fileURLToPath(new URL("./index-crash-child.ts", import.meta.url));

/** Runs the child until it reports a build in progress, waits `delayMs`, SIGKILLs it; returns what was building. */
async function killMidBuild(dir: string, delayMs: number): Promise<string[]> {
  const p = spawn(process.execPath, ["--import", "tsx", child, dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => p.on("exit", () => resolve()));
  let building: string[] = [];
  try {
    for await (const line of createInterface({ input: p.stdout })) {
      if (line.startsWith("building ")) {
        building = line.slice("building ".length).split(" ");
        break;
      }
    }
    assert.ok(building.length > 0, "the child reported a build in progress");
    await new Promise((r) => setTimeout(r, delayMs));
  } finally {
    p.kill("SIGKILL");
    await exited;
  }
  return building;
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    let ents: import("node:fs").Dirent[];
    try {
      ents = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (e.isDirectory()) await walk(join(d, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  await walk(dir, "");
  return out.sort();
}

describe("index builds survive SIGKILL", () => {
  it("a build killed mid-way twice is resumed, finishes, and leaves no orphan files", async () => {
    const t = await tempDir();
    const seed = 5150;
    const r = rng(seed);
    try {
      const killed: string[] = [];
      for (let round = 0; round < 2; round++) {
        killed.push(...(await killMidBuild(t.dir, 100 + Math.floor(r() * 900))));
      }
      const db = await Strata.open({ dataDir: t.dir });
      try {
        const name = INDEX_CRASH.name;
        const end = Date.now() + 90_000;
        for (;;) {
          const [info] = await db.describeIndex(name);
          if (info?.state === "Finished" && info.indexedRows === INDEX_CRASH.count) break;
          assert.notEqual(info?.state, "Failed", info?.failReason);
          assert.ok(Date.now() < end, `seed ${seed}: index never finished`);
          await new Promise((res) => setTimeout(res, 100));
        }
        const coll = await db.describeCollection(name);
        const { builds } = await db.internals.dataservice.describeIndexBuilds(coll.collectionId);
        // Every build killed while in progress was handed out again.
        for (const k of killed) {
          const [id, version] = k.split("/");
          const b = builds.find((x) => String(x.buildId) === id);
          assert.ok(b !== undefined && b.version > Number(version), `seed ${seed}: build ${k} re-issued`);
        }
        // Exactly the finished files are stored, and no build scratch is left.
        const stored = (await files(join(t.dir, "objects", "index_files"))).map((f) => `index_files/${f}`);
        assert.deepEqual(stored, builds.map((b) => b.fileKey).sort(), `seed ${seed}: orphan index files`);
        assert.deepEqual(await files(join(t.dir, "cache", "indexnode-1")), []);
        // And the rebuilt index answers.
        await db.load(name);
        const { vec } = INDEX_CRASH.rows();
        const nq = 20;
        const queries = vec.slice(0, nq * INDEX_CRASH.dim).map((x) => x + 0.01);
        const res = await db.search(name, { data: queries, limit: 10, consistencyLevel: "Strong" });
        const offsets = new Int32Array(nq * 10).fill(-1);
        res.forEach((hits, q) => {
          for (let i = 0; i < hits.length; i++) offsets[q * 10 + i] = Number(hits[i]?.id);
        });
        const want = exactTopK(vec, INDEX_CRASH.dim, queries, nq, "L2", 10);
        const recall = recallAtK(
          { nq, topk: 10, offsets, scores: new Float32Array(nq * 10) },
          want,
          "L2",
          floatScorer(vec, queries, INDEX_CRASH.dim, "L2"),
        );
        assert.ok(recall >= 0.95, `seed ${seed}: recall ${recall}`);
      } finally {
        await db.close();
      }
    } finally {
      await t.cleanup();
    }
  });
});

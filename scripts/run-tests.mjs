#!/usr/bin/env node
// Node 20's `--test` neither expands globs nor finds .ts files, so the file list is built here.
// An empty list is a failure: a green run with zero tests proves nothing.
// The multi-process cluster suites (test/cluster/) each start a whole cluster of OS processes;
// they run after the rest, one file at a time, so two clusters never compete for the 2 cores.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const dirs = args.length > 0 ? args : ["test"];

function collect(path, out) {
  const st = statSync(path);
  if (st.isFile()) {
    if (path.endsWith(".test.ts")) out.push(path);
    return;
  }
  for (const name of readdirSync(path).sort()) collect(join(path, name), out);
}

const files = [];
for (const d of dirs) collect(join(root, d), files);
if (files.length === 0) {
  console.error(`run-tests: no *.test.ts files under ${dirs.join(", ")}`);
  process.exit(1);
}
const isCluster = (f) => relative(root, f).startsWith(`test${sep}cluster${sep}`);
const phases = [
  { files: files.filter((f) => !isCluster(f)), concurrency: process.env.STRATA_TEST_CONCURRENCY ?? "2" },
  { files: files.filter(isCluster), concurrency: "1" },
].filter((p) => p.files.length > 0);
console.log(`run-tests: ${files.length} test files`);
let status = 0;
for (const p of phases) {
  const res = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      "--test-reporter=spec",
      `--test-concurrency=${p.concurrency}`,
      ...p.files.map((f) => relative(root, f)),
    ],
    { cwd: root, stdio: "inherit" },
  );
  if ((res.status ?? 1) !== 0) status = res.status ?? 1;
}
process.exit(status);

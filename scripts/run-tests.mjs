#!/usr/bin/env node
// Node 20's `--test` neither expands globs nor finds .ts files, so the file list is built here.
// An empty list is a failure: a green run with zero tests proves nothing.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

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
console.log(`run-tests: ${files.length} test files`);
const res = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    `--test-concurrency=${process.env.STRATA_TEST_CONCURRENCY ?? "2"}`,
    ...files.map((f) => relative(root, f)),
  ],
  { cwd: root, stdio: "inherit" },
);
process.exit(res.status ?? 1);

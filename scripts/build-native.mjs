#!/usr/bin/env node
// Builds the optional HNSW filter addon (native/hnsw-filter) with the node-gyp that npm bundles,
// offline: the Node headers come from this Node's install prefix (or /usr), the usearch headers from
// node_modules/usearch. The addon is optional, so a missing compiler or a failed build prints one
// warning line and exits 0 (Strata then searches through the usearch binding); with --require it
// exits 1 instead (CI). Output: native/hnsw-filter/build/Release/hnsw_filter.node.
//
//   node scripts/build-native.mjs [--require] [--verbose]
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const addonDir = join(root, "native", "hnsw-filter");
const output = join(addonDir, "build", "Release", "hnsw_filter.node");
const required = process.argv.includes("--require");
const verbose = process.argv.includes("--verbose");

function giveUp(reason, log) {
  if (log && (required || verbose)) console.error(log.trimEnd().split("\n").slice(-40).join("\n"));
  if (required) {
    console.error(`build-native: ${reason}`);
    process.exit(1);
  }
  console.warn(
    `build-native: warning: ${reason}; the HNSW filter addon is not built (filtered HNSW search falls back to the usearch binding)`,
  );
  process.exit(0);
}

function works(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: "ignore", timeout: 20_000 });
  return r.status === 0;
}

// The directory holding include/node/node_api.h: this Node's prefix, else the distribution's.
const prefix = dirname(dirname(process.execPath));
const nodedir = [prefix, "/usr", "/usr/local"].find((d) =>
  existsSync(join(d, "include", "node", "node_api.h")),
);
if (nodedir === undefined) giveUp(`no Node headers (include/node/node_api.h) under ${prefix} or /usr`);

// npm's bundled node-gyp: next to the npm running us, else in the Node prefix.
const npmDirs = [];
if (process.env.npm_execpath) npmDirs.push(dirname(dirname(process.env.npm_execpath)));
npmDirs.push(
  join(prefix, "lib", "node_modules", "npm"),
  "/usr/lib/node_modules/npm",
  "/usr/local/lib/node_modules/npm",
);
const gyp = npmDirs
  .map((d) => join(d, "node_modules", "node-gyp", "bin", "node-gyp.js"))
  .find((p) => existsSync(p));
if (gyp === undefined) giveUp("npm's bundled node-gyp was not found");

const cxx = process.env.CXX ?? "c++";
if (!works(cxx, ["--version"]) && !works("g++", ["--version"]))
  giveUp(`no C++ compiler (${cxx}; apt-get install g++)`);
if (!works("make", ["--version"])) giveUp("no make (apt-get install make)");
if (!works("python3", ["--version"])) giveUp("no python3, which node-gyp needs (apt-get install python3)");

const usearchInclude = join(root, "node_modules", "usearch", "include");
if (!existsSync(join(usearchInclude, "usearch", "index_dense.hpp"))) {
  giveUp(`usearch's C++ headers are missing (${usearchInclude}; run npm install)`);
}

const started = performance.now();
const build = spawnSync(
  process.execPath,
  [gyp, "rebuild", `--nodedir=${nodedir}`, "--", `-Dusearch_include=${usearchInclude}`],
  {
    cwd: addonDir,
    encoding: "utf8",
    timeout: 600_000,
    // Nothing may be downloaded: the headers are local, and npm's registry settings do not matter.
    env: { ...process.env, npm_config_nodedir: nodedir, npm_config_offline: "true" },
  },
);
const log = `${build.stdout ?? ""}${build.stderr ?? ""}`;
if (build.status !== 0) giveUp(`node-gyp failed (${build.error?.message ?? `exit ${build.status}`})`, log);
if (verbose) console.log(log);
if (!existsSync(output)) giveUp(`node-gyp reported success but ${output} is missing`, log);

// Load it in a fresh process: a library that does not load is as good as none. The interface
// version is src/index/hnsw-native.ts' ABI_VERSION.
const check = spawnSync(
  process.execPath,
  ["-e", `const a = require(${JSON.stringify(output)}); if (a.abiVersion !== 3) process.exit(3);`],
  { encoding: "utf8", timeout: 30_000 },
);
if (check.status !== 0)
  giveUp(`the built addon does not load: ${(check.stderr ?? "").trim().split("\n")[0]}`);
console.log(
  `build-native: built ${output.slice(root.length)} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);

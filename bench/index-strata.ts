/**
 * Strata's full indexed search path, embedded: insert → flush → createIndex HNSW → the index node
 * builds in worker threads → load (the query node memory-maps the index files) → search through
 * the proxy with `params.ef`. `buildStrata` ingests, builds, sweeps ef and reopens in its own
 * process; `serveStrata` reopens in a fresh one and times the single-client loop (unfiltered,
 * filtered 10 % with `tag == 3`, raw usearch on the same graph and on its own build, interleaved).
 */
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Strata } from "../src/api/embedded.ts";
import type { IndexInfo } from "../src/proxy/index-types.ts";
import {
  type BenchData,
  EFS,
  HNSW_EFC,
  HNSW_M,
  interleaved,
  K,
  log,
  type Metric,
  r1,
  r3,
  rss,
  type SearchFn,
  TAG_MOD,
  TAG_PASS,
  type Timed,
  waitFor,
} from "./index-common.ts";
import { newIndex, rawSearch } from "./index-usearch.ts";

const COLLECTION = "bench";
const BATCH = 10_000;

export interface StrataOptions {
  readonly rounds: number;
  /** ef to time at (the one raw usearch needed for the target recall). */
  readonly ef: number;
  readonly shards: number;
  /** Skip the ef sweep and the filtered/raw comparisons (the million-row load check). */
  readonly loadOnly?: boolean;
  /** Raw usearch's own index file of the same data, timed interleaved with Strata when given. */
  readonly usearchFile?: string;
  /** Give up waiting for describeIndex to report Finished after this long. */
  readonly buildTimeoutMs?: number;
}

function open(dataDir: string, filterCacheBytes?: number): Promise<Strata> {
  return Strata.open({
    dataDir,
    logLevel: "error",
    overrides: {
      // One segment per shard for these sizes (1M × 128 float32 is 0.5 GiB).
      dataservice: { segmentMaxBytes: 2 ** 31 },
      // As many build threads as raw usearch's `add` gets (the default, stated).
      indexnode: { buildThreads: availableParallelism() },
      ...(filterCacheBytes === undefined ? {} : { querynode: { filterCacheBytes } }),
    },
  });
}

function strataSearch(db: Strata, data: BenchData, ef: number, filter?: string): SearchFn {
  return async (qi, out) => {
    const res = await db.search(COLLECTION, {
      data: [data.queries[qi]!],
      limit: K,
      metricType: data.metric,
      params: { ef },
      consistencyLevel: "Eventually",
      ...(filter === undefined ? {} : { filter }),
    });
    const hits = res[0] ?? [];
    for (let i = 0; i < hits.length && i < K; i++) out[qi * K + i] = Number(hits[i]!.id);
  };
}

/** Files under `dir` that end with the Strata index-file trailer magic. */
function indexFiles(dir: string): string[] {
  const found: string[] = [];
  const magic = Buffer.from("STRATAIX", "latin1");
  const tail = Buffer.alloc(8);
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const size = statSync(p).size;
        if (size < 64) continue;
        const fd = openSync(p, "r");
        try {
          readSync(fd, tail, 0, 8, size - 8);
        } finally {
          closeSync(fd);
        }
        if (tail.equals(magic)) found.push(p);
      }
    }
  };
  walk(dir);
  return found;
}

async function describe(db: Strata): Promise<IndexInfo> {
  const infos = await db.describeIndex(COLLECTION);
  const info = infos[0];
  if (info === undefined) throw new Error("describeIndex returned no index");
  return info;
}

async function ingest(
  db: Strata,
  data: { n: number; dim: number; base: Float32Array; metric: Metric },
  shards: number,
  buildTimeoutMs: number,
) {
  await db.createCollection({
    schema: {
      name: COLLECTION,
      fields: [
        { name: "id", dataType: "Int64", isPrimaryKey: true },
        { name: "tag", dataType: "Int64" },
        { name: "v", dataType: "FloatVector", dim: data.dim },
      ],
    },
    shardsNum: shards,
  });
  let t = performance.now();
  for (let from = 0; from < data.n; from += BATCH) {
    const n = Math.min(BATCH, data.n - from);
    const id = BigInt64Array.from({ length: n }, (_, i) => BigInt(from + i));
    await db.insert(COLLECTION, {
      columns: {
        id,
        tag: id.map((x) => x % BigInt(TAG_MOD)),
        v: data.base.subarray(from * data.dim, (from + n) * data.dim),
      },
    });
  }
  const insertS = (performance.now() - t) / 1000;
  t = performance.now();
  const { segmentIds } = await db.flush(COLLECTION);
  const flushS = (performance.now() - t) / 1000;
  log(`  strata: insert ${r1(insertS)} s, flush ${r1(flushS)} s, ${segmentIds.length} segment(s)`);

  t = performance.now();
  await db.createIndex(COLLECTION, {
    fieldName: "v",
    indexType: "HNSW",
    metricType: data.metric,
    params: { M: HNSW_M, efConstruction: HNSW_EFC },
  });
  let lastLog = 0;
  const info = await waitFor("describeIndex state Finished", buildTimeoutMs, async () => {
    const i = await describe(db);
    if (i.state === "Failed") throw new Error(`index build failed: ${i.failReason}`);
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      log(`  strata: index ${i.state} ${i.indexedRows}/${i.totalRows} (pending ${i.pendingRows})`);
    }
    return i.state === "Finished" && i.pendingRows === 0 ? i : undefined;
  });
  const buildS = (performance.now() - t) / 1000;
  log(`  strata: index Finished in ${r1(buildS)} s (${info.indexedRows}/${info.totalRows} rows indexed)`);
  return { insertS, flushS, buildS, segments: segmentIds.length, info };
}

/**
 * load, then one search with the collection's default consistency (what a user's first query
 * gets), timed; then a Strong count(*) (untimed) that must see every row.
 */
async function loadAndFirstSearch(db: Strata, n: number, query: Float32Array, metric: Metric, ef: number) {
  let t = performance.now();
  await db.load(COLLECTION);
  const loadMs = performance.now() - t;
  t = performance.now();
  const res = await db.search(COLLECTION, { data: [query], limit: K, metricType: metric, params: { ef } });
  const firstSearchMs = performance.now() - t;
  if ((res[0]?.length ?? 0) !== Math.min(K, n)) throw new Error("the first search returned too few hits");
  t = performance.now();
  await db.search(COLLECTION, {
    data: [query],
    limit: K,
    metricType: metric,
    params: { ef },
    consistencyLevel: "Strong",
  });
  const strongSearchMs = performance.now() - t;
  const rows = await db.query(COLLECTION, { outputFields: ["count(*)"], consistencyLevel: "Strong" });
  const count = Number(rows[0]?.["count(*)"] ?? -1);
  if (count !== n) throw new Error(`count(*) after load is ${count}, expected ${n}`);
  return { loadMs, firstSearchMs, strongSearchMs };
}

async function reopen(dataDir: string, n: number, query: Float32Array, metric: Metric, ef: number) {
  const t = performance.now();
  const db = await open(dataDir);
  const openMs = performance.now() - t;
  const l = await loadAndFirstSearch(db, n, query, metric, ef);
  return {
    db,
    reopen: {
      openMs: Math.round(openMs),
      loadMs: Math.round(l.loadMs),
      firstSearchMs: r3(l.firstSearchMs),
      totalMs: Math.round(openMs + l.loadMs + l.firstSearchMs),
      strongSearchMs: r3(l.strongSearchMs),
    },
  };
}

/**
 * Ingest, build, load, first answer, ef sweep, and a reopen in this same process; the data
 * directory stays for `serveStrata`.
 */
export async function buildStrata(
  data: BenchData,
  dataDir: string,
  opts: StrataOptions,
): Promise<Record<string, unknown>> {
  let db = await open(dataDir);
  try {
    const ing = await ingest(db, data, opts.shards, opts.buildTimeoutMs ?? 3_600_000);
    const first = await loadAndFirstSearch(db, data.n, data.queries[0]!, data.metric, opts.ef);
    const ingestToSearchableS =
      ing.insertS + ing.flushS + ing.buildS + (first.loadMs + first.firstSearchMs) / 1000;
    log(`  strata: load ${Math.round(first.loadMs)} ms, first search ${r1(first.firstSearchMs)} ms`);
    const sweep: Record<string, unknown>[] = [];
    if (opts.loadOnly !== true) {
      for (const ef of EFS) {
        const s = (
          await interleaved(data.nq, 1, [
            { name: "s", search: strataSearch(db, data, ef), truth: data.truth },
          ])
        ).s!;
        sweep.push({ ef, recall: s.recall, qps: s.qps });
        log(`  strata: ef ${ef} recall ${s.recall} QPS ${s.qps}`);
      }
    }
    await db.close();
    const r = await reopen(dataDir, data.n, data.queries[1 % data.nq]!, data.metric, opts.ef);
    db = r.db;
    log(`  strata: reopen in the same process ${JSON.stringify(r.reopen)}`);
    return {
      shards: opts.shards,
      segments: ing.segments,
      indexState: ing.info.state,
      indexedRows: ing.info.indexedRows,
      M: HNSW_M,
      efConstruction: HNSW_EFC,
      insertS: r1(ing.insertS),
      flushS: r1(ing.flushS),
      buildS: r1(ing.buildS),
      loadMs: Math.round(first.loadMs),
      firstSearchMs: r3(first.firstSearchMs),
      ingestToSearchableS: r1(ingestToSearchableS),
      reopenSameProcess: r.reopen,
      ...(opts.loadOnly === true ? {} : { sweep }),
      peakRssBuildMiB: rss().peakRssMiB,
    };
  } finally {
    await db.close().catch(() => undefined);
  }
}

/**
 * In a fresh process: open the data directory, load, first answer (the restart case), then the
 * single-client loop unfiltered, filtered 10 %, raw usearch viewing Strata's own index file (the
 * same graph, so that ratio isolates the search path) when the collection is one segment, and raw
 * usearch's own build when given, all interleaved round by round so machine noise hits them alike.
 */
export async function serveStrata(
  data: BenchData,
  dataDir: string,
  opts: StrataOptions,
): Promise<Record<string, unknown>> {
  const rss0 = rss();
  const r = await reopen(dataDir, data.n, data.queries[0]!, data.metric, opts.ef);
  const db = r.db;
  try {
    log(`  strata: reopen in a fresh process ${JSON.stringify(r.reopen)}`);
    const searchers: Timed[] = [
      { name: "strata", search: strataSearch(db, data, opts.ef), truth: data.truth },
    ];
    if (opts.loadOnly === true) {
      const s = await interleaved(data.nq, opts.rounds, searchers);
      return { reopen: r.reopen, ef: opts.ef, ...s.strata, rssServingMiB: r1(rss().rssMiB - rss0.rssMiB) };
    }
    // Serving footprint: reopened, loaded and warmed, before anything else is mapped here.
    await interleaved(Math.min(data.nq, 200), 1, searchers);
    const rssServing = rss();
    searchers.push({
      name: "filtered10",
      search: strataSearch(db, data, opts.ef, `tag == ${TAG_PASS}`),
      truth: data.truthFiltered,
    });
    const files = indexFiles(join(dataDir, "objects"));
    if (files.length === 1) {
      const same = newIndex(data.dim, data.metric, opts.ef);
      same.view(files[0]!);
      if (same.size() === data.n)
        searchers.push({ name: "rawSameGraph", search: rawSearch(same, data.queries), truth: data.truth });
    }
    if (opts.usearchFile !== undefined) {
      const own = newIndex(data.dim, data.metric, opts.ef);
      own.view(opts.usearchFile);
      searchers.push({ name: "rawUsearch", search: rawSearch(own, data.queries), truth: data.truth });
    }
    const s = await interleaved(data.nq, opts.rounds, searchers);
    log(`  strata: ef ${opts.ef}: ${JSON.stringify(s)}`);
    // The same filtered loop with the query node's filter cache off: every search evaluates
    // `tag == 3` over the segment again (a filter seen for the first time), against unfiltered.
    await db.close();
    const cold = await open(dataDir, 0);
    let uncached: Record<string, unknown> | undefined;
    try {
      await cold.load(COLLECTION);
      const u = await interleaved(data.nq, Math.min(opts.rounds, 3), [
        { name: "strata", search: strataSearch(cold, data, opts.ef), truth: data.truth },
        {
          name: "filtered10",
          search: strataSearch(cold, data, opts.ef, `tag == ${TAG_PASS}`),
          truth: data.truthFiltered,
        },
      ]);
      uncached = { ...u.filtered10, unfilteredQps: u.strata?.qps };
      log(`  strata: filter cache off: ${JSON.stringify(u)}`);
    } finally {
      await cold.close();
    }
    return {
      reopen: r.reopen,
      indexFiles: files.length,
      ef: opts.ef,
      ...s.strata,
      filtered10: s.filtered10,
      filtered10Uncached: uncached,
      ...(s.rawSameGraph === undefined ? {} : { rawSameGraph: s.rawSameGraph }),
      ...(s.rawUsearch === undefined ? {} : { rawUsearchInterleaved: s.rawUsearch }),
      rssServingMiB: r1(rssServing.rssMiB - rss0.rssMiB),
      peakRssServeMiB: rss().peakRssMiB,
    };
  } finally {
    await db.close();
  }
}

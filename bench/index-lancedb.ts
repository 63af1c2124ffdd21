/**
 * LanceDB embedded (`@lancedb/lancedb`) on the bench data: a table built from Arrow record
 * batches (no per-row objects), a vector index (IVF_HNSW_SQ by default: one partition, HNSW
 * M 16 / efConstruction 200 over 8-bit scalar-quantised vectors, the closest match to Strata's
 * HNSW; or IVF_PQ), tuned over ef (or nprobes) and refineFactor to the smallest setting reaching
 * the target recall, then timed single-client, unfiltered and with `tag = 3` (10 %).
 */
import { createRequire } from "node:module";
import { join } from "node:path";
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
  TARGET_RECALL,
} from "./index-common.ts";

/**
 * The part of LanceDB's API this bench uses. LanceDB is not a dependency of the project (its
 * optional dependencies cannot be locked on every platform, which breaks `npm ci`); install it
 * for the bench with `npm install --no-save @lancedb/lancedb` and it is loaded at run time.
 */
interface LanceQuery {
  distanceType(d: string): LanceQuery;
  select(cols: string[]): LanceQuery;
  limit(k: number): LanceQuery;
  ef(ef: number): LanceQuery;
  nprobes(n: number): LanceQuery;
  refineFactor(f: number): LanceQuery;
  where(filter: string): LanceQuery;
  toArray(): Promise<unknown[]>;
}
interface LanceTable {
  vectorSearch(v: Float32Array): LanceQuery;
  createIndex(column: string, opts: { config: unknown }): Promise<void>;
  close(): void;
}
interface LanceConnection {
  createTable(name: string, data: unknown): Promise<LanceTable>;
  openTable(name: string): Promise<LanceTable>;
  close(): void;
}
interface LanceModule {
  connect(uri: string): Promise<LanceConnection>;
  Index: {
    hnswSq(o: Record<string, unknown>): unknown;
    ivfPq(o: Record<string, unknown>): unknown;
    bitmap(): unknown;
  };
}

/** LanceDB when installed, else the reason it is not. */
export async function loadLancedb(): Promise<LanceModule | string> {
  const name = "@lancedb/lancedb";
  try {
    return (await import(name)) as LanceModule;
  } catch {
    return "LanceDB is not installed: run `npm install --no-save @lancedb/lancedb` first";
  }
}

async function lance(): Promise<LanceModule> {
  const m = await loadLancedb();
  if (typeof m === "string") throw new Error(m);
  return m;
}

// LanceDB is CommonJS and `instanceof`-checks Arrow objects against the CommonJS build of
// apache-arrow; an ESM import here would get the ESM build (a second copy of every class), whose
// tables LanceDB re-serialises into IPC its Rust side rejects. So take the same copy it does.
const arrow = createRequire(import.meta.url)("apache-arrow") as typeof import("apache-arrow");
const {
  Field,
  FixedSizeList,
  Float32,
  Int32,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table: ArrowTable,
} = arrow;
type ArrowTable = InstanceType<typeof ArrowTable>;
type RecordBatch = InstanceType<typeof RecordBatch>;

export type LanceIndexKind = "hnsw_sq" | "ivf_pq";

const lanceMetric = (m: Metric) => (m === "L2" ? "l2" : "cosine");
const BATCH = 50_000;

function arrowTable(data: BenchData): ArrowTable {
  const schema = new Schema([
    new Field("id", new Int32(), false),
    new Field("tag", new Int32(), false),
    new Field("vector", new FixedSizeList(data.dim, new Field("item", new Float32(), true)), false),
  ]);
  const batches: RecordBatch[] = [];
  for (let from = 0; from < data.n; from += BATCH) {
    const n = Math.min(BATCH, data.n - from);
    const id = Int32Array.from({ length: n }, (_, i) => from + i);
    const tag = id.map((x) => x % TAG_MOD);
    const vec = makeData({
      type: new Float32(),
      length: n * data.dim,
      data: data.base.subarray(from * data.dim, (from + n) * data.dim),
    });
    const children = [
      makeData({ type: new Int32(), length: n, data: id }),
      makeData({ type: new Int32(), length: n, data: tag }),
      makeData({ type: schema.fields[2]!.type, length: n, child: vec }),
    ];
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, children })));
  }
  return new ArrowTable(schema, batches);
}

export interface Tuning {
  readonly ef?: number;
  readonly nprobes?: number;
  readonly refineFactor?: number;
}

function lanceSearch(table: LanceTable, data: BenchData, tuning: Tuning, filter?: string): SearchFn {
  return async (qi, out) => {
    let q = table
      .vectorSearch(data.queries[qi]!)
      .distanceType(lanceMetric(data.metric))
      .select(["id", "_distance"])
      .limit(K);
    if (tuning.ef !== undefined) q = q.ef(tuning.ef);
    if (tuning.nprobes !== undefined) q = q.nprobes(tuning.nprobes);
    if (tuning.refineFactor !== undefined) q = q.refineFactor(tuning.refineFactor);
    if (filter !== undefined) q = q.where(filter);
    const rows = (await q.toArray()) as { id: number }[];
    for (let i = 0; i < rows.length && i < K; i++) out[qi * K + i] = rows[i]!.id;
  };
}

const TABLE = "bench";

/** Create the table and its indexes, then tune; the table stays in `dir` for `serveLancedb`. */
export async function buildLancedb(
  data: BenchData,
  dir: string,
  kind: LanceIndexKind,
): Promise<Record<string, unknown>> {
  const tbl = arrowTable(data);
  const lancedb = await lance();
  const db = await lancedb.connect(join(dir, "lancedb"));
  try {
    let t = performance.now();
    const table = await db.createTable(TABLE, tbl);
    const insertS = (performance.now() - t) / 1000;
    log(`  lancedb: createTable ${r1(insertS)} s`);
    const metric = lanceMetric(data.metric);
    const config =
      kind === "hnsw_sq"
        ? lancedb.Index.hnswSq({
            distanceType: metric,
            numPartitions: 1,
            m: HNSW_M,
            efConstruction: HNSW_EFC,
          })
        : lancedb.Index.ivfPq({
            distanceType: metric,
            numPartitions: Math.round(Math.sqrt(data.n)),
            numSubVectors: data.dim / 8,
          });
    t = performance.now();
    await table.createIndex("vector", { config });
    const indexS = (performance.now() - t) / 1000;
    t = performance.now();
    await lanceSearch(table, data, kind === "hnsw_sq" ? { ef: 64 } : { nprobes: 20 })(0, new Int32Array(K));
    const firstSearchMs = performance.now() - t;
    log(`  lancedb: ${kind} index ${r1(indexS)} s, first search ${r1(firstSearchMs)} ms`);
    t = performance.now();
    await table.createIndex("tag", { config: lancedb.Index.bitmap() });
    const scalarIndexS = (performance.now() - t) / 1000;

    // Tune: the smallest ef (nprobes) reaching the target without refinement, else with the
    // smallest refine factor that gets there. Lance's HNSW wants ef ≥ limit × refineFactor.
    const knobs: number[] = kind === "hnsw_sq" ? [...EFS] : [5, 10, 20, 40, 80];
    const last = knobs[knobs.length - 1]!;
    const sweep: Record<string, unknown>[] = [];
    let best: Tuning | undefined;
    for (const refineFactor of [undefined, 2, 5, 10]) {
      for (const knob of knobs) {
        if (kind === "hnsw_sq" && knob < K * (refineFactor ?? 1)) continue;
        const tuning: Tuning = {
          ...(kind === "hnsw_sq" ? { ef: knob } : { nprobes: knob }),
          ...(refineFactor === undefined ? {} : { refineFactor }),
        };
        const s = (
          await interleaved(data.nq, 1, [
            { name: "l", search: lanceSearch(table, data, tuning), truth: data.truth },
          ])
        ).l!;
        sweep.push({ ...tuning, recall: s.recall, qps: s.qps });
        log(`  lancedb: ${JSON.stringify(tuning)} recall ${s.recall} QPS ${s.qps}`);
        if (s.recall >= TARGET_RECALL) {
          best = tuning;
          break;
        }
      }
      if (best !== undefined) break;
    }
    table.close();
    return {
      index: kind === "hnsw_sq" ? "IVF_HNSW_SQ (1 partition)" : "IVF_PQ",
      ...(kind === "hnsw_sq" ? { M: HNSW_M, efConstruction: HNSW_EFC } : {}),
      insertS: r1(insertS),
      indexBuildS: r1(indexS),
      ingestToSearchableS: r1(insertS + indexS + firstSearchMs / 1000),
      scalarIndexS: r1(scalarIndexS),
      tuning: best ?? { ...(kind === "hnsw_sq" ? { ef: last } : { nprobes: last }), refineFactor: 10 },
      targetMet: best !== undefined,
      sweep,
      peakRssBuildMiB: rss().peakRssMiB,
    };
  } finally {
    db.close();
  }
}

/** In a fresh process: connect, open, first answer (load time), then the search loop. */
export async function serveLancedb(
  data: BenchData,
  dir: string,
  tuning: Tuning,
  rounds: number,
): Promise<Record<string, unknown>> {
  const rss0 = rss();
  const lancedb = await lance();
  const t = performance.now();
  const db = await lancedb.connect(join(dir, "lancedb"));
  const table = await db.openTable(TABLE);
  try {
    await lanceSearch(table, data, tuning)(0, new Int32Array(K));
    const loadMs = performance.now() - t;
    const s = await interleaved(data.nq, rounds, [
      { name: "unfiltered", search: lanceSearch(table, data, tuning), truth: data.truth },
      {
        name: "filtered10",
        search: lanceSearch(table, data, tuning, `tag = ${TAG_PASS}`),
        truth: data.truthFiltered,
      },
    ]);
    const after = rss();
    log(`  lancedb: ${JSON.stringify(tuning)}: ${JSON.stringify(s)}`);
    return {
      loadMs: r3(loadMs),
      ...s.unfiltered,
      filtered10: s.filtered10,
      rssServingMiB: r1(after.rssMiB - rss0.rssMiB),
      peakRssServeMiB: after.peakRssMiB,
    };
  } finally {
    table.close();
    db.close();
  }
}

import usearch, {
  type BatchMatches,
  type Matches,
  type MetricKind,
  type ScalarKind,
  type Index as UsearchIndex,
} from "usearch";
import { StrataError } from "../common/errors.ts";
import { DataType } from "../common/types.ts";
import { searchExact } from "./exact.ts";
import { calibrateTwoHop, type TwoHopWidths, twoHopWidthAt } from "./hnsw-calibrate.ts";
import {
  type HnswNative,
  loadHnswNative,
  type NativeBuildMetric,
  type NativeHnswBuilder,
  type NativeHnswHandle,
  NativeMode,
} from "./hnsw-native.ts";
import { largerIsBetter, type MetricType } from "./metric.ts";
import { emptyResult, type SearchResult, TopKHeaps } from "./topk.ts";
import {
  type BuildParams,
  checkSearchArgs,
  checkSpec,
  closedError,
  estimatePassing,
  type IndexQueries,
  type IndexSpec,
  intParam,
  isBinaryMetric,
  rowsOf,
  type SearchParams,
  type VectorIndex,
} from "./vector-index.ts";

/**
 * HNSW through usearch 2.25's file format. With our own addon (native/hnsw-filter, see
 * hnsw-native.ts) built and enabled, float HNSW graphs are built by it (usearch's own graph class
 * with the addon's distance kernels and prefetching, ~1.7–2× faster than the binding) and every
 * index opened from a file or bytes, or built that way, is searched by it, with the filter applied
 * inside the graph walk; without it (or for HNSW_SQ, and binary vectors' builds) the JavaScript
 * binding builds and searches. Either way the file is the binding's dense format, readable by
 * both. With the addon, a filtered search (nativePlan) takes the cheapest of three ways by a
 * cost model in vectors scored (constants below), for a fraction s of rows passing:
 *
 * - usearch's filtered walk: every neighbour is scored and steers, only passing rows are kept. It
 *   must collect ef passing rows, so it scores ~(0.5 + 0.5/s) × an unfiltered walk: cheap for light
 *   filters, 5× at 10 %, 50× at 1 %.
 * - the two-hop walk (s ≥ 5 %): a failing neighbour is not scored, its passing neighbours are, so
 *   the walk moves over passing rows only and scores ~(1.2 + 2.4s) × an unfiltered walk whatever s
 *   is. How wide it must walk for usearch's recall depends on the graph (0.5× to 2.5× at 10 %), so
 *   graphs the addon builds are measured at build time (hnsw-calibrate.ts); others get ef × 0.15/s
 *   (at most ×4, ≥ 5k). Below ~5 % the passing rows stop being connected through two hops (recall
 *   0.56 at 2 % on clustered data).
 * - an exact scan of the passing rows, natively over the index's own vectors (or the raw vectors if
 *   given): passing × a streamed distance (~0.3 of a walk's random one) plus a pass over the filter.
 *
 * The exact scan used to win from about (ef/s × M) passing rows down, since the over-fetching walk
 * scored ~1/s times an unfiltered one; with the two-hop walk costing about an unfiltered walk, it
 * wins only where passing × 0.3 undercuts that: ≲ 1–2 % of a 200k segment, ≲ 10 % of a 20k one, and
 * below 5 % passing generally, where the walks get dear. prefersExactScan reports this choice, so a
 * caller holding the raw column scans it instead; a walk that finds fewer than k rows falls back to
 * the scan for that query.
 *
 * What the binding can and cannot do shaped the rest of this wrapper (javascript/lib.cpp):
 *
 * - No filter reaches the graph walk: the C++ core has `filtered_search(predicate)` but the binding
 *   exposes only `search(queries, k, threads)`. Filtered search therefore over-fetches: with a
 *   fraction s of rows passing it asks for about ef/s candidates and keeps the passing ones,
 *   widening 4x while a query still has fewer than k; when scoring the passing rows one by one is
 *   cheaper than that walk (few rows pass) and the segment's raw vectors were supplied, it scans
 *   the passing rows exactly instead.
 * - `expansion_search` (ef) is fixed when the index is created. usearch walks with
 *   ef = max(expansion_search, wanted), so the index is created with expansion_search = 1 and a
 *   search asks for max(ef, k) results and keeps the best k: the same walk as ef, chosen per call.
 * - Distances come back in usearch's sense: IP as 1 − dot and cos as 1 − cosine, converted back
 *   here to Milvus scores; l2sq, hamming and tanimoto (= Jaccard distance on bits) are used as is.
 * - Binary rows go in as b1 (one bit per dimension), but the binding only accepts float or int8
 *   arrays with one element per dimension, so bits are expanded to 0/1 floats chunk by chunk.
 * - i8 storage normalises each vector (usearch casts float to int8 by magnitude), which keeps only
 *   cosine meaningful, so HNSW_SQ with sq_type SQ8 is COSINE-only; FP16/BF16 work for every metric.
 * - Multi-threaded adds make the graph depend on thread timing; threads = 1 (the default) builds
 *   the same graph, byte for byte, every time.
 */

export type HnswQuantization = "f32" | "f16" | "bf16" | "i8" | "b1";

/** Resolved build configuration; what the index file records. */
export interface HnswConfig {
  readonly M: number;
  readonly efConstruction: number;
  readonly quantization: HnswQuantization;
}

export interface HnswBuildOptions {
  /** Threads for the native add; 1 (default) gives a deterministic graph. */
  readonly threads?: number;
}

export interface HnswOpenOptions {
  /**
   * The segment's raw vectors, row-major in offset order (float32, or dim/8 bytes per row for
   * binary). With them a very selective filter is answered by an exact scan of the passing rows,
   * and HNSW_SQ results are re-scored exactly (Milvus' "refine"). Without them, filtered search
   * only over-fetches from the graph.
   */
  readonly vectors?: IndexQueries;
  /**
   * Threads for one batched search call (at most one per query); default 1. An index the binding
   * built in this process uses at most its build threads (usearch reserved that many search
   * contexts); one the addon built or opened, up to one per hardware thread.
   */
  readonly searchThreads?: number;
  /**
   * The exact scan is chosen when passing rows ≤ factor × (candidates the walk would need × M).
   * Default 1; 0 never scans, Infinity always does (tests use both to reach each path).
   */
  readonly filterExactFactor?: number;
  /**
   * Search through the hnsw-filter addon when it is built (indexes opened from files or bytes, f32
   * or binary vectors), and build float HNSW graphs with it. Default true unless
   * STRATA_NO_NATIVE_FILTER=1; false keeps the binding for both.
   */
  readonly nativeFilter?: boolean;
  /**
   * The two-hop walk's width factors measured on this graph when it was built (hnsw-calibrate.ts;
   * index files carry them). Without them the walk widens by a fixed rule.
   */
  readonly twoHopWidths?: TwoHopWidths | undefined;
}

const DEFAULT_EF = 64;
/** Extra candidates on top of ef/s, for the variance of how many fetched rows pass. */
const OVERFETCH = 1.2;
/**
 * Native add calls are cut into chunks: a worker being terminated stops between calls, not after
 * the whole build (a thread inside native code cannot be interrupted), and binary rows are
 * expanded one chunk at a time. Each call's threads split it evenly and end unevenly, so calls
 * should not be short either: chunks are sized from the rate so far to take about
 * ADD_CALL_TARGET_MS, within [ADD_CHUNK_MIN, ADD_CHUNK_MAX] rows. Sequential calls with
 * threads = 1 build the same graph as one call.
 */
const ADD_CALL_TARGET_MS = 1000;
const ADD_CHUNK_MIN = 1024;
const ADD_CHUNK_MAX = 65_536;

/** Calls `add(r0, rows)` over [0, n) in chunks of about ADD_CALL_TARGET_MS each, at most `max` rows. */
function addInChunks(n: number, add: (r0: number, rows: number) => void, max = ADD_CHUNK_MAX): void {
  let chunk = ADD_CHUNK_MIN;
  for (let r0 = 0; r0 < n; ) {
    const rows = Math.min(chunk, n - r0);
    const t0 = performance.now();
    add(r0, rows);
    const ms = performance.now() - t0;
    r0 += rows;
    // Inserts slow down as the graph grows; aiming at the target from the last rate is close enough.
    const next = ms > 0 ? Math.floor((rows * ADD_CALL_TARGET_MS) / ms) : ADD_CHUNK_MAX;
    chunk = Math.min(max, Math.max(ADD_CHUNK_MIN, Math.min(next, chunk * 4)));
  }
}

const METRIC_KIND: Record<MetricType, string> = {
  L2: "l2sq",
  IP: "ip",
  COSINE: "cos",
  HAMMING: "hamming",
  JACCARD: "tanimoto",
};

const SQ_TYPES: Record<string, HnswQuantization> = { FP16: "f16", BF16: "bf16", SQ8: "i8" };

function bad(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

/** Validates an HNSW / HNSW_SQ spec and fills defaults (M 16, efConstruction 200, sq_type FP16). */
export function hnswConfig(spec: IndexSpec): HnswConfig {
  checkSpec(spec);
  if (spec.type !== "HNSW" && spec.type !== "HNSW_SQ") bad(`not an HNSW spec: ${spec.type}`);
  const p: BuildParams = spec.params;
  const M = intParam(p, "M", 2, 2048, 16, spec.type);
  const efConstruction = intParam(p, "efConstruction", 1, 1 << 20, 200, spec.type);
  const binary = isBinaryMetric(spec.metric);
  let quantization: HnswQuantization = binary ? "b1" : "f32";
  if (spec.type === "HNSW_SQ") {
    if (binary) bad(`HNSW_SQ cannot index binary vectors (${spec.metric}); use HNSW`);
    const raw = String(p.sq_type ?? "FP16").toUpperCase();
    const q = SQ_TYPES[raw];
    if (q === undefined)
      bad(
        `HNSW_SQ: sq_type must be one of ${Object.keys(SQ_TYPES).join(", ")}, got ${JSON.stringify(p.sq_type)}`,
      );
    if (q === "i8" && spec.metric !== "COSINE") {
      bad(
        "HNSW_SQ: sq_type SQ8 keeps only cosine order (usearch normalises each vector to int8); use FP16 or BF16 for L2 and IP",
      );
    }
    quantization = q;
  }
  for (const k of Object.keys(p)) {
    if (k !== "M" && k !== "efConstruction" && !(k === "sq_type" && spec.type === "HNSW_SQ")) {
      bad(`${spec.type} has no build parameter ${JSON.stringify(k)}`);
    }
  }
  return { M, efConstruction, quantization };
}

function newNative(dim: number, metric: MetricType, cfg: HnswConfig): UsearchIndex {
  return new usearch.Index({
    dimensions: dim,
    metric: METRIC_KIND[metric] as MetricKind,
    quantization: cfg.quantization as ScalarKind,
    connectivity: cfg.M,
    expansion_add: cfg.efConstruction,
    // 1 so that each call's `wanted` sets the walk's width (see the module comment).
    expansion_search: 1,
    multi: false,
  });
}

/** Bits of `rows` binary rows starting at `r0` as 0/1 floats, one per dimension. */
function expandBits(bytes: Uint8Array, r0: number, rows: number, dim: number): Float32Array {
  const B = dim / 8;
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const src = (r0 + r) * B;
    const dst = r * dim;
    for (let i = 0; i < dim; i++) out[dst + i] = (bytes[src + (i >> 3)]! >> (i & 7)) & 1;
  }
  return out;
}

/** A plain, offset-0 copy unless `a` already is one (the binding's safe input form). */
function plainFloats(a: Float32Array): Float32Array {
  return a.byteOffset === 0 && a.buffer instanceof ArrayBuffer && a.byteLength === a.buffer.byteLength
    ? a
    : a.slice();
}

function keysView(keys: BigUint64Array): Uint32Array {
  // Keys are row offsets < 2^32: the low little-endian word is the whole value, no BigInt needed.
  return new Uint32Array(keys.buffer, keys.byteOffset, keys.length * 2);
}

/** An index opened in the hnsw-filter addon. */
interface AddonIndex {
  readonly lib: HnswNative;
  readonly handle: NativeHnswHandle;
}

/** Which library serves an index: the usearch binding or the addon. */
type Engine = { readonly binding: UsearchIndex } | { readonly addon: AddonIndex };

/** One filtered search's plan with the addon. */
interface NativePlan {
  readonly mode: NativeMode;
  /** The walk's width (raised for the two-hop walk on selective filters). */
  readonly ef: number;
}

// Cost model of nativePlan, in units of one vector scored by an unfiltered walk (a dependent random
// read: ~0.1–0.3 µs on 200k × 128, depending on the machine's load). Measured on 200k × 128
// clustered data, M 16, ef 32 (per vector scored, relative to that unit): usearch's filtered walk
// ~1.5 (it also tests the filter and misses the cache more), the two-hop walk ~0.7–1.0, the exact
// scan ~0.2–0.4 per passing row plus a small cost per row of the filter pass.
const WALK_UNIT = 1.5;
const TWO_HOP_UNIT = 0.9;
const SCAN_UNIT = 0.3;
const ROW_UNIT = 0.002;
/** Below this fraction passing, two hops no longer connect the passing rows (recall 0.56 at 2 %). */
const TWO_HOP_MIN = 0.05;

export class HnswIndex implements VectorIndex {
  readonly type: "HNSW" | "HNSW_SQ";
  readonly metric: MetricType;
  readonly dim: number;
  readonly count: number;
  readonly config: HnswConfig;
  private engine: Engine | undefined;
  private readonly vectors: IndexQueries | undefined;
  private readonly searchThreads: number;
  /** See HnswOpenOptions.filterExactFactor. */
  readonly exactScanFactor: number;
  /** See HnswOpenOptions.twoHopWidths; what an index file written from this index records. */
  readonly twoHopWidths: TwoHopWidths | undefined;
  private readonly binary: boolean;
  /** File bytes when the index is memory-mapped, else undefined (estimated). */
  private readonly mappedBytes: number | undefined;

  private constructor(
    spec: IndexSpec,
    cfg: HnswConfig,
    engine: Engine,
    count: number,
    opts: HnswOpenOptions,
    mappedBytes: number | undefined,
  ) {
    this.type = spec.type as "HNSW" | "HNSW_SQ";
    this.metric = spec.metric;
    this.dim = spec.dim;
    this.config = cfg;
    this.engine = engine;
    this.count = count;
    this.binary = isBinaryMetric(spec.metric);
    this.searchThreads = opts.searchThreads ?? 1;
    this.exactScanFactor = opts.filterExactFactor ?? 1;
    this.twoHopWidths = opts.twoHopWidths;
    this.mappedBytes = mappedBytes;
    if (opts.vectors !== undefined) {
      const rows = rowsOf(opts.vectors, spec.dim, this.binary, "raw vectors");
      if (rows !== count) bad(`raw vectors hold ${rows} rows for an index of ${count}`);
    }
    this.vectors = opts.vectors;
  }

  /** Whether searches go through the hnsw-filter addon (filters applied inside the walk). */
  get nativeFilter(): boolean {
    return this.engine !== undefined && "addon" in this.engine;
  }

  /**
   * Builds the graph on the calling thread (seconds to minutes: call it from a worker, see
   * build.ts). Rows are keyed by their offset in `vectors`. Float HNSW (f32 storage) is built by the
   * addon when it is available, and the result is searched by it like an opened file; HNSW_SQ,
   * binary vectors and builds without the addon go through the binding and are searched by it.
   */
  static build(
    spec: IndexSpec,
    vectors: IndexQueries,
    opts: HnswBuildOptions & HnswOpenOptions = {},
  ): HnswIndex {
    const cfg = hnswConfig(spec);
    const binary = isBinaryMetric(spec.metric);
    const n = rowsOf(vectors, spec.dim, binary);
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024)
      bad(`threads must be an integer in [1, 1024], got ${threads}`);
    if (!binary) {
      // A NaN row would corrupt the graph for every later insert, so refuse it up front.
      const v = vectors as Float32Array;
      for (let i = 0; i < v.length; i++) {
        const x = v[i]!;
        if (x - x !== 0) bad(`vectors hold a non-finite value at row ${Math.floor(i / spec.dim)}`);
      }
    }
    const lib = binary ? undefined : addonFor(cfg, opts);
    if (lib !== undefined && spec.type === "HNSW") {
      return HnswIndex.buildInAddon(lib, spec, cfg, vectors as Float32Array, n, threads, opts);
    }
    const native = newNative(spec.dim, spec.metric, cfg);
    addInChunks(
      n,
      (r0, rows) => {
        const keys = new BigUint64Array(rows);
        const kw = keysView(keys);
        for (let i = 0; i < rows; i++) kw[2 * i] = r0 + i;
        const data = binary
          ? expandBits(vectors as Uint8Array, r0, rows, spec.dim)
          : (vectors as Float32Array).slice(r0 * spec.dim, (r0 + rows) * spec.dim);
        native.add(keys, data, threads);
      },
      // Expanded binary rows take a float per bit: at most 64 MiB of them per call.
      binary ? Math.max(ADD_CHUNK_MIN, Math.floor(2 ** 24 / spec.dim)) : ADD_CHUNK_MAX,
    );
    // usearch keeps one search context per thread it reserved for, and a built index reserved
    // `threads` (a loaded or viewed one, one per hardware thread): more concurrent searchers fail
    // with "Reserve capacity ahead of searches".
    const searchThreads = Math.min(opts.searchThreads ?? 1, threads);
    return new HnswIndex(spec, cfg, { binding: native }, n, { ...opts, searchThreads }, undefined);
  }

  /**
   * The addon's build: the same chunks as the binding's (a terminated worker stops between them),
   * then the graph is serialised in usearch's format and opened from those bytes, so `save` writes
   * what the binding would and searches take the addon's paths, as for an opened file.
   */
  private static buildInAddon(
    lib: HnswNative,
    spec: IndexSpec,
    cfg: HnswConfig,
    vectors: Float32Array,
    n: number,
    threads: number,
    opts: HnswOpenOptions,
  ): HnswIndex {
    const dim = spec.dim;
    let builder: NativeHnswBuilder | undefined;
    let handle: NativeHnswHandle;
    try {
      builder = lib.buildBegin(
        dim,
        METRIC_KIND[spec.metric] as NativeBuildMetric,
        cfg.M,
        cfg.efConstruction,
        n,
        threads,
      );
      const b = builder;
      addInChunks(n, (r0, rows) => lib.buildAdd(b, vectors.subarray(r0 * dim, (r0 + rows) * dim), r0, rows));
      handle = lib.buildFinish(builder);
      builder = undefined;
    } catch (e) {
      if (builder !== undefined) lib.buildFree(builder);
      // Input was checked above, so what is left is the addon failing (memory).
      throw new StrataError(
        "ServiceInternal",
        `HNSW build failed: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    let twoHopWidths: TwoHopWidths | undefined;
    try {
      twoHopWidths = calibrateTwoHop(lib, handle, vectors, n, dim, threads);
    } catch {
      // Only an optimisation of filtered search: the graph is sound, the plan's fixed rule stands in.
      twoHopWidths = undefined;
    }
    return new HnswIndex(spec, cfg, { addon: { lib, handle } }, n, { ...opts, twoHopWidths }, undefined);
  }

  /**
   * Opens a usearch file written by save(): `view` memory-maps it (searchable at once, pages load on
   * demand; the file must stay in place until the index is closed and collected), `load` reads it
   * into memory. The caller has already verified the file (index-file.ts). The addon opens it when
   * built and enabled; a file it refuses (not one Strata wrote) goes to the binding.
   */
  static open(
    path: string,
    spec: IndexSpec,
    cfg: HnswConfig,
    count: number,
    mode: "view" | "load",
    fileBytes: number,
    opts: HnswOpenOptions = {},
  ): HnswIndex {
    const mapped = mode === "view" ? fileBytes : undefined;
    const lib = addonFor(cfg, opts);
    if (lib !== undefined) {
      const addon = openAddon(lib, () => lib.open(path, mode), count, path);
      if (addon !== undefined) return new HnswIndex(spec, cfg, { addon }, count, opts, mapped);
    }
    const native = newNative(spec.dim, spec.metric, cfg);
    try {
      if (mode === "view") native.view(path);
      else native.load(path);
    } catch (e) {
      throw new StrataError(
        "Corrupted",
        `usearch could not open ${path}: ${e instanceof Error ? e.message : String(e)}`,
        {
          cause: e,
        },
      );
    }
    if (native.size() !== count) {
      throw new StrataError("Corrupted", `${path} holds ${native.size()} vectors, its header says ${count}`);
    }
    return new HnswIndex(spec, cfg, { binding: native }, count, opts, mapped);
  }

  /**
   * Opens verified usearch payload bytes in memory through the addon (a private copy), or returns
   * undefined when the addon is not used (the binding loads only from paths: see index-file.ts).
   */
  static openBytes(
    payload: Uint8Array,
    spec: IndexSpec,
    cfg: HnswConfig,
    count: number,
    opts: HnswOpenOptions = {},
  ): HnswIndex | undefined {
    const lib = addonFor(cfg, opts);
    if (lib === undefined) return undefined;
    const addon = openAddon(lib, () => lib.openBytes(payload), count, "(bytes)");
    return addon === undefined ? undefined : new HnswIndex(spec, cfg, { addon }, count, opts, undefined);
  }

  get memoryBytes(): number {
    // The addon's 8-bit steering codes, once a filtered walk has built them (hnsw_filter.cc).
    const e = this.engine;
    const steering = e !== undefined && "addon" in e ? e.addon.lib.info(e.addon.handle).steeringBytes : 0;
    return this.graphBytes() + steering;
  }

  private graphBytes(): number {
    if (this.mappedBytes !== undefined) return this.mappedBytes;
    const vecBytes =
      this.config.quantization === "b1"
        ? this.dim / 8
        : this.config.quantization === "f32"
          ? this.dim * 4
          : this.config.quantization === "i8"
            ? this.dim
            : this.dim * 2;
    // Base layer: 2M neighbour slots of 4 bytes plus key and level header; upper levels add ~1/M.
    return Math.ceil(this.count * (vecBytes + 2 * this.config.M * 4 + 24) * (1 + 1 / this.config.M));
  }

  /** The spec this index was built from, with its resolved parameters. */
  spec(): IndexSpec {
    const params: Record<string, number | string> = {
      M: this.config.M,
      efConstruction: this.config.efConstruction,
    };
    if (this.type === "HNSW_SQ") {
      params.sq_type = Object.keys(SQ_TYPES).find((k) => SQ_TYPES[k] === this.config.quantization) ?? "FP16";
    }
    return { type: this.type, metric: this.metric, dim: this.dim, params };
  }

  /**
   * Usearch's own file format in memory, at the start of a new buffer `extra` bytes longer (room
   * for a trailer), when the addon holds the index; undefined when the binding does (it writes
   * only to paths: use save).
   */
  payloadWithRoom(
    extra: number,
  ): { readonly buffer: Uint8Array; readonly payloadLength: number } | undefined {
    const e = this.live();
    if (!("addon" in e)) return undefined;
    const payloadLength = e.addon.lib.info(e.addon.handle).payloadLength;
    const buffer = new Uint8Array(payloadLength + extra);
    e.addon.lib.copyPayload(e.addon.handle, buffer);
    return { buffer, payloadLength };
  }

  /** Writes usearch's own file format to `path`. */
  save(path: string): void {
    const e = this.live();
    if (!("addon" in e)) {
      e.binding.save(path);
      return;
    }
    try {
      e.addon.lib.save(e.addon.handle, path);
    } catch (err) {
      throw new StrataError("IoFailed", err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  search(
    queries: IndexQueries,
    nq: number,
    k: number,
    params: SearchParams = {},
    filter?: Uint8Array,
    filterPassing?: number,
  ): SearchResult {
    const engine = this.live();
    const topk = checkSearchArgs(this, queries, nq, k, filter);
    const ef = intParam(params, "ef", 1, 32768, Math.max(DEFAULT_EF, topk), this.type);
    const n = this.count;
    if (n === 0) return emptyResult(nq, topk);
    if ("addon" in engine)
      return this.searchAddon(engine.addon, queries, nq, topk, ef, filter, filterPassing);
    const native = engine.binding;
    const base = Math.min(n, Math.max(ef, topk));
    const q = this.binary
      ? expandBits(queries as Uint8Array, 0, nq, this.dim)
      : plainFloats(queries as Float32Array);
    const passing = filter === undefined ? n : estimatePassing(filter);
    if (passing === 0) return emptyResult(nq, topk);
    const f = passing === n ? undefined : filter;
    let wanted = base;
    if (f !== undefined) {
      wanted = this.overfetch(base, passing);
      if (this.vectors !== undefined && this.scanBeatsWalk(passing, wanted)) {
        return this.exactScan(queries, nq, topk, f);
      }
    }
    const heaps = new TopKHeaps(nq, topk);
    const need = Math.min(topk, passing);
    let pending: number[] = Array.from({ length: nq }, (_, i) => i);
    for (;;) {
      const sub = pending.length === nq ? q : gatherRows(q, pending, this.dim);
      // One query cannot use more than one thread; waking idle ones only costs.
      const threads = Math.min(this.searchThreads, pending.length);
      const res = runNative(native, sub, pending.length, wanted, threads);
      const retry: number[] = [];
      for (let i = 0; i < pending.length; i++) {
        const qi = pending[i]!;
        const found = countFound(res, i, f);
        if (found < need && wanted < n) retry.push(qi);
        else this.pushResults(heaps, qi, res, i, f, queries);
      }
      if (retry.length === 0) break;
      pending = retry;
      wanted = Math.min(n, wanted * 4);
    }
    return heaps.finish(largerIsBetter(this.metric));
  }

  prefersExactScan(passing: number, k: number, params: SearchParams = {}): boolean {
    const n = this.count;
    if (passing <= 0 || passing >= n) return passing <= 0;
    const ef = typeof params.ef === "number" && params.ef > 0 ? params.ef : DEFAULT_EF;
    if (this.nativeFilter) return this.nativePlan(passing, ef, k).mode === NativeMode.Scan;
    return this.scanBeatsWalk(passing, this.overfetch(Math.min(n, Math.max(ef, k)), passing));
  }

  /**
   * The addon's filtered search plan for `passing` rows at width `ef` (module comment). Costs are in
   * vectors scored by a walk; `filterExactFactor` scales the scan's side (0: never, ∞: always).
   */
  private nativePlan(passing: number, ef: number, k: number): NativePlan {
    const n = this.count;
    const s = passing / n;
    // Vectors an unfiltered walk scores: fitted on M 16 (ef 16…128 → 350…700), scaled by M.
    const unfiltered = (w: number) => Math.min(n, 7.5 * this.config.M * w ** 0.36);
    // usearch's filtered walk collects ef passing rows: ~1/s times the rows, half of them scored
    // (1.25× unfiltered at s = 0.5, 5.3× at 0.1, 52× at 0.01 measured).
    let best: NativePlan = { mode: NativeMode.Walk, ef };
    let cost = Math.min(n, unfiltered(ef) * (0.5 + 0.5 / s)) * WALK_UNIT;
    // A graph measured at build time says how wide it needs the walk (hnsw-calibrate.ts), and
    // Infinity where no width gave usearch's recall.
    const measured = this.twoHopWidths && twoHopWidthAt(this.twoHopWidths, s);
    if (s >= TWO_HOP_MIN && measured !== Number.POSITIVE_INFINITY) {
      // Unmeasured graphs: it needs a wider walk than usearch's for the same recall, the more so
      // the fewer rows pass, the smaller ef and the weaker the graph. Measured at 10 % passing:
      // 20k × 48, efConstruction 64: 0.93–0.95 at ef 32, 0.97–0.99 at 50 (usearch's walk: 0.99 at
      // 32); 50k × 128, efC 200: 0.96 at 32, 0.98 at 48 (usearch's walk: 0.98 at 16); 200k × 128:
      // 0.99 at 32, 0.997 at 48. So ef × 0.15/s (at most ×4), and at least 5k. It scores more as
      // more neighbours pass (1.44× unfiltered at s = 0.1, 2.4× at 0.5, same ef).
      const ef2 =
        measured !== undefined
          ? Math.max(Math.ceil(ef * measured), 2 * k)
          : Math.max(Math.ceil(ef * Math.min(4, Math.max(1, 0.15 / s))), 5 * k);
      const c2 = Math.min(n, unfiltered(ef2) * (1.2 + 2.4 * s)) * TWO_HOP_UNIT;
      if (c2 < cost) {
        best = { mode: NativeMode.TwoHop, ef: ef2 };
        cost = c2;
      }
    }
    const scan = passing * SCAN_UNIT + n * ROW_UNIT;
    return scan <= cost * this.exactScanFactor ? { mode: NativeMode.Scan, ef } : best;
  }

  /** Candidates a filtered walk asks for so that about `base` of them pass. */
  private overfetch(base: number, passing: number): number {
    return Math.min(this.count, Math.ceil((base * this.count * OVERFETCH) / passing));
  }

  /** The walk touches about `wanted` nodes and scores up to M neighbours of each. */
  private scanBeatsWalk(passing: number, wanted: number): boolean {
    return passing <= wanted * this.config.M * this.exactScanFactor;
  }

  close(): void {
    const e = this.engine;
    this.engine = undefined;
    // The binding has no explicit free: dropping the reference lets GC release memory and mappings.
    if (e !== undefined && "addon" in e) e.addon.lib.close(e.addon.handle);
  }

  private live(): Engine {
    if (this.engine === undefined) throw closedError(this.type);
    return this.engine;
  }

  /**
   * Search through the addon: unfiltered, or filtered by the plan. A walk that finds fewer than k
   * passing rows for a query (a filter whose passing rows the walk cannot reach) is redone as an
   * exact scan for that query, which always finds min(k, passing).
   */
  private searchAddon(
    addon: AddonIndex,
    queries: IndexQueries,
    nq: number,
    topk: number,
    ef: number,
    filter: Uint8Array | undefined,
    filterPassing: number | undefined,
  ): SearchResult {
    const n = this.count;
    const passing = filter === undefined ? n : (filterPassing ?? addon.lib.countPassing(filter));
    if (passing === 0) return emptyResult(nq, topk);
    const f = passing === n ? undefined : filter;
    const plan: NativePlan =
      f === undefined ? { mode: NativeMode.Walk, ef } : this.nativePlan(passing, ef, topk);
    if (plan.mode === NativeMode.Scan && this.vectors !== undefined && f !== undefined) {
      // The raw vectors give the exact scan's own scores (the tested reference), not the addon's.
      return this.exactScan(queries, nq, topk, f);
    }
    const heaps = new TopKHeaps(nq, topk);
    const need = Math.min(topk, passing);
    const res = this.runAddon(addon, queries, nq, plan, topk, f);
    const retry: number[] = [];
    for (let i = 0; i < nq; i++) {
      if (plan.mode !== NativeMode.Scan && res.counts[i]! < need) retry.push(i);
      else this.pushResults(heaps, i, res, i, undefined, queries);
    }
    if (retry.length > 0) {
      const sub = gatherQueries(queries, retry, this.binary ? this.dim / 8 : this.dim);
      const again = this.runAddon(addon, sub, retry.length, { mode: NativeMode.Scan, ef }, topk, f);
      retry.forEach((qi, i) => {
        this.pushResults(heaps, qi, again, i, undefined, queries);
      });
    }
    return heaps.finish(largerIsBetter(this.metric));
  }

  private runAddon(
    addon: AddonIndex,
    queries: IndexQueries,
    nq: number,
    plan: NativePlan,
    topk: number,
    filter: Uint8Array | undefined,
  ): RawResult {
    // A scan returns the exact top-k with ties to the lower row; a walk returns its whole width
    // (usearch breaks ties arbitrarily, pushResults settles them).
    const wanted = Math.min(this.count, plan.mode === NativeMode.Scan ? topk : Math.max(plan.ef, topk));
    const out = {
      keys: new Int32Array(nq * wanted),
      distances: new Float32Array(nq * wanted),
      counts: new Uint32Array(nq),
    };
    const threads = Math.min(this.searchThreads, nq);
    try {
      addon.lib.search(addon.handle, queries, nq, wanted, plan.ef, threads, filter, plan.mode, out);
    } catch (e) {
      // Requests were checked here first, so only a failure inside the addon (memory) lands here.
      throw new StrataError(
        "ServiceInternal",
        `HNSW search failed: ${e instanceof Error ? e.message : String(e)}`,
        {
          cause: e,
        },
      );
    }
    return { rows: out.keys, stride: 1, distances: out.distances, counts: out.counts, wanted };
  }

  private exactScan(queries: IndexQueries, nq: number, topk: number, filter: Uint8Array): SearchResult {
    const raw = this.vectors!;
    const vectors = this.binary
      ? { type: DataType.BinaryVector, dim: this.dim, data: raw as Uint8Array }
      : { type: DataType.FloatVector, dim: this.dim, data: raw as Float32Array };
    return searchExact({ vectors, queries, nq, metric: this.metric, topk, bitset: filter });
  }

  private pushResults(
    heaps: TopKHeaps,
    qi: number,
    res: RawResult,
    i: number,
    filter: Uint8Array | undefined,
    queries: IndexQueries,
  ): void {
    const sim = largerIsBetter(this.metric);
    const base = i * res.wanted;
    const cnt = res.counts[i]!;
    const k = heaps.k;
    const rescore = this.vectors !== undefined && this.type === "HNSW_SQ";
    const { rows, stride } = res;
    let taken = 0;
    let kth = Number.NaN;
    for (let j = 0; j < cnt; j++) {
      const row = rows[stride * (base + j)]!;
      if (filter !== undefined && filter[row] === 0) continue;
      const d = res.distances[base + j]!;
      // usearch returns candidates nearest first, so past the k-th only rows tied with it matter
      // (ties go to the lower offset); re-scored candidates must all be looked at.
      if (!rescore && taken >= k && !(d <= kth)) break;
      if (++taken === k) kth = d;
      let score: number;
      if (rescore)
        score = exactFloatScore(
          this.metric,
          queries as Float32Array,
          qi,
          this.vectors as Float32Array,
          row,
          this.dim,
        );
      else score = toMilvusScore(this.metric, d);
      const key = Math.fround(sim ? -score : score);
      if (key <= heaps.bound[qi]!) heaps.push(qi, key, row);
    }
  }
}

/** The addon for this index and options, or undefined (disabled, not built, or HNSW_SQ storage). */
function addonFor(cfg: HnswConfig, opts: HnswOpenOptions): HnswNative | undefined {
  if (opts.nativeFilter === false) return undefined;
  if (cfg.quantization !== "f32" && cfg.quantization !== "b1") return undefined;
  return loadHnswNative();
}

/**
 * Opens through the addon; undefined when it refuses the bytes (the binding then tries, and says
 * Corrupted if it cannot read them either). A row count unlike the trailer's is Corrupted.
 */
function openAddon(
  lib: HnswNative,
  open: () => NativeHnswHandle,
  count: number,
  what: string,
): AddonIndex | undefined {
  let handle: NativeHnswHandle;
  try {
    handle = open();
  } catch {
    return undefined;
  }
  const rows = lib.info(handle).rows;
  if (rows !== count) {
    lib.close(handle);
    throw new StrataError("Corrupted", `${what} holds ${rows} vectors, its header says ${count}`);
  }
  return { lib, handle };
}

interface RawResult {
  /** Row offsets at `stride` × position (the binding's u64 keys are read as low 32-bit words). */
  readonly rows: Uint32Array | Int32Array;
  readonly stride: 1 | 2;
  readonly distances: Float32Array;
  readonly counts: Uint32Array;
  readonly wanted: number;
}

function runNative(
  native: UsearchIndex,
  q: Float32Array,
  nq: number,
  wanted: number,
  threads: number,
): RawResult {
  const r = native.search(q, wanted, threads) as Matches | BatchMatches;
  if ("counts" in r) {
    const counts = new Uint32Array(nq);
    for (let i = 0; i < nq; i++) counts[i] = Number(r.counts[i]);
    return { rows: keysView(r.keys), stride: 2, distances: r.distances, counts, wanted };
  }
  // One query: the wrapper sliced the row to its found count.
  return {
    rows: keysView(r.keys),
    stride: 2,
    distances: r.distances,
    counts: Uint32Array.of(r.keys.length),
    wanted,
  };
}

function countFound(res: RawResult, i: number, filter: Uint8Array | undefined): number {
  const cnt = res.counts[i]!;
  if (filter === undefined) return cnt;
  const base = i * res.wanted;
  let found = 0;
  for (let j = 0; j < cnt; j++) if (filter[res.rows[res.stride * (base + j)]!] !== 0) found++;
  return found;
}

function gatherRows(q: Float32Array, rows: readonly number[], dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => {
    out.set(q.subarray(r * dim, (r + 1) * dim), i * dim);
  });
  return out;
}

/** Query rows `rows` of `q` (`width` elements each), copied together. */
function gatherQueries(q: IndexQueries, rows: readonly number[], width: number): IndexQueries {
  const out =
    q instanceof Float32Array ? new Float32Array(rows.length * width) : new Uint8Array(rows.length * width);
  rows.forEach((r, i) => {
    out.set(q.subarray(r * width, (r + 1) * width), i * width);
  });
  return out;
}

export function toMilvusScore(metric: MetricType, d: number): number {
  switch (metric) {
    case "IP":
    case "COSINE":
      // usearch reports 1 − similarity; a zero vector's cosine comes back NaN, Milvus scores it 0.
      return Number.isNaN(d) ? 0 : 1 - d;
    case "JACCARD":
      // Tanimoto over two empty bit sets is 0/0; Milvus (and the exact scan) call them identical.
      return Number.isNaN(d) ? 0 : d;
    default:
      return d;
  }
}

function exactFloatScore(
  metric: MetricType,
  q: Float32Array,
  qi: number,
  x: Float32Array,
  row: number,
  dim: number,
): number {
  const qo = qi * dim;
  const xo = row * dim;
  let dot = 0;
  let l2 = 0;
  let qq = 0;
  let xx = 0;
  for (let j = 0; j < dim; j++) {
    const a = q[qo + j]!;
    const b = x[xo + j]!;
    dot += a * b;
    const d = a - b;
    l2 += d * d;
    qq += a * a;
    xx += b * b;
  }
  if (metric === "L2") return l2;
  if (metric === "IP") return dot;
  return qq === 0 || xx === 0 ? 0 : dot / (Math.sqrt(qq) * Math.sqrt(xx));
}

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/**
 * The optional HNSW addon (native/hnsw-filter, built by `node scripts/build-native.mjs`): it opens
 * the same usearch index files as the `usearch` binding and searches them with the row filter
 * applied inside the graph walk, which the binding cannot do, and builds float graphs into that same
 * file format with its own (faster) distance kernels. Loading it never throws:
 * without a built addon (or with STRATA_NO_NATIVE_FILTER=1) callers get undefined and keep the
 * binding's paths.
 */

/** Where scripts/build-native.mjs leaves the addon. */
export const HNSW_NATIVE_PATH = fileURLToPath(
  new URL("../../native/hnsw-filter/build/Release/hnsw_filter.node", import.meta.url),
);

/** The addon's interface version; a build reporting another one is not used. */
const ABI_VERSION = 3;

declare const handleBrand: unique symbol;
/** An open index inside the addon; only the addon's functions can use it. */
export interface NativeHnswHandle {
  readonly [handleBrand]: true;
}

declare const builderBrand: unique symbol;
/** A graph being built inside the addon; only the build functions can use it. */
export interface NativeHnswBuilder {
  readonly [builderBrand]: true;
}

/** The float metrics the addon builds, in usearch's names (l2sq, 1 − dot, 1 − cosine). */
export type NativeBuildMetric = "l2sq" | "ip" | "cos";
/** What a native build shapes its graph on (see HnswNative.buildBegin). */
export type NativeBuildDistances = "auto" | "f16" | "f32";

/** How `search` walks: usearch's walk, an exact scan of the passing rows, or the two-hop walk. */
export const NativeMode = { Walk: 0, Scan: 1, TwoHop: 2 } as const;
export type NativeMode = (typeof NativeMode)[keyof typeof NativeMode];

export interface NativeIndexInfo {
  readonly rows: number;
  /** Floats per vector, or bits for binary vectors. */
  readonly dim: number;
  /** Bytes of the usearch payload (what `save` writes), without Strata's trailer. */
  readonly payloadLength: number;
  /** Slot s holds row s (the addon's own builds write that order): filters are tested directly. */
  readonly slotsAreRows: boolean;
  /**
   * Bytes of the 8-bit codes a two-hop walk over float vectors of 256+ dimensions steers by (built
   * on the first such walk; 0 before, and for other indexes).
   */
  readonly steeringBytes: number;
}

export interface HnswNative {
  /**
   * Opens a usearch file (f32 or b1 vectors, keys = row offsets 0..n-1): `view` memory-maps it (it
   * must stay in place until closed), `load` reads it into memory. Bytes after the usearch payload
   * (Strata's trailer) are ignored. Throws an Error saying why a file is refused.
   */
  open(path: string, mode: "view" | "load"): NativeHnswHandle;
  /** Opens a private copy of usearch payload bytes. */
  openBytes(bytes: Uint8Array): NativeHnswHandle;
  /** Releases the graph and the mapping now; later calls with the handle throw. Idempotent. */
  close(handle: NativeHnswHandle): void;
  info(handle: NativeHnswHandle): NativeIndexInfo;
  /** Writes the usearch payload (the bytes the binding's `save` writes) to `path`. */
  save(handle: NativeHnswHandle, path: string): void;
  /** Copies that payload into `out[0 .. payloadLength)`; throws when `out` is shorter. */
  copyPayload(handle: NativeHnswHandle, out: Uint8Array): void;
  /**
   * Searches `nq` queries (float32 rows, or packed bits for binary), `wanted` results each into
   * `out.keys` / `out.distances` at query × wanted, nearest first, `out.counts[q]` found. Distances
   * are usearch's (l2sq, 1 − dot, 1 − cosine, hamming, tanimoto). Only rows with a non-zero
   * `filter` byte are returned. Returns the vectors scored (a cost measure).
   */
  search(
    handle: NativeHnswHandle,
    queries: Float32Array | Uint8Array,
    nq: number,
    wanted: number,
    ef: number,
    threads: number,
    filter: Uint8Array | undefined,
    mode: NativeMode,
    out: NativeOutput,
  ): number;
  /** Non-zero bytes in `filter`, natively (the JS count costs ~10× more on large segments). */
  countPassing(filter: Uint8Array): number;
  /**
   * Starts building a float (f32) graph of at most `capacity` rows with usearch's own graph class
   * and the addon's distance kernels and prefetching; the result is the file the binding would
   * write for the same settings (other graph, same format). `distances` is what the graph's shape
   * is scored on (searches always score the f32 rows): "auto" (the default) 8-bit codes from 64
   * dimensions, f16 below, each falling back where the data needs it; "f16" and "f32" force a
   * tier, for tests and measurements. Throws on bad arguments or when memory runs out. The builder
   * is freed by buildFinish, buildFree or GC.
   */
  buildBegin(
    dim: number,
    metric: NativeBuildMetric,
    M: number,
    efConstruction: number,
    capacity: number,
    threads: number,
    distances?: NativeBuildDistances,
  ): NativeHnswBuilder;
  /**
   * Adds `count` rows (count × dim floats) keyed `firstKey` .. firstKey + count − 1, on the
   * builder's threads, synchronously. `firstKey` must be the number of rows added so far (keys are
   * row offsets). A wrong length or key, more rows than the capacity, or a non-finite value throws
   * before anything is added; a failure inside the graph insert (memory) throws and spoils the
   * builder (every later call throws).
   */
  buildAdd(builder: NativeHnswBuilder, rows: Float32Array, firstKey: number, count: number): void;
  /** Writes the graph so far to `path` exactly as the binding's `save` would (usearch's dense file). */
  buildSave(builder: NativeHnswBuilder, path: string): void;
  /**
   * Serialises the graph so far and opens it as an index (like openBytes of what buildSave writes);
   * the builder is released, later calls with it throw.
   */
  buildFinish(builder: NativeHnswBuilder): NativeHnswHandle;
  /** Releases the builder now. Idempotent. */
  buildFree(builder: NativeHnswBuilder): void;
}

export interface NativeOutput {
  readonly keys: Int32Array;
  readonly distances: Float32Array;
  readonly counts: Uint32Array;
}

/** The raw functions the .node file exports. */
interface RawAddon {
  abiVersion: number;
  open(path: string, mode: string): object;
  openBytes(bytes: Uint8Array): object;
  close(h: object): void;
  info(h: object): number[];
  save(h: object, path: string): void;
  copyPayload(h: object, out: Uint8Array): void;
  search(
    h: object,
    queries: Float32Array | Uint8Array,
    nq: number,
    wanted: number,
    ef: number,
    threads: number,
    filter: Uint8Array | null,
    mode: number,
    keys: Int32Array,
    distances: Float32Array,
    counts: Uint32Array,
  ): number;
  countPassing(filter: Uint8Array): number;
  buildBegin(
    dim: number,
    metric: string,
    M: number,
    efConstruction: number,
    capacity: number,
    threads: number,
    distances?: string,
  ): object;
  buildAdd(b: object, rows: Float32Array, firstKey: number, count: number): void;
  buildSave(b: object, path: string): void;
  buildFinish(b: object): object;
  buildFree(b: object): void;
}

const FUNCTIONS = [
  "open",
  "openBytes",
  "close",
  "info",
  "save",
  "copyPayload",
  "search",
  "countPassing",
  "buildBegin",
  "buildAdd",
  "buildSave",
  "buildFinish",
  "buildFree",
] as const;

function isRawAddon(x: unknown): x is RawAddon {
  if (typeof x !== "object" || x === null) return false;
  const r = x as Record<string, unknown>;
  return r.abiVersion === ABI_VERSION && FUNCTIONS.every((f) => typeof r[f] === "function");
}

function wrap(raw: RawAddon): HnswNative {
  // Handles are plain objects the addon wraps its index in; the brand only keeps them opaque in TS.
  const h = (x: NativeHnswHandle) => x as unknown as object;
  const b = (x: NativeHnswBuilder) => x as unknown as object;
  return {
    open: (path, mode) => raw.open(path, mode) as unknown as NativeHnswHandle,
    openBytes: (bytes) => raw.openBytes(bytes) as unknown as NativeHnswHandle,
    close: (handle) => raw.close(h(handle)),
    info: (handle) => {
      const [rows = 0, dim = 0, , payloadLength = 0, slotsAreRows = 0, steeringBytes = 0] = raw.info(
        h(handle),
      );
      return { rows, dim, payloadLength, slotsAreRows: slotsAreRows === 1, steeringBytes };
    },
    save: (handle, path) => raw.save(h(handle), path),
    copyPayload: (handle, out) => raw.copyPayload(h(handle), out),
    search: (handle, queries, nq, wanted, ef, threads, filter, mode, out) =>
      raw.search(
        h(handle),
        queries,
        nq,
        wanted,
        ef,
        threads,
        filter ?? null,
        mode,
        out.keys,
        out.distances,
        out.counts,
      ),
    countPassing: (filter) => raw.countPassing(filter),
    buildBegin: (dim, metric, M, efConstruction, capacity, threads, distances) =>
      raw.buildBegin(
        dim,
        metric,
        M,
        efConstruction,
        capacity,
        threads,
        distances,
      ) as unknown as NativeHnswBuilder,
    buildAdd: (builder, rows, firstKey, count) => raw.buildAdd(b(builder), rows, firstKey, count),
    buildSave: (builder, path) => raw.buildSave(b(builder), path),
    buildFinish: (builder) => raw.buildFinish(b(builder)) as unknown as NativeHnswHandle,
    buildFree: (builder) => raw.buildFree(b(builder)),
  };
}

export type HnswNativeProbe =
  | { readonly native: HnswNative; readonly reason?: undefined }
  | { readonly native?: undefined; readonly reason: string };

/**
 * Loads the addon, or says why not: disabled by STRATA_NO_NATIVE_FILTER=1, not built, or built but
 * unusable. Node caches the loaded module, so repeated probes cost a stat and a cache lookup.
 */
export function probeHnswNative(env: NodeJS.ProcessEnv = process.env): HnswNativeProbe {
  if (env.STRATA_NO_NATIVE_FILTER === "1") return { reason: "disabled by STRATA_NO_NATIVE_FILTER=1" };
  if (!existsSync(HNSW_NATIVE_PATH)) {
    return { reason: `not built (${HNSW_NATIVE_PATH} is missing; run node scripts/build-native.mjs)` };
  }
  let raw: unknown;
  try {
    raw = createRequire(import.meta.url)(HNSW_NATIVE_PATH);
  } catch (e) {
    return { reason: `failed to load: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isRawAddon(raw)) return { reason: `unexpected exports (not interface version ${ABI_VERSION})` };
  return { native: wrap(raw) };
}

/** The addon when built and enabled, else undefined. */
export function loadHnswNative(env: NodeJS.ProcessEnv = process.env): HnswNative | undefined {
  return probeHnswNative(env).native;
}

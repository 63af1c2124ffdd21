import { StrataError } from "../common/errors.ts";
import { assignNearest, trainKMeans } from "./kmeans.ts";
import { largerIsBetter, type MetricType } from "./metric.ts";
import { encodeSq8Row, type Sq8Params, sq8RowTerm, trainSq8 } from "./sq8.ts";
import { emptyResult, type SearchResult, TopKHeaps } from "./topk.ts";
import {
  checkFinite,
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
 * IVF_FLAT and IVF_SQ8 in TypeScript. Rows are partitioned by a k-means coarse quantizer (squared
 * L2, trained on a seeded sample) into `nlist` inverted lists, stored back to back in list order
 * (one array of row offsets, one of vectors or codes, `listStart` marking the boundaries), so a
 * probed list is one sequential read. COSINE stores and searches unit-normalised vectors, which
 * turns it into IP. A search scans the `nprobe` lists whose centroids are nearest the query in L2,
 * for every metric: ranking lists by the dot with their centroid (Faiss' IP quantizer) or by the
 * Cauchy–Schwarz bound q·c + |q|·radius found far fewer of the true IP neighbours on the clustered
 * test data (recall@10 at nprobe 8 of 128 lists: L2 order 0.99, dot 0.91, bound 0.92; with row
 * norms spread 0.5–2×: 0.94, 0.75, 0.77), since rows were assigned to lists by L2 in the first place.
 *
 * Filters are applied while scanning. A random filter passing a fraction s of rows leaves the
 * filtered top-k spread over the top k/s rows overall, which lie in more lists: lists are probed
 * past nprobe until the passing rows seen reach R/s, R being the rows an unfiltered search would
 * scan (measured: recall then matches or beats the unfiltered search; stopping at R passing rows
 * lost 3–6 points at s = 0.25–0.5). When the passing rows number fewer than that (s² ≤ R/n), every
 * list is scanned for passing rows instead, which for IVF_FLAT is the exact answer.
 */

export interface IvfConfig {
  /** Lists actually built: the requested nlist, at most the number of rows (at least 1). */
  readonly nlist: number;
  readonly seed: number;
}

const DEFAULT_NPROBE = 8;
const PAYLOAD_VERSION = 1;
const KIND_FLAT = 0;
const KIND_SQ8 = 1;

function bad(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

/**
 * Validates an IVF spec: nlist (1..65536, default 128), seed (default 42). With `rows`, nlist is
 * capped at the row count, as the build does.
 */
export function ivfConfig(spec: IndexSpec, rows = Number.POSITIVE_INFINITY): IvfConfig {
  checkSpec(spec);
  if (spec.type !== "IVF_FLAT" && spec.type !== "IVF_SQ8") bad(`not an IVF spec: ${spec.type}`);
  if (isBinaryMetric(spec.metric))
    bad(`${spec.type} indexes float vectors only; ${spec.metric} needs HNSW or BIN_FLAT`);
  for (const k of Object.keys(spec.params)) {
    if (k !== "nlist" && k !== "seed") bad(`${spec.type} has no build parameter ${JSON.stringify(k)}`);
  }
  const nlist = intParam(spec.params, "nlist", 1, 65536, 128, spec.type);
  const seed = intParam(spec.params, "seed", 0, 0xffffffff, 42, spec.type);
  return { nlist: Math.max(1, Math.min(nlist, rows)), seed };
}

interface IvfParts {
  readonly nlist: number;
  readonly centroids: Float32Array;
  readonly listStart: Uint32Array;
  readonly ids: Int32Array;
  /** IVF_FLAT: vectors in list order (normalised for COSINE). */
  readonly flat?: Float32Array | undefined;
  /** IVF_SQ8: codes in list order, with the quantizer and each row's Σ(scale·code)². */
  readonly codes?: Uint8Array | undefined;
  readonly sq?: Sq8Params | undefined;
  readonly rowTerm?: Float32Array | undefined;
}

function normaliseRows(v: Float32Array, n: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[o + j]! * v[o + j]!;
    // A zero row stays zero: its cosine with anything is 0, as Milvus scores it.
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) out[o + j] = v[o + j]! * inv;
  }
  return out;
}

export class IvfIndex implements VectorIndex {
  readonly type: "IVF_FLAT" | "IVF_SQ8";
  readonly metric: MetricType;
  readonly dim: number;
  readonly count: number;
  readonly config: IvfConfig;
  private parts: IvfParts | undefined;

  private constructor(spec: IndexSpec, cfg: IvfConfig, count: number, parts: IvfParts) {
    this.type = spec.type as "IVF_FLAT" | "IVF_SQ8";
    this.metric = spec.metric;
    this.dim = spec.dim;
    this.count = count;
    this.config = cfg;
    this.parts = parts;
  }

  /**
   * Trains the quantizer and fills the lists on the calling thread (see build.ts for a worker).
   * `threads` are native threads for k-means' nearest-centroid step (default 1).
   */
  static build(spec: IndexSpec, vectors: IndexQueries, opts: { readonly threads?: number } = {}): IvfIndex {
    const dim = spec.dim;
    ivfConfig(spec);
    const n = rowsOf(vectors, dim, false);
    const cfg = ivfConfig(spec, n);
    const raw = vectors as Float32Array;
    checkFinite(raw, "vectors");
    const data = spec.metric === "COSINE" ? normaliseRows(raw, n, dim) : raw;
    if (n === 0) {
      return new IvfIndex(spec, cfg, 0, {
        nlist: 1,
        centroids: new Float32Array(dim),
        listStart: new Uint32Array(2),
        ids: new Int32Array(0),
        ...(spec.type === "IVF_FLAT"
          ? { flat: new Float32Array(0) }
          : { codes: new Uint8Array(0), sq: trainSq8(data, 0, dim), rowTerm: new Float32Array(0) }),
      });
    }
    const nlist = cfg.nlist;
    const threads = opts.threads ?? 1;
    const centroids = trainKMeans(data, n, dim, { k: nlist, seed: cfg.seed, threads });
    const assign = new Int32Array(n).fill(-1);
    assignNearest(data, n, dim, centroids, nlist, assign, undefined, threads);
    const listStart = new Uint32Array(nlist + 1);
    for (let i = 0; i < n; i++) listStart[assign[i]! + 1]!++;
    for (let l = 0; l < nlist; l++) listStart[l + 1]! += listStart[l]!;
    const fill = listStart.slice(0, nlist);
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) ids[fill[assign[i]!]!++] = i;
    if (spec.type === "IVF_FLAT") {
      const flat = new Float32Array(n * dim);
      for (let p = 0; p < n; p++) {
        const r = ids[p]!;
        flat.set(data.subarray(r * dim, (r + 1) * dim), p * dim);
      }
      return new IvfIndex(spec, cfg, n, { nlist, centroids, listStart, ids, flat });
    }
    const sq = trainSq8(data, n, dim);
    const codes = new Uint8Array(n * dim);
    const rowTerm = new Float32Array(n);
    for (let p = 0; p < n; p++) {
      encodeSq8Row(sq, data, ids[p]!, codes, p, dim);
      rowTerm[p] = sq8RowTerm(sq, codes, p, dim);
    }
    return new IvfIndex(spec, cfg, n, { nlist, centroids, listStart, ids, codes, sq, rowTerm });
  }

  get memoryBytes(): number {
    const p = this.parts;
    if (p === undefined) return 0;
    let b = p.centroids.byteLength + p.listStart.byteLength + p.ids.byteLength;
    if (p.flat !== undefined) b += p.flat.byteLength;
    if (p.codes !== undefined) b += p.codes.byteLength + p.rowTerm!.byteLength + 8 * this.dim;
    return b;
  }

  /** The spec with its resolved parameters (nlist as built). */
  spec(): IndexSpec {
    return {
      type: this.type,
      metric: this.metric,
      dim: this.dim,
      params: { nlist: this.config.nlist, seed: this.config.seed },
    };
  }

  /** Sizes of the inverted lists (for tests and stats). */
  listSizes(): Uint32Array {
    const p = this.live();
    const out = new Uint32Array(p.nlist);
    for (let l = 0; l < p.nlist; l++) out[l] = p.listStart[l + 1]! - p.listStart[l]!;
    return out;
  }

  prefersExactScan(passing: number, _k: number, params: SearchParams = {}): boolean {
    const n = this.count;
    if (passing <= 0 || passing >= n) return passing <= 0;
    const p = this.live();
    const nprobe = Math.min(p.nlist, intParam(params, "nprobe", 1, 65536, DEFAULT_NPROBE, this.type));
    // A filtered search scores about as many passing rows as an unfiltered one scans (R) and checks
    // R/s rows against the filter; scoring only the passing rows is cheaper once they are fewer.
    return passing <= (n * nprobe) / p.nlist;
  }

  search(
    queries: IndexQueries,
    nq: number,
    k: number,
    params: SearchParams = {},
    filter?: Uint8Array,
  ): SearchResult {
    const p = this.live();
    const topk = checkSearchArgs(this, queries, nq, k, filter);
    const nprobe = Math.min(p.nlist, intParam(params, "nprobe", 1, 65536, DEFAULT_NPROBE, this.type));
    const n = this.count;
    if (n === 0) return emptyResult(nq, topk);
    const passing = filter === undefined ? n : estimatePassing(filter);
    if (passing === 0) return emptyResult(nq, topk);
    const f = passing === n ? undefined : filter;
    const heaps = new TopKHeaps(nq, topk);
    const dim = this.dim;
    const q = new Float64Array(dim);
    const qa = new Float64Array(dim);
    const order = Int32Array.from({ length: p.nlist }, (_, i) => i);
    const cscore = new Float64Array(p.nlist);
    const Q = queries as Float32Array;
    for (let qi = 0; qi < nq; qi++) {
      let qq = 0;
      for (let j = 0; j < dim; j++) {
        q[j] = Q[qi * dim + j]!;
        qq += q[j]! * q[j]!;
      }
      if (this.metric === "COSINE" && qq > 0) {
        const inv = 1 / Math.sqrt(qq);
        for (let j = 0; j < dim; j++) q[j]! *= inv;
      }
      this.rankLists(p, q, order, cscore, f === undefined ? nprobe : p.nlist);
      let R = 0;
      for (let i = 0; i < nprobe; i++) R += p.listStart[order[i]! + 1]! - p.listStart[order[i]!]!;
      const c = this.prepareQuery(p, q, qa);
      if (f === undefined) {
        for (let i = 0; i < nprobe; i++) this.scanList(p, order[i]!, qa, c, heaps, qi, undefined);
      } else if (passing * passing <= R * n) {
        for (let l = 0; l < p.nlist; l++) this.scanList(p, l, qa, c, heaps, qi, f);
      } else {
        let seen = 0;
        const target = (R * n) / passing;
        for (let i = 0; i < p.nlist && (i < nprobe || seen < target); i++) {
          seen += this.scanList(p, order[i]!, qa, c, heaps, qi, f);
        }
      }
    }
    return heaps.finish(largerIsBetter(this.metric));
  }

  close(): void {
    this.parts = undefined;
  }

  private live(): IvfParts {
    if (this.parts === undefined) throw closedError(this.type);
    return this.parts;
  }

  /** Orders list ids by how promising their centroid is; only the first `need` must be right. */
  private rankLists(
    p: IvfParts,
    q: Float64Array,
    order: Int32Array,
    score: Float64Array,
    need: number,
  ): void {
    const dim = this.dim;
    for (let l = 0; l < p.nlist; l++) {
      const o = l * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) {
        const d = q[j]! - p.centroids[o + j]!;
        s += d * d;
      }
      score[l] = s;
      order[l] = l;
    }
    if (need >= p.nlist || need * 8 > p.nlist) {
      order.sort((a, b) => score[a]! - score[b]! || a - b);
      return;
    }
    // Few lists wanted: selection of the best `need` into the front, then sort only those.
    for (let i = 0; i < need; i++) {
      let best = i;
      for (let j = i + 1; j < p.nlist; j++) {
        const a = order[j]!;
        const b = order[best]!;
        if (score[a]! < score[b]! || (score[a] === score[b] && a < b)) best = j;
      }
      const t = order[i]!;
      order[i] = order[best]!;
      order[best] = t;
    }
  }

  /**
   * The per-query form the scan kernels read, into `qa`; returns the constant term:
   * FLAT: qa = q, constant 0. SQ8 L2: qa_d = (q_d − min_d)·scale_d, constant Σ(q_d − min_d)².
   * SQ8 IP: qa_d = q_d·scale_d, constant Σ q_d·min_d.
   */
  private prepareQuery(p: IvfParts, q: Float64Array, qa: Float64Array): number {
    const dim = this.dim;
    if (p.sq === undefined) {
      qa.set(q);
      return 0;
    }
    const { min, scale } = p.sq;
    let c = 0;
    if (this.metric === "L2") {
      for (let j = 0; j < dim; j++) {
        const a = q[j]! - min[j]!;
        qa[j] = a * scale[j]!;
        c += a * a;
      }
    } else {
      for (let j = 0; j < dim; j++) {
        qa[j] = q[j]! * scale[j]!;
        c += q[j]! * min[j]!;
      }
    }
    return c;
  }

  /** Scans list l for query qi; returns how many rows passed the filter. */
  private scanList(
    p: IvfParts,
    l: number,
    qa: Float64Array,
    c: number,
    heaps: TopKHeaps,
    qi: number,
    filter: Uint8Array | undefined,
  ): number {
    const dim = this.dim;
    const d4 = dim & ~3;
    const b = p.listStart[l]!;
    const e = p.listStart[l + 1]!;
    const ids = p.ids;
    const l2 = this.metric === "L2";
    const bound = heaps.bound;
    let passed = 0;
    if (p.flat !== undefined) {
      const X = p.flat;
      for (let r = b; r < e; r++) {
        const id = ids[r]!;
        if (filter !== undefined && filter[id] === 0) continue;
        passed++;
        const o = r * dim;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let j = 0;
        if (l2) {
          for (; j < d4; j += 4) {
            const a0 = qa[j]! - X[o + j]!;
            const a1 = qa[j + 1]! - X[o + j + 1]!;
            const a2 = qa[j + 2]! - X[o + j + 2]!;
            const a3 = qa[j + 3]! - X[o + j + 3]!;
            s0 += a0 * a0;
            s1 += a1 * a1;
            s2 += a2 * a2;
            s3 += a3 * a3;
          }
          for (; j < dim; j++) {
            const a = qa[j]! - X[o + j]!;
            s0 += a * a;
          }
          const key = Math.fround(s0 + s1 + s2 + s3);
          if (key <= bound[qi]!) heaps.push(qi, key, id);
        } else {
          for (; j < d4; j += 4) {
            s0 += qa[j]! * X[o + j]!;
            s1 += qa[j + 1]! * X[o + j + 1]!;
            s2 += qa[j + 2]! * X[o + j + 2]!;
            s3 += qa[j + 3]! * X[o + j + 3]!;
          }
          for (; j < dim; j++) s0 += qa[j]! * X[o + j]!;
          const key = Math.fround(-(s0 + s1 + s2 + s3));
          if (key <= bound[qi]!) heaps.push(qi, key, id);
        }
      }
      return passed;
    }
    const C = p.codes!;
    const T = p.rowTerm!;
    for (let r = b; r < e; r++) {
      const id = ids[r]!;
      if (filter !== undefined && filter[id] === 0) continue;
      passed++;
      const o = r * dim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let j = 0;
      for (; j < d4; j += 4) {
        s0 += qa[j]! * C[o + j]!;
        s1 += qa[j + 1]! * C[o + j + 1]!;
        s2 += qa[j + 2]! * C[o + j + 2]!;
        s3 += qa[j + 3]! * C[o + j + 3]!;
      }
      for (; j < dim; j++) s0 += qa[j]! * C[o + j]!;
      const dot = s0 + s1 + s2 + s3;
      const key = l2 ? Math.fround(Math.max(0, c - 2 * dot + T[r]!)) : Math.fround(-(c + dot));
      if (key <= bound[qi]!) heaps.push(qi, key, id);
    }
    return passed;
  }

  /**
   * The index as bytes: a small header (version, kind, dim, rows, nlist) then the arrays, each at
   * an 8-byte-aligned offset so fromPayload can view them in place.
   */
  toPayload(): Uint8Array {
    const p = this.live();
    const sections: ArrayBufferView[] = [p.centroids, p.listStart, p.ids];
    if (p.flat !== undefined) sections.push(p.flat);
    else sections.push(p.sq!.min, p.sq!.scale, p.rowTerm!, p.codes!);
    let size = 24;
    for (const s of sections) size = align8(size) + s.byteLength;
    const out = new Uint8Array(align8(size));
    const dv = new DataView(out.buffer);
    dv.setUint32(0, PAYLOAD_VERSION, true);
    dv.setUint32(4, p.flat !== undefined ? KIND_FLAT : KIND_SQ8, true);
    dv.setUint32(8, this.dim, true);
    dv.setUint32(12, this.count, true);
    dv.setUint32(16, p.nlist, true);
    let at = 24;
    for (const s of sections) {
      at = align8(at);
      out.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength), at);
      at += s.byteLength;
    }
    return out;
  }

  /**
   * Rebuilds an index from toPayload() bytes (already checksummed by the caller). Views the
   * arrays in place when `bytes` is 8-byte aligned, else copies once. Throws Corrupted if the
   * payload does not match the spec or is internally inconsistent.
   */
  static fromPayload(spec: IndexSpec, count: number, bytes: Uint8Array): IvfIndex {
    const corrupt = (m: string): never => {
      throw new StrataError("Corrupted", `IVF payload: ${m}`);
    };
    if (bytes.byteLength < 24) corrupt("too short");
    const buf = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const version = dv.getUint32(0, true);
    const kind = dv.getUint32(4, true);
    const dim = dv.getUint32(8, true);
    const n = dv.getUint32(12, true);
    const nlist = dv.getUint32(16, true);
    if (version !== PAYLOAD_VERSION) corrupt(`unknown payload version ${version}`);
    if (kind !== (spec.type === "IVF_FLAT" ? KIND_FLAT : KIND_SQ8))
      corrupt(`kind ${kind} does not match ${spec.type}`);
    if (dim !== spec.dim || n !== count)
      corrupt(`dim ${dim} × ${n} rows, header says ${spec.dim} × ${count}`);
    if (nlist < 1 || nlist > 65536) corrupt(`nlist ${nlist}`);
    let at = 24;
    const take = <T>(
      len: number,
      bytesPer: number,
      make: (b: ArrayBufferLike, o: number, l: number) => T,
    ): T => {
      at = align8(at);
      if (at + len * bytesPer > buf.byteLength) corrupt("truncated");
      const v = make(buf.buffer, buf.byteOffset + at, len);
      at += len * bytesPer;
      return v;
    };
    const f32 = (b: ArrayBufferLike, o: number, l: number) => new Float32Array(b, o, l);
    const centroids = take(nlist * dim, 4, f32);
    const listStart = take(nlist + 1, 4, (b, o, l) => new Uint32Array(b, o, l));
    const ids = take(n, 4, (b, o, l) => new Int32Array(b, o, l));
    if (listStart[0] !== 0 || listStart[nlist] !== n) corrupt("list boundaries do not cover the rows");
    for (let l = 0; l < nlist; l++)
      if (listStart[l]! > listStart[l + 1]!) corrupt("list boundaries out of order");
    for (let i = 0; i < n; i++) if (ids[i]! < 0 || ids[i]! >= n) corrupt("row offset out of range");
    const cfg: IvfConfig = { nlist, seed: intParam(spec.params, "seed", 0, 0xffffffff, 42, spec.type) };
    if (kind === KIND_FLAT) {
      const flat = take(n * dim, 4, f32);
      return new IvfIndex(spec, cfg, n, { nlist, centroids, listStart, ids, flat });
    }
    const min = take(dim, 4, f32);
    const scale = take(dim, 4, f32);
    const rowTerm = take(n, 4, f32);
    const codes = take(n * dim, 1, (b, o, l) => new Uint8Array(b, o, l));
    return new IvfIndex(spec, cfg, n, {
      nlist,
      centroids,
      listStart,
      ids,
      codes,
      sq: { min, scale },
      rowTerm,
    });
  }
}

function align8(x: number): number {
  return (x + 7) & ~7;
}

import type { Column } from "../common/column.ts";
import type { Logger } from "../common/log.ts";
import { DataType } from "../common/types.ts";
import { countPassing, nativeSearch, SearchPool, searchExact } from "../index/index.ts";
import type { SegmentSearch } from "./search.ts";

/** Scans at least this big (allowed rows × row cost × nq) start the node's own worker pool. */
const POOL_START_WORK = 1 << 20;

function rowCost(c: Column): number {
  switch (c.type) {
    case DataType.BinaryVector:
      return Math.max(1, c.dim / 32);
    case DataType.SparseFloatVector:
      return 16;
    default:
      return "dim" in c ? c.dim : 1;
  }
}

/**
 * The per-segment exact top-k: the `src/index` brute-force kernels over the segment's vector
 * column, restricted by the request's bitset; the only call site of the search kernels. With a
 * pool, large scans run on its worker threads (dense vectors already sit on SharedArrayBuffers, so
 * they are not copied) and small ones inline. A node without a shared pool starts its own the
 * first time a scan is large enough to be worth it (starting workers costs most of a second, which
 * a node that only ever sees small scans should not pay); until it is up, scans run inline.
 */
export class SearchRunner {
  private readonly shared: SearchPool | undefined;
  private readonly workers: number;
  private readonly log: Logger;
  private own: SearchPool | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;

  constructor(shared: SearchPool | undefined, workers: number, log: Logger) {
    this.shared = shared;
    this.workers = workers;
    this.log = log;
  }

  readonly search: SegmentSearch = async (column, metric, queries, nq, topk, allow) => {
    if (queries instanceof Float32Array) {
      const native = nativeSearch(column, queries, nq, metric, topk, allow);
      if (native !== undefined) return { offsets: native.offsets, scores: native.scores };
    }
    const req = { queries, nq, metric, topk, bitset: allow };
    const pool = this.pool(column, nq, allow);
    const r =
      pool === undefined
        ? searchExact({ vectors: column, ...req })
        : await pool.search({ segment: column, ...req });
    return { offsets: r.offsets, scores: r.scores };
  };

  async close(): Promise<void> {
    this.closed = true;
    await this.starting;
    await this.own?.close();
    this.own = undefined;
  }

  private pool(column: Column, nq: number, allow: Uint8Array): SearchPool | undefined {
    // Float vectors live on plain buffers for the native scan; the pool would copy them per search.
    if (column.type === DataType.FloatVector && !(column.data.buffer instanceof SharedArrayBuffer))
      return undefined;
    if (this.shared !== undefined) return this.shared;
    if (this.own !== undefined || this.workers === 0 || this.starting !== undefined || this.closed)
      return this.own;
    if (countPassing(allow) * rowCost(column) * nq < POOL_START_WORK) return undefined;
    this.starting = SearchPool.start({ size: this.workers, logger: this.log })
      .then(async (p) => {
        if (this.closed) await p.close();
        else this.own = p;
      })
      .catch((e: unknown) =>
        this.log.warn({ err: e }, "search workers did not start; scans stay on the event loop"),
      );
    return undefined;
  }
}

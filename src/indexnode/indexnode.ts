import { mkdir, rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { ERRORS, isStrataError, StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import {
  buildIndex,
  isMetricType,
  isVectorIndexType,
  type MetricType,
  type VectorIndexType,
} from "../index/index.ts";
import type { ObjectStore } from "../objectstore/types.ts";
import { readVectors } from "./read-vectors.ts";
import type { BuildJob, IndexNode, JobState, JobStatus } from "./types.ts";

export interface IndexNodeDeps {
  readonly nodeId: number;
  readonly objects: ObjectStore;
  readonly logger: Logger;
}

export interface IndexNodeOptions {
  /** Builds running at once. Default 1: one build already keeps `buildThreads` cores busy. */
  readonly slots?: number;
  /** Native threads per build. Default os.availableParallelism(). */
  readonly buildThreads?: number;
  /**
   * Scratch directory for builds (HNSW goes through a file); wiped at start, so a build killed
   * mid-way leaves nothing behind. Default: os.tmpdir() (not wiped).
   */
  readonly tmpDir?: string;
}

interface Entry {
  readonly job: BuildJob;
  state: JobState;
  fileSize: number;
  failReason: string;
  retriable: boolean;
  readonly abort: AbortController;
}

function invalid(msg: string): StrataError {
  return new StrataError("ParameterInvalid", `index job: ${msg}`);
}

function checkJob(j: BuildJob): void {
  if (typeof j?.buildId !== "bigint" || typeof j.segmentId !== "bigint" || typeof j.collectionId !== "bigint")
    throw invalid("buildId, segmentId and collectionId must be bigint IDs");
  if (!Number.isSafeInteger(j.version) || j.version < 1) throw invalid("version must be a positive integer");
  if (!isVectorIndexType(j.indexType)) throw invalid(`${String(j.indexType)} is not a buildable index type`);
  if (!isMetricType(j.metricType)) throw invalid(`unknown metric ${String(j.metricType)}`);
  if (!Number.isSafeInteger(j.rows) || j.rows < 1) throw invalid("rows must be a positive integer");
  if (!Array.isArray(j.binlogs) || j.binlogs.some((b) => typeof b !== "string"))
    throw invalid("binlogs must be a list of object keys");
  if (typeof j.fileKey !== "string" || j.fileKey === "") throw invalid("fileKey is required");
}

/** Whether running the same build again could succeed. */
function retriable(e: unknown): boolean {
  if (!isStrataError(e)) return true;
  if (e.code === "ServiceInternal") return true; // the worker died (memory, a native fault)
  return ERRORS[e.code].retriable;
}

class IndexNodeImpl implements IndexNode {
  readonly nodeId: number;
  readonly #d: IndexNodeDeps;
  readonly #slots: number;
  readonly #threads: number;
  readonly #tmpDir: string | undefined;
  readonly #jobs = new Map<bigint, Entry>();
  readonly #queue: bigint[] = [];
  readonly #running = new Set<Promise<void>>();
  #closed = false;

  constructor(deps: IndexNodeDeps, o: IndexNodeOptions) {
    this.nodeId = deps.nodeId;
    this.#d = deps;
    const slots = o.slots ?? 1;
    const threads = o.buildThreads ?? availableParallelism();
    if (!Number.isSafeInteger(slots) || slots < 1) throw invalid(`slots must be a positive integer`);
    if (!Number.isSafeInteger(threads) || threads < 1 || threads > 1024)
      throw invalid("buildThreads must be an integer in [1, 1024]");
    this.#slots = slots;
    this.#threads = threads;
    this.#tmpDir = o.tmpDir;
  }

  async start(): Promise<void> {
    this.#open();
    if (this.#tmpDir !== undefined) {
      await rm(this.#tmpDir, { recursive: true, force: true });
      await mkdir(this.#tmpDir, { recursive: true });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const e of this.#jobs.values()) e.abort.abort();
    this.#queue.length = 0;
    await Promise.allSettled([...this.#running]);
    this.#jobs.clear();
  }

  #open(): void {
    if (this.#closed) throw new StrataError("Closed", `index node ${this.nodeId} is closed`);
  }

  async createJob(job: BuildJob): Promise<void> {
    this.#open();
    checkJob(job);
    const cur = this.#jobs.get(job.buildId);
    if (cur !== undefined) {
      if (cur.job.version >= job.version) return;
      this.#forget(job.buildId);
    }
    this.#jobs.set(job.buildId, {
      job,
      state: "Queued",
      fileSize: 0,
      failReason: "",
      retriable: false,
      abort: new AbortController(),
    });
    this.#queue.push(job.buildId);
    this.#pump();
  }

  async queryJobs(buildIds: readonly bigint[]): Promise<JobStatus[]> {
    return buildIds.map((buildId) => {
      const e = this.#jobs.get(buildId);
      if (e === undefined)
        return { buildId, version: 0, state: "Unknown", fileSize: 0, failReason: "", retriable: true };
      return {
        buildId,
        version: e.job.version,
        state: e.state,
        fileSize: e.fileSize,
        failReason: e.failReason,
        retriable: e.retriable,
      };
    });
  }

  async dropJobs(buildIds: readonly bigint[]): Promise<void> {
    for (const id of buildIds) this.#forget(id);
  }

  stats(): { running: number; queued: number; slots: number } {
    return { running: this.#running.size, queued: this.#queue.length, slots: this.#slots };
  }

  #forget(buildId: bigint): void {
    const e = this.#jobs.get(buildId);
    if (e === undefined) return;
    e.abort.abort();
    this.#jobs.delete(buildId);
    const i = this.#queue.indexOf(buildId);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  #pump(): void {
    while (!this.#closed && this.#running.size < this.#slots && this.#queue.length > 0) {
      const id = this.#queue.shift() as bigint;
      const e = this.#jobs.get(id);
      if (e === undefined || e.state !== "Queued") continue;
      const p = this.#run(e).finally(() => {
        this.#running.delete(p);
        this.#pump();
      });
      this.#running.add(p);
    }
  }

  async #run(e: Entry): Promise<void> {
    const { job, abort } = e;
    const log = this.#d.logger.child({ buildId: String(job.buildId), segmentId: String(job.segmentId) });
    e.state = "InProgress";
    const t0 = performance.now();
    try {
      const vectors = await readVectors(this.#d.objects, job, abort.signal);
      const spec = {
        type: job.indexType as VectorIndexType,
        metric: job.metricType as MetricType,
        dim: job.dim,
        params: job.params,
      };
      const bytes = await buildIndex(
        { spec, vectors, threads: this.#threads },
        {
          signal: abort.signal,
          transferVectors: true, // read for this build only
          ...(this.#tmpDir === undefined ? {} : { tmpDir: this.#tmpDir }),
        },
      );
      if (abort.signal.aborted) throw new StrataError("Closed", "index build aborted");
      await this.#d.objects.put(job.fileKey, bytes);
      e.fileSize = bytes.byteLength;
      e.state = "Finished";
      log.info(
        {
          rows: job.rows,
          type: job.indexType,
          ms: Math.round(performance.now() - t0),
          bytes: bytes.byteLength,
        },
        "index built",
      );
    } catch (err) {
      if (abort.signal.aborted) return; // dropped or closing: nobody asks any more
      e.state = "Failed";
      e.failReason = err instanceof Error ? err.message : String(err);
      e.retriable = retriable(err);
      log.warn({ err, retriable: e.retriable }, "index build failed");
    }
  }
}

/** An index node (DESIGN.md §2): builds indexes the dataservice hands out. */
export function createIndexNode(deps: IndexNodeDeps, options: IndexNodeOptions = {}): IndexNode {
  return new IndexNodeImpl(deps, options);
}

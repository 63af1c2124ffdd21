import { isStrataError } from "../common/errors.ts";
import { decodeJsonBytes, encodeJsonBytes } from "../common/json.ts";
import type { Logger } from "../common/log.ts";
import { Mutex } from "../common/mutex.ts";
import type { DataType } from "../common/types.ts";
import { isExactIndexType } from "../index/params.ts";
import type { BuildJob, IndexNode } from "../indexnode/types.ts";
import type { MetaKv } from "../kv/types.ts";
import type { ObjectStore } from "../objectstore/types.ts";
import {
  type IndexDefinition,
  type SegmentIndexBuild,
  type SegmentIndexFile,
  type SegmentInfo,
  SegmentState,
} from "./types.ts";

const PREFIX = "dataservice/build/";
/** Index files live under `index_files/<buildId>/<version>/<segmentId>`: one prefix per build. */
export const INDEX_FILES = "index_files/";

const keyOf = (b: SegmentIndexBuild): string => `${PREFIX}${b.collectionId}/${b.buildId}`;
const fileKeyOf = (b: SegmentIndexBuild, version: number): string =>
  `${INDEX_FILES}${b.buildId}/${version}/${b.segmentId}`;

export function needsBuild(def: IndexDefinition): boolean {
  return !isExactIndexType(def.resolvedType);
}

export interface BuildsDeps {
  readonly kv: MetaKv;
  readonly objects: ObjectStore | undefined;
  readonly logger: Logger;
  /** Registered index nodes (in-process or clients), in a stable order. */
  readonly indexNodes: () => readonly IndexNode[];
  readonly segment: (segmentId: bigint) => SegmentInfo | undefined;
  readonly field: (
    collectionId: bigint,
    fieldId: number,
  ) => Promise<{ dataType: DataType; dim: number } | undefined>;
  readonly definition: (collectionId: bigint, indexId: bigint) => IndexDefinition | undefined;
  readonly allocId: () => Promise<bigint>;
}

export interface BuildsOptions {
  /** Flushed segments with fewer rows are not indexed (they are scanned). Default 1024. */
  readonly minRows: number;
  /** How often builds are handed out and polled. Default 500 ms. */
  readonly pollMs: number;
  /** Retriable failures before a build is given up. Default 3. */
  readonly maxFailures: number;
}

/**
 * The index builds of every flushed segment (the index half of Milvus' data coordinator).
 *
 * Each (segment, index) pair above `minRows` rows gets one persisted record
 * (`dataservice/build/<collection>/<build>`), written before anything else happens to it:
 * Unissued → InProgress (with the node and a new attempt number, persisted before the job is sent)
 * → Finished (file key and size, persisted when the node reports the file written) or back to
 * Unissued on a retriable failure or a node that no longer knows the job (it restarted), or Failed
 * for good. So after any crash the records say what to do: Unissued and InProgress builds are
 * handed out again with the next attempt number, and each attempt writes its own key, so a
 * half-finished attempt can never be taken for a finished one.
 *
 * Files: `index_files/<build>/<attempt>/<segment>`. Superseded attempts are deleted when a build is
 * re-issued, every file of a build when its index, segment or collection goes, and at start a sweep
 * deletes whatever no record names (attempts a crash left behind).
 */
export class IndexBuilds {
  readonly #d: BuildsDeps;
  readonly #o: BuildsOptions;
  readonly #mutex = new Mutex();
  readonly #builds = new Map<bigint, SegmentIndexBuild>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #sweep: Promise<void> | undefined;
  #closed = false;

  constructor(deps: BuildsDeps, options: BuildsOptions) {
    this.#d = deps;
    this.#o = options;
  }

  async load(): Promise<void> {
    this.#builds.clear();
    for (const e of await this.#d.kv.getPrefix(PREFIX)) {
      const b = decodeJsonBytes<SegmentIndexBuild>(e.value, `build record ${e.key}`);
      this.#builds.set(b.buildId, b);
    }
  }

  /** Starts the hand-out/poll loop and sweeps files no record names. */
  start(): void {
    this.#timer = setInterval(() => this.kick(), this.#o.pollMs);
    this.#timer.unref();
    this.#sweep = this.#sweepOrphans().catch((e: unknown) =>
      this.#d.logger.warn({ err: e }, "index file sweep failed"),
    );
    this.kick();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#sweep;
    await this.#running;
  }

  /** Runs one scheduling round soon (after a flush, a createIndex, a node registering). */
  kick(): void {
    if (this.#closed || this.#running !== undefined) return;
    this.#running = this.#mutex
      .run(() => this.#round())
      .catch((e: unknown) => {
        if (!this.#closed) this.#d.logger.warn({ err: e }, "index build round failed");
      })
      .finally(() => {
        this.#running = undefined;
      });
  }

  list(collectionId: bigint): SegmentIndexBuild[] {
    return [...this.#builds.values()].filter((b) => b.collectionId === collectionId);
  }

  finished(segmentIds: readonly bigint[]): SegmentIndexFile[] {
    const want = new Set(segmentIds);
    const out: SegmentIndexFile[] = [];
    for (const b of this.#builds.values()) {
      if (b.state !== "Finished" || !want.has(b.segmentId)) continue;
      const def = this.#d.definition(b.collectionId, b.indexId);
      if (def === undefined) continue;
      out.push({
        segmentId: b.segmentId,
        fieldId: b.fieldId,
        indexId: b.indexId,
        buildId: b.buildId,
        indexType: def.resolvedType,
        metricType: def.metricType,
        fileKey: b.fileKey,
        fileSize: b.fileSize,
        rows: b.rows,
      });
    }
    return out;
  }

  /**
   * Records the builds that `defs` need on `segments` and do not have yet (flushed, big enough).
   * Called after createIndex and after a segment is flushed; idempotent.
   */
  ensure(defs: readonly IndexDefinition[], segments: readonly SegmentInfo[]): Promise<void> {
    return this.#mutex.run(async () => {
      const have = new Set<string>();
      for (const b of this.#builds.values()) have.add(`${b.segmentId}/${b.indexId}`);
      const fresh: SegmentIndexBuild[] = [];
      for (const s of segments) {
        if (s.state !== SegmentState.FLUSHED || s.persistedRows < this.#o.minRows) continue;
        for (const def of defs) {
          if (def.collectionId !== s.collectionId || !needsBuild(def)) continue;
          if (have.has(`${s.segmentId}/${def.indexId}`)) continue;
          fresh.push({
            buildId: await this.#d.allocId(),
            indexId: def.indexId,
            collectionId: s.collectionId,
            partitionId: s.partitionId,
            segmentId: s.segmentId,
            fieldId: def.fieldId,
            rows: s.persistedRows,
            state: "Unissued",
            version: 0,
            nodeId: 0,
            fileKey: "",
            fileSize: 0,
            failReason: "",
            failures: 0,
          });
        }
      }
      for (const b of fresh) await this.#save(b);
      if (fresh.length > 0) {
        this.#d.logger.info({ builds: fresh.length }, "index builds recorded");
        queueMicrotask(() => this.kick());
      }
    });
  }

  /** Forgets the builds `drop` selects: aborts their jobs, deletes their records and files. */
  remove(drop: (b: SegmentIndexBuild) => boolean): Promise<void> {
    return this.#mutex.run(async () => {
      const gone = [...this.#builds.values()].filter(drop);
      if (gone.length === 0) return;
      const ids = gone.map((b) => b.buildId);
      for (const n of this.#d.indexNodes()) await n.dropJobs(ids).catch(() => undefined);
      for (const b of gone) {
        await this.#d.kv.delete(keyOf(b));
        this.#builds.delete(b.buildId);
      }
      for (const b of gone) await this.#deleteFiles(`${INDEX_FILES}${b.buildId}/`);
    });
  }

  /** A reader found `fileKey` damaged: rebuild (the file is deleted when the build is re-issued). */
  fault(buildId: bigint, fileKey: string, reason: string): Promise<void> {
    return this.#mutex.run(async () => {
      const b = this.#builds.get(buildId);
      if (b === undefined || b.state !== "Finished" || b.fileKey !== fileKey) return;
      await this.#save({ ...b, state: "Unissued", nodeId: 0, fileKey: "", fileSize: 0, failReason: reason });
      this.#d.logger.warn(
        { buildId: String(buildId), segmentId: String(b.segmentId), reason },
        "index file reported damaged; rebuilding",
      );
      queueMicrotask(() => this.kick());
    });
  }

  async #save(b: SegmentIndexBuild): Promise<void> {
    await this.#d.kv.put(keyOf(b), encodeJsonBytes(b));
    this.#builds.set(b.buildId, b);
  }

  async #round(): Promise<void> {
    if (this.#closed) return;
    const nodes = this.#d.indexNodes();
    await this.#poll(nodes);
    await this.#issue(nodes);
  }

  /** Asks each node about the builds it holds and moves their records on. */
  async #poll(nodes: readonly IndexNode[]): Promise<void> {
    const byNode = new Map<number, SegmentIndexBuild[]>();
    for (const b of this.#builds.values()) {
      if (b.state !== "InProgress") continue;
      const list = byNode.get(b.nodeId) ?? [];
      list.push(b);
      byNode.set(b.nodeId, list);
    }
    for (const [nodeId, list] of byNode) {
      const node = nodes.find((n) => n.nodeId === nodeId);
      if (node === undefined) {
        // The node is gone: hand its builds out again.
        for (const b of list) await this.#save({ ...b, state: "Unissued", nodeId: 0 });
        continue;
      }
      const statuses = await node.queryJobs(list.map((b) => b.buildId));
      for (let i = 0; i < list.length; i++) {
        const b = list[i] as SegmentIndexBuild;
        const st = statuses[i];
        if (st === undefined) continue;
        if (st.state === "Unknown" || st.version !== b.version) {
          await this.#save({ ...b, state: "Unissued", nodeId: 0 });
        } else if (st.state === "Finished") {
          const done = {
            ...b,
            state: "Finished" as const,
            fileKey: fileKeyOf(b, b.version),
            fileSize: st.fileSize,
          };
          await this.#save(done);
          await node.dropJobs([b.buildId]);
          this.#d.logger.info(
            { buildId: String(b.buildId), segmentId: String(b.segmentId), bytes: st.fileSize },
            "segment index finished",
          );
        } else if (st.state === "Failed") {
          const failures = b.failures + 1;
          const final = !st.retriable || failures >= this.#o.maxFailures;
          await this.#save({
            ...b,
            state: final ? "Failed" : "Unissued",
            nodeId: 0,
            failures,
            failReason: st.failReason,
          });
          await node.dropJobs([b.buildId]);
          this.#d.logger.warn(
            { buildId: String(b.buildId), segmentId: String(b.segmentId), reason: st.failReason, final },
            "segment index build failed",
          );
        }
      }
    }
  }

  /** Hands Unissued builds to nodes with a free slot, oldest build first. */
  async #issue(nodes: readonly IndexNode[]): Promise<void> {
    if (nodes.length === 0) return;
    const waiting = [...this.#builds.values()]
      .filter((b) => b.state === "Unissued")
      .sort((a, b) => (a.buildId < b.buildId ? -1 : 1));
    const load = new Map<number, number>();
    for (const n of nodes) {
      const s = n.stats();
      load.set(n.nodeId, s.running + s.queued - s.slots);
    }
    for (const b of waiting) {
      let best: IndexNode | undefined;
      for (const n of nodes)
        if (
          (load.get(n.nodeId) ?? 0) < 0 &&
          (best === undefined || (load.get(n.nodeId) ?? 0) < (load.get(best.nodeId) ?? 0))
        )
          best = n;
      if (best === undefined) return;
      const job = await this.#job(b, b.version + 1);
      if (job === undefined) {
        await this.#save({ ...b, state: "Failed", failReason: "segment or field no longer exists" });
        continue;
      }
      // Attempts before this one may have left a file (a crash after the write): not served, so
      // delete. A build never handed out has none, and listing costs a request on S3.
      if (b.version > 0) await this.#deleteFiles(`${INDEX_FILES}${b.buildId}/`);
      await this.#save({ ...b, state: "InProgress", version: job.version, nodeId: best.nodeId });
      try {
        await best.createJob(job);
        load.set(best.nodeId, (load.get(best.nodeId) ?? 0) + 1);
      } catch (e) {
        if (!isStrataError(e, "Closed")) throw e;
        // Picked up again at the next poll (the node will not know the job).
      }
    }
  }

  async #job(b: SegmentIndexBuild, version: number): Promise<BuildJob | undefined> {
    const seg = this.#d.segment(b.segmentId);
    const def = this.#d.definition(b.collectionId, b.indexId);
    const field = await this.#d.field(b.collectionId, b.fieldId);
    if (seg === undefined || def === undefined || field === undefined) return undefined;
    const logs = seg.binlogs.find((f) => f.fieldId === b.fieldId)?.binlogs ?? [];
    return {
      buildId: b.buildId,
      version,
      collectionId: b.collectionId,
      segmentId: b.segmentId,
      fieldId: b.fieldId,
      dataType: field.dataType,
      dim: field.dim,
      indexType: def.resolvedType,
      metricType: def.metricType,
      params: def.params,
      binlogs: logs.map((l) => l.path),
      rows: b.rows,
      fileKey: fileKeyOf(b, version),
    };
  }

  async #deleteFiles(prefix: string): Promise<void> {
    const objects = this.#d.objects;
    if (objects === undefined) return;
    for (const o of await objects.list(prefix)) await objects.delete(o.key);
  }

  /** Deletes index files that no record names as its finished file or its current attempt. */
  async #sweepOrphans(): Promise<void> {
    const objects = this.#d.objects;
    if (objects === undefined) return;
    const listed = await objects.list(INDEX_FILES);
    await this.#mutex.run(async () => {
      let n = 0;
      for (const o of listed) {
        const [, build, version] = o.key.split("/");
        const b = /^\d+$/.test(build ?? "") ? this.#builds.get(BigInt(build as string)) : undefined;
        const live =
          b !== undefined &&
          String(b.version) === version &&
          (b.state === "Finished" || b.state === "InProgress");
        if (live) continue;
        await objects.delete(o.key);
        n++;
      }
      if (n > 0) this.#d.logger.info({ files: n }, "orphan index files deleted");
    });
  }
}

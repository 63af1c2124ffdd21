import type { Logger } from "../common/log.ts";
import { isVectorType } from "../common/types.ts";
import { type LoadIo, openIndexOrReport } from "./loading.ts";
import type { Replica } from "./replica.ts";
import { closeIndex } from "./segment.ts";

/**
 * Switches loaded sealed segments to indexes built after they were loaded (a segment flushed
 * before `createIndex`, or rebuilt after a damaged file). The raw vectors keep serving until the
 * index is open and attached in one synchronous step, so no request ever misses the segment; the
 * raw column is then let go (it is read again only when a request needs the vectors themselves).
 */
export class IndexRefresher {
  readonly #replica: Replica;
  readonly #io: LoadIo;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(replica: Replica, io: LoadIo, log: Logger) {
    this.#replica = replica;
    this.#io = io;
    this.#log = log;
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => this.kick(), intervalMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  /** One pass now, unless one is under way. Resolves when that pass is over. */
  kick(): Promise<void> {
    this.#running ??= this.#pass()
      .catch((e: unknown) => this.#log.warn({ err: e }, "index refresh failed"))
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  async #pass(): Promise<void> {
    const want: bigint[] = [];
    for (const seg of this.#replica.sealed.values()) {
      const coll = this.#replica.collections.get(seg.meta.collectionId);
      if (coll === undefined) continue;
      const missing = coll.fields.some(
        (f) => isVectorType(f.dataType) && seg.columns.has(f.fieldId) && !seg.indexes.has(f.fieldId),
      );
      if (missing) want.push(seg.meta.segmentId);
    }
    if (want.length === 0) return;
    const files = await this.#io.dataservice.getSegmentIndexes(want);
    for (const f of files) {
      const seg = this.#replica.sealed.get(f.segmentId);
      if (seg === undefined || seg.indexes.get(f.fieldId)?.file.buildId === f.buildId) continue;
      if (!seg.columns.has(f.fieldId)) continue;
      const x = await openIndexOrReport(this.#io, f);
      if (x === undefined) continue;
      // Released while the file was opened: nothing to switch.
      if (this.#replica.sealed.get(f.segmentId) !== seg) {
        closeIndex(x);
        continue;
      }
      seg.attachIndex(f.fieldId, x, true);
      this.#log.info(
        { segmentId: String(f.segmentId), fieldId: f.fieldId, type: f.indexType, buildId: String(f.buildId) },
        "segment switched to its index",
      );
    }
  }
}

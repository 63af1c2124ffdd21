/**
 * One etcd watch on its own gRPC stream. We drive the raw stream rather than etcd3's watch
 * manager so resume is exact: after a disconnect the watch is re-created from the revision after
 * the last one delivered (or after the creation revision when nothing was delivered yet), and any
 * event at or below the last delivered revision is dropped, so each event arrives exactly once.
 */
import type { IDuplexStream, IWatchRequest, IWatchResponse, WatchClient } from "etcd3";
import { StrataError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { WatchEvent, Watcher } from "../types.ts";
import { bytes, type Keyspace, mapError, num } from "./convert.ts";

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
const EMPTY = new Uint8Array(0);

export interface EtcdWatchParams {
  readonly client: WatchClient;
  readonly keyspace: Keyspace;
  readonly prefix: string;
  /** First revision to deliver; 0 = from now. */
  readonly fromRevision: number;
  readonly onEvent: (events: readonly WatchEvent[]) => void;
  readonly onError: ((err: Error) => void) | undefined;
  readonly logger: Logger;
  readonly onClosed: (w: EtcdWatch) => void;
}

export class EtcdWatch implements Watcher {
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  /** The next revision not yet delivered; 0 until the first creation tells us "now". */
  private nextRev: number;
  private closed = false;
  private backoff = MIN_BACKOFF_MS;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly p: EtcdWatchParams) {
    this.nextRev = p.fromRevision;
  }

  /** Resolves once etcd has created the watch; rejects if the first attempt fails. */
  start(): Promise<void> {
    return this.connect();
  }

  private connect(): Promise<void> {
    const range = this.p.keyspace.range(this.p.prefix);
    return this.p.client.watch().then(
      (stream) =>
        new Promise<void>((resolve, reject) => {
          if (this.closed) {
            stream.cancel();
            resolve();
            return;
          }
          this.stream = stream;
          let created = false;
          let ended = false;
          const lost = (err: Error): void => {
            if (ended) return;
            ended = true;
            if (this.stream === stream) this.stream = undefined;
            if (this.closed) {
              resolve();
              return;
            }
            if (!created) {
              reject(mapError(err, "etcd watch"));
              return;
            }
            this.p.logger.warn(
              { err, prefix: this.p.prefix, resumeFrom: this.nextRev },
              "etcd watch lost; resuming",
            );
            this.scheduleReconnect();
          };
          stream.on("data", (res: IWatchResponse) => {
            if (this.closed || ended) return;
            if (res.created && !res.canceled) {
              created = true;
              this.backoff = MIN_BACKOFF_MS;
              if (this.nextRev === 0) this.nextRev = num(res.header.revision) + 1;
              resolve();
            }
            if (res.canceled) {
              ended = true;
              stream.cancel();
              const compact = num(res.compact_revision);
              const err =
                compact > 0
                  ? new StrataError(
                      "KeyNotFound",
                      `etcd watch from revision ${this.nextRev}: compacted, the oldest revision held is ${compact}`,
                    )
                  : new StrataError("ServiceInternal", `etcd cancelled the watch: ${res.cancel_reason}`);
              if (!created) {
                reject(err);
              } else {
                this.fail(err);
              }
              return;
            }
            if (res.events.length > 0) this.deliver(res);
          });
          stream.on("error", (err: Error) => lost(err));
          stream.on("end", () => lost(new Error("watch stream ended")));
          stream.write({
            create_request: { key: range.key, range_end: range.range_end, start_revision: this.nextRev },
          });
        }),
    );
  }

  private deliver(res: IWatchResponse): void {
    const out: WatchEvent[] = [];
    let last = this.nextRev - 1;
    for (const ev of res.events) {
      const rev = num(ev.kv.mod_revision);
      // A resumed stream may repeat what was already delivered.
      if (rev < this.nextRev) continue;
      const del = String(ev.type).toUpperCase() === "DELETE";
      out.push({
        type: del ? "delete" : "put",
        key: this.p.keyspace.strip(ev.kv.key),
        value: del ? EMPTY : bytes(ev.kv.value),
        modRevision: rev,
      });
      if (rev > last) last = rev;
    }
    if (out.length === 0) return;
    this.nextRev = last + 1;
    try {
      this.p.onEvent(out);
    } catch (e) {
      this.p.logger.error({ err: e }, "meta watch callback threw");
      this.report(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private scheduleReconnect(): void {
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed) return;
      this.connect().catch((err: unknown) => {
        if (this.closed) return;
        if (err instanceof StrataError && err.code === "KeyNotFound") {
          this.fail(err);
          return;
        }
        this.p.logger.warn({ err, prefix: this.p.prefix }, "etcd watch reconnect failed; retrying");
        this.scheduleReconnect();
      });
    }, delay);
    this.retryTimer.unref();
  }

  private report(err: Error): void {
    try {
      this.p.onError?.(err);
    } catch {
      // The error handler's own failure has nowhere left to go.
    }
  }

  /** Ends the watch for good and tells the caller why. */
  private fail(err: Error): void {
    if (this.closed) return;
    void this.close();
    this.report(err);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
    this.p.onClosed(this);
  }
}

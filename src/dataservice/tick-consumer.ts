import { decodeJsonBytes } from "../common/json.ts";
import type { Logger } from "../common/log.ts";
import type { Consumer } from "../mq/types.ts";
import type { ChannelTickReport } from "./types.ts";
import { parseTickReport } from "./validate.ts";

export interface TickConsumerDeps {
  readonly consumer: Consumer;
  readonly running: () => boolean;
  /** Handles one report; `seq` is its position in the tick channel. */
  readonly handle: (report: ChannelTickReport, seq: number) => Promise<void>;
  /** Durably records that everything up to `seq` was handled. */
  readonly saveCheckpoint: (seq: number) => Promise<void>;
  readonly log: Logger;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Reads data-node tick reports until `running()` turns false or the consumer closes. Handling
 * is level-triggered (each report re-evaluates its channel), so per (channel, node) only the
 * newest report of a batch is handled, and a report whose handling failed is not retried: the
 * next one redoes the work.
 */
export async function consumeTicks(d: TickConsumerDeps): Promise<void> {
  while (d.running()) {
    let msgs: Awaited<ReturnType<Consumer["next"]>>;
    const asked = Date.now();
    try {
      msgs = await d.consumer.next(500);
    } catch (e) {
      if (!d.running()) break;
      d.log.warn({ err: e }, "tick channel read failed");
      await sleep(200);
      continue;
    }
    if (msgs.length === 0) {
      // An empty answer well before the timeout means the consumer is gone (e.g. the queue was
      // closed under us): back off instead of spinning.
      if (Date.now() - asked < 50) await sleep(200);
      continue;
    }
    const newest = new Map<string, { report: ChannelTickReport; seq: number }>();
    for (const m of msgs) {
      let report: ChannelTickReport | undefined;
      try {
        report = parseTickReport(decodeJsonBytes<unknown>(m.payload, "tick report"));
      } catch {
        report = undefined;
      }
      if (report === undefined) {
        d.log.warn({ seq: m.seq }, "malformed tick report skipped");
        continue;
      }
      const key = `${report.channel}\u0000${report.nodeId}`;
      newest.delete(key);
      newest.set(key, { report, seq: m.seq });
    }
    for (const { report, seq } of newest.values()) {
      if (!d.running()) return;
      try {
        await d.handle(report, seq);
      } catch (e) {
        if (!d.running()) return;
        d.log.warn({ err: e, channel: report.channel }, "tick report handling failed");
      }
    }
    const lastSeq = msgs[msgs.length - 1]?.seq;
    if (lastSeq !== undefined && d.running()) {
      try {
        await d.saveCheckpoint(lastSeq);
      } catch (e) {
        d.log.warn({ err: e }, "could not save the tick channel checkpoint");
      }
    }
  }
}

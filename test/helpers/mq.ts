import assert from "node:assert/strict";
import type { MessageQueue } from "../../src/mq/types.ts";

/**
 * Every record in `channel` up to its last one when called, in order. Reading "until a read comes
 * back empty" never ends while time ticks keep arriving faster than the read's wait (one CI run
 * spent 450 s in such a loop), so the end is fixed first.
 */
export async function readToEnd(
  mq: MessageQueue,
  channel: string,
): Promise<{ seq: number; payload: Uint8Array }[]> {
  const end = (await mq.lastSeq(channel)) ?? 0;
  const c = await mq.consume(channel, { kind: "earliest" });
  const out: { seq: number; payload: Uint8Array }[] = [];
  try {
    while ((out[out.length - 1]?.seq ?? 0) < end) {
      const batch = await c.next(2000);
      assert.ok(batch.length > 0, `channel ${channel} stalled before seq ${end}`);
      for (const m of batch) out.push({ seq: m.seq, payload: m.payload });
    }
  } finally {
    await c.close();
  }
  return out;
}

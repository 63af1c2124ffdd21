/**
 * The delete oracles of the data-node tests, computed from what the feeder produced: which segment
 * must hold each delete, that the committed delta logs hold it exactly once, and that no committed
 * checkpoint ever passed a delete its segment had not persisted yet.
 */
import assert from "node:assert/strict";
import { SegmentState } from "../../src/dataservice/types.ts";
import type { ObjectStore } from "../../src/objectstore/types.ts";
import type { FakeDataService } from "./fakes.ts";
import { type ExpectedRow, type Feeder, type ProducedDelete, readDeltas, readStats } from "./harness.ts";

type Pk = bigint | string;

const keyOf = (pk: Pk, ts: bigint): string => `${typeof pk}:${String(pk)}@${ts}`;

/** PK → the produced row holding it (the tests using this oracle never reuse a PK). */
function rowsByPk(feeder: Feeder): Map<Pk, ExpectedRow> {
  const out = new Map<Pk, ExpectedRow>();
  for (const row of feeder.rows.values()) {
    assert.ok(!out.has(row.pk), `test bug: pk ${String(row.pk)} produced twice`);
    out.set(row.pk, row);
  }
  return out;
}

/** The row a delete of `pk` must reach: produced before the delete, in the delete's partition scope. */
function target(rows: Map<Pk, ExpectedRow>, d: ProducedDelete, pk: Pk): ExpectedRow | undefined {
  const row = rows.get(pk);
  if (row === undefined || row.ts >= d.ts) return undefined;
  if (d.partitionId !== -1n && d.partitionId !== row.partitionId) return undefined;
  return row;
}

/**
 * Every delete of a produced row is in the delta logs of the segment holding the row exactly once,
 * with the delete's timestamp. Any other record in a segment's delta logs must be a PK filter false
 * positive: a PK the segment does not hold, that one of its stats logs may contain, of a delete in
 * the segment's partition scope; and it too is recorded at most once.
 * @returns how many records were false positives.
 */
export async function assertDeletesExactlyOnce(
  feeder: Feeder,
  ds: FakeDataService,
  objects: ObjectStore,
): Promise<{ expected: number; strays: number }> {
  const rows = rowsByPk(feeder);
  const byTs = new Map<bigint, ProducedDelete>(feeder.deletes.map((d) => [d.ts, d]));
  const want = new Map<bigint, Set<string>>();
  let expected = 0;
  for (const d of feeder.deletes) {
    for (const pk of d.pks) {
      const row = target(rows, d, pk);
      if (row === undefined) continue;
      const set = want.get(row.segmentId) ?? new Set<string>();
      want.set(row.segmentId, set);
      set.add(keyOf(pk, d.ts));
      expected++;
    }
  }
  let strays = 0;
  for (const seg of ds.segments.values()) {
    if (seg.channel !== feeder.channel) continue;
    const mine = want.get(seg.segmentId) ?? new Set<string>();
    const got = await readDeltas(objects, seg);
    const counts = new Map<string, number>();
    for (const g of got) counts.set(keyOf(g.pk, g.ts), (counts.get(keyOf(g.pk, g.ts)) ?? 0) + 1);
    for (const k of mine) {
      assert.equal(counts.get(k) ?? 0, 1, `segment ${seg.segmentId}: delete ${k} recorded`);
    }
    const stats = await readStats(objects, seg);
    for (const g of got) {
      const k = keyOf(g.pk, g.ts);
      if (mine.has(k)) continue;
      strays++;
      assert.equal(counts.get(k), 1, `segment ${seg.segmentId}: stray delete ${k} recorded twice`);
      const d = byTs.get(g.ts);
      assert.ok(d !== undefined, `segment ${seg.segmentId}: delete ${k} was never produced`);
      assert.ok(d.pks.includes(g.pk), `segment ${seg.segmentId}: delete ${k} names another pk`);
      assert.ok(
        rows.get(g.pk)?.segmentId !== seg.segmentId,
        `segment ${seg.segmentId}: delete ${k} is outside the delete's partition scope or predates the row`,
      );
      assert.ok(
        d.partitionId === -1n || d.partitionId === seg.partitionId,
        `segment ${seg.segmentId}: delete ${k} is for partition ${d.partitionId}`,
      );
      assert.ok(
        stats.some((s) => s.mayContain(g.pk)),
        `segment ${seg.segmentId}: delete ${k} routed though its PK filter excludes it`,
      );
    }
  }
  return { expected, strays };
}

/**
 * Over every committed saveBinlogPaths: a delete at or before the committed checkpoint has been
 * persisted by the segment holding its row (its persistedSeq passed the delete), flushed or not.
 */
export function assertDeleteCheckpointsSafe(ds: FakeDataService, feeder: Feeder): void {
  const rows = rowsByPk(feeder);
  for (const [i, { req, after }] of ds.saves.entries()) {
    if (req.channel !== feeder.channel) continue;
    for (const d of feeder.deletes) {
      if (d.seq > req.checkpoint.seq) continue;
      for (const pk of d.pks) {
        const row = target(rows, d, pk);
        if (row === undefined) continue;
        const s = after.get(row.segmentId);
        if (s === undefined || s.state === SegmentState.DROPPED) continue;
        assert.ok(
          s.persistedSeq >= d.seq,
          `save #${i} (segment ${req.segmentId}) committed checkpoint ${req.checkpoint.seq} past the delete ` +
            `of pk ${String(pk)} at seq ${d.seq}, not yet persisted by segment ${row.segmentId} (persistedSeq ${s.persistedSeq})`,
        );
      }
    }
  }
}

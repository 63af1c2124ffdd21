/**
 * One data-node test world: an embedded message queue and object store in a temp dir, the fake
 * dataservice and rootcoord with one collection on one DML channel, a feeder producing into it and
 * the tick reports, plus helpers to start nodes and flush segments.
 */
import assert from "node:assert/strict";
import type { CollectionSchemaInput } from "../../src/common/schema.ts";
import type { DataNode } from "../../src/datanode/index.ts";
import { SegmentState } from "../../src/dataservice/types.ts";
import { openEmbeddedMq } from "../../src/mq/index.ts";
import type { MessageQueue } from "../../src/mq/types.ts";
import { openLocalObjectStore } from "../../src/objectstore/index.ts";
import type { ObjectStore } from "../../src/objectstore/types.ts";
import { rng, tempDir } from "../helpers/env.ts";
import { FakeDataService, FakeRootCoord } from "./fakes.ts";
import { Feeder, SMALL_SCHEMA, schemaOf, startNode, TickReports } from "./harness.ts";

export const COLL = 1n;
export const P1 = 10n;
export const P2 = 11n;

export interface World {
  mq: MessageQueue;
  objects: ObjectStore;
  ds: FakeDataService;
  rc: FakeRootCoord;
  feeder: Feeder;
  ticks: TickReports;
  channel: string;
  nodes: DataNode[];
  node(options?: Parameters<typeof startNode>[2]): Promise<DataNode>;
  flushAll(node: DataNode, segmentIds: readonly bigint[]): Promise<void>;
  close(): Promise<void>;
}

let worldNo = 0;

export async function world(
  seed: number,
  schemaInput: CollectionSchemaInput = SMALL_SCHEMA,
  segments: [bigint, bigint][] = [],
): Promise<World> {
  const t = await tempDir("strata-dn-");
  const mq = await openEmbeddedMq({ dir: `${t.dir}/mq` });
  const objects = await openLocalObjectStore({ root: `${t.dir}/objects` });
  const prefix = `w${++worldNo}`;
  const channel = `dml_${prefix}_0`;
  const ds = new FakeDataService(prefix);
  const rc = new FakeRootCoord();
  const schema = schemaOf(schemaInput);
  rc.addCollection(COLL, schema, [channel]);
  ds.addChannel(channel, COLL);
  for (const [seg, part] of segments) ds.addSegment(seg, COLL, part, channel);
  await mq.ensureChannel(channel);
  const feeder = new Feeder(mq, channel, COLL, schema, rng(seed));
  // Like assignSegmentID: a segment's last assignment expiry covers every row written to it.
  feeder.onInsert = (segmentId, ts) => {
    const s = ds.segments.get(segmentId);
    if (s !== undefined && ts > s.lastExpireTime) s.lastExpireTime = ts;
  };
  const ticks = await TickReports.open(mq, ds.ttChannel);
  const nodes: DataNode[] = [];
  let nodeId = 0;
  const w: World = {
    mq,
    objects,
    ds,
    rc,
    feeder,
    ticks,
    channel,
    nodes,
    async node(options = {}) {
      const n = await startNode({ mq, objects, ds, rc }, ++nodeId, options);
      nodes.push(n);
      await n.watchDmChannels([channel]);
      return n;
    },
    async flushAll(node, segmentIds) {
      await node.flush({ dbId: 1n, collectionId: COLL, segmentIds });
      const seq = await feeder.tick();
      await ticks.waitSeq(channel, seq);
      for (const id of segmentIds)
        assert.equal(ds.seg(id).state, SegmentState.FLUSHED, `segment ${id} flushed`);
    },
    async close() {
      for (const n of nodes) await n.close();
      await ticks.close();
      await mq.close();
      await objects.close();
      await t.cleanup();
    },
  };
  return w;
}

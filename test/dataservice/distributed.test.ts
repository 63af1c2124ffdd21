import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { openEtcdKv } from "../../src/kv/index.ts";
import { openNatsMq } from "../../src/mq/index.ts";
import { etcdServer, natsServer, uniqueName } from "../helpers/env.ts";
import { dataServiceSuite } from "./contract.ts";
import type { Backend } from "./harness.ts";

const etcd = etcdServer();
const nats = natsServer();

/** Deletes every stream of the prefix (the fixture's whole NATS namespace). */
async function deleteStreams(servers: string[], prefix: string): Promise<void> {
  const nc = await connect({ servers });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const n of jsm.streams.names()) if (n.startsWith(`${prefix}_`)) names.push(n);
    for (const n of names) await jsm.streams.delete(n);
  } finally {
    await nc.close();
  }
}

dataServiceSuite("etcd and NATS JetStream", {
  skip: etcd.skip || nats.skip,
  async create() {
    const endpoints = etcd.value ?? [];
    const servers = nats.value ?? [];
    const kvPrefix = `${uniqueName("dstest")}/`;
    const mqPrefix = uniqueName("ds").replaceAll(".", "_").slice(0, 40);
    const open = async () => ({
      kv: await openEtcdKv({ endpoints, prefix: kvPrefix }),
      mq: await openNatsMq({ servers, prefix: mqPrefix }),
    });
    const b: Backend = {
      ...(await open()),
      async reopen() {
        await b.mq.close();
        await b.kv.close();
        Object.assign(b, await open());
      },
      async cleanup() {
        await b.mq.close();
        await b.kv.deletePrefix("");
        await b.kv.close();
        await deleteStreams(servers, mqPrefix);
      },
    };
    return b;
  },
});

import { join } from "node:path";
import type { StrataConfig } from "../common/config.ts";
import type { Logger } from "../common/log.ts";
import { openEmbeddedKv, openEtcdKv } from "../kv/index.ts";
import type { MetaKv } from "../kv/types.ts";
import { openEmbeddedMq, openNatsMq } from "../mq/index.ts";
import type { MessageQueue } from "../mq/types.ts";
import { openLocalObjectStore, openS3ObjectStore } from "../objectstore/index.ts";
import type { ObjectStore } from "../objectstore/types.ts";

/** The three backends a Strata process stands on (DESIGN.md §3). */
export interface Backends {
  readonly mq: MessageQueue;
  readonly kv: MetaKv;
  readonly objects: ObjectStore;
  /** Closes all three; idempotent. */
  close(): Promise<void>;
}

/**
 * The one place where backends are chosen from config. Roles receive the interfaces and never
 * learn which implementation they have.
 */
export async function openBackends(config: StrataConfig, log: Logger): Promise<Backends> {
  const opened: { close(): Promise<void> }[] = [];
  const closeAll = async () => {
    for (const b of opened.reverse()) await b.close();
    opened.length = 0;
  };
  try {
    const kv: MetaKv =
      config.kv.backend === "etcd"
        ? await openEtcdKv({
            endpoints: config.kv.etcd.endpoints,
            prefix: `${config.kv.rootPath}/`,
            logger: log.child({ backend: "etcd" }),
          })
        : await openEmbeddedKv({ dir: join(config.dataDir, "meta"), logger: log.child({ backend: "kv" }) });
    opened.push(kv);
    const mq: MessageQueue =
      config.mq.backend === "nats"
        ? await openNatsMq({
            servers: config.mq.nats.servers,
            prefix: config.mq.nats.prefix,
            logger: log.child({ backend: "nats" }),
          })
        : await openEmbeddedMq({
            dir: join(config.dataDir, "log"),
            segmentBytes: config.mq.embedded.segmentBytes,
            logger: log.child({ backend: "mq" }),
          });
    opened.push(mq);
    const s3 = config.objectstore.s3;
    const objects: ObjectStore =
      config.objectstore.backend === "s3"
        ? await openS3ObjectStore({
            ...(s3.endpoint === "" ? {} : { endpoint: s3.endpoint }),
            region: s3.region,
            bucket: s3.bucket,
            ...(s3.accessKeyId === ""
              ? {}
              : { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }),
            forcePathStyle: s3.forcePathStyle,
            ...(s3.prefix === "" ? {} : { prefix: s3.prefix }),
            createBucket: true,
            logger: log.child({ backend: "s3" }),
          })
        : await openLocalObjectStore({
            root: join(config.dataDir, "objects"),
            logger: log.child({ backend: "objects" }),
          });
    opened.push(objects);
    return { mq, kv, objects, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

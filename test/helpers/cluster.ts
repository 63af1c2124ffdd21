/**
 * Config overrides that put a whole Strata instance on the distributed backends (NATS JetStream,
 * etcd, S3) with names unique to one test, or undefined (with the skip reason) when a server is
 * missing.
 */
import { etcdServer, natsServer, s3Server, uniqueName } from "./env.ts";

export interface DistributedSetup {
  readonly overrides: Record<string, unknown> | undefined;
  readonly skip: string | false;
}

export function distributedOverrides(): DistributedSetup {
  const nats = natsServer();
  const etcd = etcdServer();
  const s3 = s3Server();
  const skip = nats.skip || etcd.skip || s3.skip;
  if (skip !== false || nats.value === undefined || etcd.value === undefined || s3.value === undefined) {
    return { overrides: undefined, skip: skip === false ? "distributed servers not configured" : skip };
  }
  const name = uniqueName("it").toLowerCase().replace(/_/g, "-");
  return {
    skip: false,
    overrides: {
      mq: { backend: "nats", nats: { servers: nats.value, prefix: name.replace(/-/g, "_").slice(0, 40) } },
      kv: { backend: "etcd", rootPath: name, etcd: { endpoints: etcd.value } },
      objectstore: {
        backend: "s3",
        s3: {
          endpoint: s3.value,
          bucket: name.slice(0, 63),
          region: "us-east-1",
          accessKeyId: process.env.STRATA_TEST_S3_KEY ?? "S3RVER",
          secretAccessKey: process.env.STRATA_TEST_S3_SECRET ?? "S3RVER",
          forcePathStyle: true,
        },
      },
    },
  };
}

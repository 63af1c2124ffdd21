import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { openS3ObjectStore, type S3ObjectStoreOptions } from "../../src/objectstore/index.ts";
import { rng, s3Server, uniqueName } from "../helpers/env.ts";
import { assertBytes, mapLimit, objectStoreContract, randomBytes, rejectsWith } from "./contract.ts";

// s3rver 3.7 encrypts ListObjectsV2 continuation tokens with DES, which Node 20's OpenSSL 3 only
// offers with `node --openssl-legacy-provider`; started without it, every listing longer than one
// page (the 1,500-key test) fails with InternalError.
const server = s3Server();
// s3rver checks signatures against its default key pair; any real S3 would take its own.
const creds = {
  accessKeyId: process.env.STRATA_TEST_S3_KEY ?? "S3RVER",
  secretAccessKey: process.env.STRATA_TEST_S3_SECRET ?? "S3RVER",
};
const bucket = uniqueName("strata-os").toLowerCase().replace(/_/g, "-");

function options(extra: Partial<S3ObjectStoreOptions> = {}): S3ObjectStoreOptions {
  return {
    endpoint: server.value!,
    region: "us-east-1",
    bucket,
    forcePathStyle: true,
    ...creds,
    ...extra,
  };
}

function rawClient(): S3Client {
  return new S3Client({
    endpoint: server.value!,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: creds,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

async function rawKeys(client: S3Client, prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token === undefined ? {} : { ContinuationToken: token }),
      }),
    );
    for (const o of res.Contents ?? []) keys.push(o.Key!);
    token = res.IsTruncated === true ? res.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}

async function createBucket(): Promise<void> {
  const s = await openS3ObjectStore(options({ createBucket: true }));
  await s.close();
}

/** Deletes whatever is left in the bucket (a failed test's objects included), then the bucket. */
async function dropBucket(): Promise<void> {
  const client = rawClient();
  try {
    const left = await rawKeys(client);
    await mapLimit(left, 32, async (Key) => {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
    });
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

objectStoreContract("s3", {
  skip: server.skip,
  before: createBucket,
  after: dropBucket,
  // Real S3 makes each PUT atomic; s3rver streams into the object file in place, so racing PUTs of
  // one key interleave. STRATA_TEST_S3_ATOMIC=1 runs the test against a server that gets it right.
  ...(process.env.STRATA_TEST_S3_ATOMIC === "1"
    ? {}
    : { skipConcurrentOverwrite: "s3rver writes objects in place: concurrent PUTs of one key interleave" }),
  fresh: async () => {
    const prefix = uniqueName("ns");
    return {
      open: () => openS3ObjectStore(options({ prefix })),
      cleanup: async () => {
        const s = await openS3ObjectStore(options({ prefix }));
        try {
          const left = await s.list("");
          await mapLimit(left, 32, (o) => s.delete(o.key));
        } finally {
          await s.close();
        }
      },
    };
  },
});

describe("s3 object store: specifics", { skip: server.skip }, () => {
  before(createBucket);
  after(dropBucket);

  it("many openers racing to create a missing bucket all open it (cluster processes start together)", async () => {
    const fresh = uniqueName("strata-race").toLowerCase().replace(/_/g, "-");
    const stores = await Promise.all(
      Array.from({ length: 8 }, () =>
        openS3ObjectStore({ ...options({ createBucket: true }), bucket: fresh }),
      ),
    );
    try {
      await (stores[0] as (typeof stores)[0]).put("k", new Uint8Array([1, 2, 3]));
      for (const st of stores) assertBytes(await st.get("k"), new Uint8Array([1, 2, 3]), "same bucket");
      await (stores[0] as (typeof stores)[0]).delete("k");
    } finally {
      for (const st of stores) await st.close();
      const client = rawClient();
      try {
        await client.send(new DeleteBucketCommand({ Bucket: fresh }));
      } finally {
        client.destroy();
      }
    }
  });

  it("large objects go up as multipart (parts of 5 MiB) and read back bit-exactly, ranges across parts too", async () => {
    const seed = 20240611;
    const next = rng(seed);
    const prefix = uniqueName("mp");
    const s = await openS3ObjectStore(
      options({ prefix, multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024 }),
    );
    const client = rawClient();
    try {
      const data = randomBytes(next, 13 * 1024 * 1024 + 77);
      await s.put("big/obj", data);
      assertBytes(await s.get("big/obj"), data, "multipart object");
      const off = 5 * 1024 * 1024 - 100;
      assertBytes(
        await s.getRange("big/obj", off, 300),
        data.subarray(off, off + 300),
        "range across a part boundary",
      );
      assert.deepEqual(await s.stat("big/obj"), { key: "big/obj", size: data.byteLength });
      assert.deepEqual(await rawKeys(client, prefix), [`${prefix}/big/obj`], "one object, no stray parts");
      await s.delete("big/obj");
    } finally {
      client.destroy();
      await s.close();
    }
  });

  it("prefix namespaces keys: stored under <prefix>/, listed without it, invisible to other prefixes", async () => {
    const p1 = uniqueName("pa");
    const p2 = `${p1}x`; // a string-prefix of the other must still not leak across
    const a = await openS3ObjectStore(options({ prefix: `${p1}/` }));
    const b = await openS3ObjectStore(options({ prefix: p2 }));
    const client = rawClient();
    try {
      await a.put("k/1", new Uint8Array([1]));
      await b.put("k/1", new Uint8Array([2]));
      assert.deepEqual(await rawKeys(client, p1), [`${p1}/k/1`, `${p2}/k/1`]);
      assert.deepEqual(await a.list(""), [{ key: "k/1", size: 1 }]);
      assert.deepEqual(await b.list(""), [{ key: "k/1", size: 1 }]);
      assert.deepEqual([...(await a.get("k/1"))], [1]);
      assert.deepEqual([...(await b.get("k/1"))], [2]);
      // Objects Strata could not have written (a console's folder marker) are not listed.
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: `${p1}/folder/`, Body: new Uint8Array(0) }),
      );
      assert.deepEqual(
        (await a.list("")).map((o) => o.key),
        ["k/1"],
      );
      const raw = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `${p1}/k/1` }));
      assert.deepEqual([...(await raw.Body!.transformToByteArray())], [1]);
      await a.delete("k/1");
      await b.delete("k/1");
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${p1}/folder/` }));
    } finally {
      client.destroy();
      await a.close();
      await b.close();
    }
  });

  it("open checks its configuration and the bucket", async () => {
    const missing = uniqueName("nobucket").toLowerCase().replace(/_/g, "-");
    await rejectsWith(openS3ObjectStore(options({ bucket: missing })), "ConfigInvalid", "missing bucket");
    await rejectsWith(openS3ObjectStore(options({ bucket: "" })), "ConfigInvalid", "empty bucket");
    await rejectsWith(openS3ObjectStore(options({ prefix: "../x" })), "ConfigInvalid", "bad prefix");
    await rejectsWith(
      openS3ObjectStore({
        endpoint: server.value!,
        region: "us-east-1",
        bucket,
        forcePathStyle: true,
        accessKeyId: "only-one",
      }),
      "ConfigInvalid",
      "half credentials",
    );
    await rejectsWith(openS3ObjectStore(options({ partSize: 1024 })), "ConfigInvalid", "tiny parts");
    // createBucket on an existing bucket is fine.
    const again = await openS3ObjectStore(options({ createBucket: true }));
    await again.close();
  });

  it("wrong credentials surface as IoFailed (a system error), not as a missing bucket or key", async () => {
    await rejectsWith(
      openS3ObjectStore(options({ accessKeyId: "nobody", secretAccessKey: "wrong" })),
      "IoFailed",
      "bad credentials",
    );
  });

  it("an unreachable endpoint fails with IoFailed", async () => {
    await rejectsWith(
      openS3ObjectStore({ ...options(), endpoint: "http://127.0.0.1:1" }),
      "IoFailed",
      "nothing listening",
    );
  });
});

/**
 * The distributed object store: S3 (or any S3-compatible server) through AWS SDK v3. Objects live
 * at `<prefix><key>` in one bucket. S3 already gives what the contract asks: a PUT or a completed
 * multipart upload becomes visible whole or not at all, and is durable when acknowledged.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { StrataError } from "../../common/errors.ts";
import { type Logger, silentLogger } from "../../common/log.ts";
import {
  checkOffset,
  exactBytes,
  isValidKey,
  MAX_NAMESPACE_BYTES,
  sortByKey,
  validateData,
  validateKey,
  validatePrefix,
  validateRange,
} from "../keys.ts";
import type { ObjectInfo, ObjectStore } from "../types.ts";
import { isInvalidRange, isMissingKey, s3Failure, s3IoFailed } from "./s3-errors.ts";

export interface S3ObjectStoreOptions {
  /** e.g. `http://127.0.0.1:4568` for an S3-compatible server; omit for AWS. */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  /** Static credentials; omit both to use the SDK's default chain (env, profile, instance role). */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  /** `http://host/bucket/key` addressing; most S3-compatible servers need it. */
  readonly forcePathStyle?: boolean;
  /** Namespace inside the bucket ("strata/cluster1"); keys are stored under `<prefix>/` and listed without it. */
  readonly prefix?: string;
  /** Create the bucket on open when it does not exist. */
  readonly createBucket?: boolean;
  /** Objects of at least this many bytes go up as a multipart upload. Default 64 MiB. */
  readonly multipartThreshold?: number;
  /** Multipart part size (≥ 5 MiB, S3's minimum). Default 16 MiB. */
  readonly partSize?: number;
  readonly logger?: Logger;
}

const MiB = 1024 * 1024;
const MIN_PART = 5 * MiB;
const MAX_PARTS = 10_000;
const PART_CONCURRENCY = 4;

export async function openS3ObjectStore(opts: S3ObjectStoreOptions): Promise<ObjectStore> {
  const logger = (opts.logger ?? silentLogger()).child({
    component: "objectstore",
    backend: "s3",
    bucket: opts.bucket,
  });
  const base = normalizePrefix(opts.prefix);
  const threshold = opts.multipartThreshold ?? 64 * MiB;
  const partSize = opts.partSize ?? 16 * MiB;
  if (typeof opts.bucket !== "string" || opts.bucket === "") {
    throw new StrataError("ConfigInvalid", "s3 object store: bucket is required");
  }
  if (typeof opts.region !== "string" || opts.region === "") {
    throw new StrataError("ConfigInvalid", "s3 object store: region is required");
  }
  if ((opts.accessKeyId === undefined) !== (opts.secretAccessKey === undefined)) {
    throw new StrataError(
      "ConfigInvalid",
      "s3 object store: give both accessKeyId and secretAccessKey, or neither",
    );
  }
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART) {
    throw new StrataError("ConfigInvalid", `s3 object store: partSize must be an integer ≥ ${MIN_PART}`);
  }
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new StrataError("ConfigInvalid", "s3 object store: multipartThreshold must be a positive integer");
  }

  const config: S3ClientConfig = {
    region: opts.region,
    forcePathStyle: opts.forcePathStyle ?? false,
    // Checksums only where S3 requires them: older S3-compatible servers reject the CRC32 trailers
    // recent SDKs add by default. Integrity still holds: SigV4 signs the SHA-256 of every PUT body.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // Fail a dead connection instead of hanging forever; idle-based, so large transfers are fine.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
  };
  if (opts.endpoint !== undefined) config.endpoint = opts.endpoint;
  if (opts.accessKeyId !== undefined && opts.secretAccessKey !== undefined) {
    config.credentials =
      opts.sessionToken === undefined
        ? { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey }
        : {
            accessKeyId: opts.accessKeyId,
            secretAccessKey: opts.secretAccessKey,
            sessionToken: opts.sessionToken,
          };
  }
  const client = new S3Client(config);
  try {
    await ensureBucket(client, opts.bucket, opts.createBucket ?? false, logger);
  } catch (e) {
    client.destroy();
    throw e;
  }
  logger.debug({ prefix: base }, "opened s3 object store");
  return new S3ObjectStore(client, opts.bucket, base, threshold, partSize, logger);
}

function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined) return "";
  const trimmed = prefix.replace(/\/+$/, "");
  if (trimmed === "") return "";
  try {
    validateKey(trimmed);
  } catch (e) {
    throw new StrataError("ConfigInvalid", `s3 object store: bad prefix: ${(e as Error).message}`);
  }
  if (Buffer.byteLength(trimmed) + 1 > MAX_NAMESPACE_BYTES) {
    throw new StrataError(
      "ConfigInvalid",
      `s3 object store: prefix longer than ${MAX_NAMESPACE_BYTES - 1} bytes leaves no room for keys`,
    );
  }
  return `${trimmed}/`;
}

async function ensureBucket(
  client: S3Client,
  bucket: string,
  create: boolean,
  logger: Logger,
): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (e) {
    const f = s3Failure(e);
    const missing = f.status === 404 || f.name === "NotFound" || f.name === "NoSuchBucket";
    if (!missing) throw s3IoFailed(e, `s3 object store: cannot reach bucket ${bucket}`);
    if (!create) {
      throw new StrataError("ConfigInvalid", `s3 object store: bucket ${bucket} does not exist`);
    }
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    logger.info("created bucket");
  } catch (e) {
    // Lost a race with another opener (processes of a cluster start together): fine when the
    // bucket now answers to us. s3rver, and S3 in some regions, say BucketAlreadyExists (409)
    // even to the same account, so a 409 is settled by asking again.
    const f = s3Failure(e);
    if (f.name === "BucketAlreadyOwnedByYou") return;
    if (f.status === 409 || f.name === "BucketAlreadyExists") {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
        return;
      } catch {
        // not ours after all: report the create failure
      }
    }
    throw s3IoFailed(e, `s3 object store: cannot create bucket ${bucket}`);
  }
}

class S3ObjectStore implements ObjectStore {
  private closed = false;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly base: string,
    private readonly threshold: number,
    private readonly partSize: number,
    private readonly logger: Logger,
  ) {}

  async put(key: string, data: Uint8Array): Promise<void> {
    this.checkOpen();
    validateKey(key);
    validateData(key, data);
    const Key = this.base + key;
    try {
      if (data.byteLength >= this.threshold) {
        await this.putMultipart(Key, data);
      } else {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key, Body: data, ContentLength: data.byteLength }),
        );
      }
    } catch (e) {
      throw s3IoFailed(e, `put ${JSON.stringify(key)}`);
    }
  }

  /** Parts upload a few at a time; the object appears only on Complete, so a failure leaves nothing. */
  private async putMultipart(Key: string, data: Uint8Array): Promise<void> {
    const partSize = Math.max(this.partSize, Math.ceil(data.byteLength / MAX_PARTS));
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }),
    );
    if (UploadId === undefined)
      throw new StrataError("IoFailed", "CreateMultipartUpload returned no UploadId");
    const count = Math.ceil(data.byteLength / partSize);
    const etags: string[] = new Array<string>(count);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (next < count && !failed) {
        const i = next++;
        const body = data.subarray(i * partSize, Math.min(data.byteLength, (i + 1) * partSize));
        const res = await this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key,
            UploadId,
            PartNumber: i + 1,
            Body: body,
            ContentLength: body.byteLength,
          }),
        );
        if (res.ETag === undefined) throw new StrataError("IoFailed", `UploadPart ${i + 1} returned no ETag`);
        etags[i] = res.ETag;
      }
    };
    try {
      await Promise.all(
        Array.from({ length: Math.min(PART_CONCURRENCY, count) }, () =>
          worker().catch((e: unknown) => {
            failed = true; // the other workers stop before the abort below
            throw e;
          }),
        ),
      );
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
      this.logger.debug({ key: Key, parts: count, bytes: data.byteLength }, "multipart upload complete");
    } catch (e) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }))
        .catch((abortErr: unknown) => {
          this.logger.warn({ key: Key, err: abortErr }, "could not abort a failed multipart upload");
        });
      throw e;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    this.checkOpen();
    validateKey(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.base + key }));
      if (res.Body === undefined) throw new StrataError("IoFailed", "GetObject returned no body");
      const bytes = await res.Body.transformToByteArray();
      if (res.ContentLength !== undefined && bytes.byteLength !== res.ContentLength) {
        throw new StrataError(
          "IoFailed",
          `truncated body: ${bytes.byteLength} of ${res.ContentLength} bytes`,
        );
      }
      return exactBytes(bytes);
    } catch (e) {
      if (isMissingKey(e)) throw notFound(key);
      throw s3IoFailed(e, `get ${JSON.stringify(key)}`);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    this.checkOpen();
    validateKey(key);
    validateRange(key, offset, length);
    // HTTP cannot ask for zero bytes; a HEAD still checks presence and the offset.
    if (length === 0) return this.emptyRangeAt(key, offset);
    let body: Uint8Array;
    let bodyStart: number;
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.base + key,
          Range: `bytes=${offset}-${offset + length - 1}`,
        }),
      );
      if (res.Body === undefined) throw new StrataError("IoFailed", "GetObject returned no body");
      const m = res.ContentRange === undefined ? null : /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.ContentRange);
      const total = m === null || m[2] === "*" ? undefined : Number(m[2]);
      if (total !== undefined && offset >= total) {
        // Nothing to read. s3rver answers any range of an empty object this way with a body that
        // never arrives (Content-Length 1, no bytes), so the body must not be awaited.
        discard(res.Body);
        checkOffset(key, offset, total);
        return new Uint8Array(0);
      }
      body = await res.Body.transformToByteArray();
      if (res.ContentLength !== undefined && body.byteLength !== res.ContentLength) {
        throw new StrataError("IoFailed", `truncated body: ${body.byteLength} of ${res.ContentLength} bytes`);
      }
      if (m !== null) {
        bodyStart = Number(m[1]);
      } else {
        // No Content-Range: the server ignored the range and sent the whole object.
        bodyStart = 0;
        checkOffset(key, offset, body.byteLength);
      }
    } catch (e) {
      if (isMissingKey(e)) throw notFound(key);
      // Unsatisfiable: past the end, exactly at the end, or any range of an empty object.
      if (isInvalidRange(e)) return this.emptyRangeAt(key, offset);
      throw s3IoFailed(e, `getRange ${JSON.stringify(key)}`);
    }
    const from = offset - bodyStart;
    if (from < 0 || from > body.byteLength) {
      throw new StrataError(
        "IoFailed",
        `getRange ${JSON.stringify(key)}: server returned bytes from ${bodyStart}, asked ${offset}`,
      );
    }
    // Copy: some servers answer a short range with more than asked (s3rver treats `bytes=0-0` as
    // `bytes=0-`), and a small slice must not pin that buffer.
    return exactBytes(body.subarray(from, from + length));
  }

  private async emptyRangeAt(key: string, offset: number): Promise<Uint8Array> {
    const info = await this.stat(key);
    if (info === undefined) throw notFound(key);
    checkOffset(key, offset, info.size);
    return new Uint8Array(0);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    this.checkOpen();
    validateKey(key);
    try {
      const res = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.base + key }),
      );
      if (res.ContentLength === undefined) throw new StrataError("IoFailed", "HeadObject returned no length");
      return { key, size: res.ContentLength };
    } catch (e) {
      if (isMissingKey(e)) return undefined;
      throw s3IoFailed(e, `stat ${JSON.stringify(key)}`);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    this.checkOpen();
    validatePrefix(prefix);
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.base + prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const obj of res.Contents ?? []) {
          if (obj.Key === undefined || !obj.Key.startsWith(this.base)) continue;
          const key = obj.Key.slice(this.base.length);
          // Skip what Strata could not have written (console "folder/" markers and the like).
          if (!isValidKey(key)) continue;
          out.push({ key, size: obj.Size ?? 0 });
        }
        if (res.IsTruncated === true && res.NextContinuationToken === undefined) {
          throw new StrataError("IoFailed", "truncated listing without a continuation token");
        }
        token = res.IsTruncated === true ? res.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (e) {
      throw s3IoFailed(e, `list ${JSON.stringify(prefix)}`);
    }
    // S3 already sorts by UTF-8 bytes; sorting again costs little and holds for lax compatibles too.
    return sortByKey(out);
  }

  async delete(key: string): Promise<void> {
    this.checkOpen();
    validateKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.base + key }));
    } catch (e) {
      // S3 answers 204 for a missing key; some compatibles answer NoSuchKey.
      if (isMissingKey(e)) return;
      throw s3IoFailed(e, `delete ${JSON.stringify(key)}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
    this.logger.debug("closed s3 object store");
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError("Closed", "s3 object store is closed");
  }
}

/** Drops an unread response body so its socket is not left waiting. */
function discard(body: unknown): void {
  if (typeof body === "object" && body !== null && "destroy" in body && typeof body.destroy === "function") {
    body.destroy();
  }
}

function notFound(key: string): StrataError {
  return new StrataError("KeyNotFound", `object ${JSON.stringify(key)} not found`);
}

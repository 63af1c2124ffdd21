/**
 * Where the distributed suites find their servers. Locally, a suite whose server is absent is
 * skipped with the reason shown; in CI (`STRATA_REQUIRE_DISTRIBUTED=1`, set by .ci/run) a missing
 * server is a failure, so a broken CI set-up can never pass silently.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seededRandom } from "../../src/common/random.ts";

const required = process.env.STRATA_REQUIRE_DISTRIBUTED === "1";

export interface Distributed<T> {
  /** The settings, or undefined when the server is not configured. */
  readonly value: T | undefined;
  /** For node:test's `skip` option: false when available, else the reason. */
  readonly skip: string | false;
}

function pick<T>(envName: string, parse: (raw: string) => T): Distributed<T> {
  const raw = process.env[envName];
  if (raw === undefined || raw === "") {
    if (required) throw new Error(`${envName} is not set but STRATA_REQUIRE_DISTRIBUTED=1`);
    return { value: undefined, skip: `${envName} not set: no server for this suite` };
  }
  return { value: parse(raw), skip: false };
}

/** `STRATA_TEST_NATS=nats://127.0.0.1:4222` */
export function natsServer(): Distributed<string[]> {
  return pick("STRATA_TEST_NATS", (s) => s.split(","));
}

/** `STRATA_TEST_ETCD=http://127.0.0.1:2379` */
export function etcdServer(): Distributed<string[]> {
  return pick("STRATA_TEST_ETCD", (s) => s.split(","));
}

/** `STRATA_TEST_S3=http://127.0.0.1:4568` (an S3-compatible endpoint, path-style, any credentials). */
export function s3Server(): Distributed<string> {
  return pick("STRATA_TEST_S3", (s) => s);
}

/** A fresh temp directory; remove it with the returned function. */
export async function tempDir(
  prefix = "strata-test-",
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A name unique within this test process, for channels, key prefixes and buckets on shared servers. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e9).toString(36)}`;
}

/** Seeded PRNG (mulberry32) so random tests are reproducible from the printed seed. */
export const rng = seededRandom;

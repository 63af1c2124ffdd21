/** Load generation shared by the SDK benchmarks. */

export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? 0;
}

export const median = (xs: readonly number[]): number => pct(xs, 50);

export interface DriveResult {
  readonly qps: number;
  readonly p50: number;
  readonly p99: number;
}

/** Runs `total` calls with `concurrency` in flight; returns QPS and per-call latencies (ms). */
export async function drive(
  total: number,
  concurrency: number,
  call: (i: number) => Promise<void>,
): Promise<DriveResult> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        const s = performance.now();
        await call(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { qps: total / secs, p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** What the SDK benchmarks' collection needs from a Milvus client. */
interface InsertClient {
  insert(req: {
    collection_name: string;
    data: { id: number; v: number[] }[];
  }): Promise<{ status: { error_code: unknown; reason?: string } }>;
}

/**
 * Inserts rows `id = 0..n-1`, `v` = the id-th `dim`-vector of `base`, in batches of `batch`
 * through the SDK; returns rows per second. Throws on the first failed status.
 */
export async function sdkInsertAll(
  client: InsertClient,
  collection: string,
  base: Float32Array,
  n: number,
  dim: number,
  batch: number,
): Promise<number> {
  const t0 = performance.now();
  for (let from = 0; from < n; from += batch) {
    const data = Array.from({ length: Math.min(batch, n - from) }, (_, k) => ({
      id: from + k,
      v: Array.from(base.subarray((from + k) * dim, (from + k + 1) * dim)),
    }));
    const r = await client.insert({ collection_name: collection, data });
    if (r.status.error_code !== "Success") throw new Error(r.status.reason);
  }
  return Math.round(n / ((performance.now() - t0) / 1000));
}

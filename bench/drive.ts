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

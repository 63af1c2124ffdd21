import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { register as globalRegistry } from "prom-client";
import { type Logger, silentLogger } from "../../src/common/log.ts";
import { composeTs, type Timestamp } from "../../src/common/timestamp.ts";
import { StrataMetrics } from "../../src/server/metrics.ts";

/** Lines of the exposition for one metric name (samples only, no comments). */
function samples(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

function recording(): { logger: Logger; levels: { level: number; source?: string }[] } {
  const levels: { level: number; source?: string }[] = [];
  const logger: Logger = pino(
    { level: "info" },
    { write: (l: string) => levels.push(JSON.parse(l) as { level: number; source?: string }) },
  );
  return { logger, levels };
}

describe("StrataMetrics", () => {
  it("counts requests with latency and rows through the front-door hooks", async () => {
    const m = new StrataMetrics({ logger: silentLogger(), version: "1.2.3" });
    try {
      const h = m.hooks();
      h.onRequest?.("grpc", "Search", "Success", 0.004);
      h.onRequest?.("grpc", "Search", "Success", 0.2);
      h.onRequest?.("rest", "entities/insert", "CollectionNotFound", 0.001);
      h.onRows?.("insert", 100);
      h.onRows?.("insert", 23);
      h.onRows?.("delete", 5);
      h.onRows?.("upsert", 0);
      const text = await m.render();
      assert.deepEqual(samples(text, "strata_requests_total"), [
        'strata_requests_total{protocol="grpc",method="Search",code="Success"} 2',
        'strata_requests_total{protocol="rest",method="entities/insert",code="CollectionNotFound"} 1',
      ]);
      const buckets = samples(text, "strata_request_duration_seconds_bucket").filter((l) =>
        l.includes('"Search"'),
      );
      const le = (b: string) => buckets.find((l) => l.includes(`le="${b}"`));
      assert.match(le("0.0025") ?? "", / 0$/);
      assert.match(le("0.005") ?? "", / 1$/);
      assert.match(le("0.25") ?? "", / 2$/);
      assert.match(le("+Inf") ?? "", / 2$/);
      assert.deepEqual(
        samples(text, "strata_request_duration_seconds_sum").filter((l) => l.includes('"Search"')),
        [
          'strata_request_duration_seconds_sum{protocol="grpc",method="Search",code="Success"} 0.20400000000000001',
        ],
      );
      assert.deepEqual(samples(text, "strata_rows_total"), [
        'strata_rows_total{kind="insert"} 123',
        'strata_rows_total{kind="upsert"} 0',
        'strata_rows_total{kind="delete"} 5',
      ]);
      assert.deepEqual(samples(text, "strata_build_info"), ['strata_build_info{version="1.2.3"} 1']);
      assert.equal(m.contentType, "text/plain; version=0.0.4; charset=utf-8");
    } finally {
      m.close();
    }
  });

  it("reads segment states and tSafe lag from its sources at scrape time", async () => {
    const now = 1_800_000_000_000;
    let tsafe: ReadonlyMap<string, Timestamp> = new Map([
      ["dml_0", composeTs(now - 1500, 7)],
      ["dml_1", composeTs(now - 20, 0)],
      ["dml_2", 0n],
    ]);
    let states: ReadonlyMap<string, number> = new Map([
      ["growing", 2],
      ["flushed", 5],
    ]);
    const m = new StrataMetrics({
      logger: silentLogger(),
      version: "t",
      now: () => now,
      sources: { segmentStates: async () => states, channelTSafe: async () => tsafe },
    });
    try {
      let text = await m.render();
      assert.deepEqual(samples(text, "strata_segments"), [
        'strata_segments{state="growing"} 2',
        'strata_segments{state="sealed"} 0',
        'strata_segments{state="flushing"} 0',
        'strata_segments{state="flushed"} 5',
      ]);
      // A channel before its first tick has no lag yet.
      assert.deepEqual(samples(text, "strata_tsafe_lag_seconds"), [
        'strata_tsafe_lag_seconds{channel="dml_0"} 1.5',
        'strata_tsafe_lag_seconds{channel="dml_1"} 0.02',
      ]);
      // The next scrape shows the sources' new answer, not stale series.
      tsafe = new Map([["dml_1", composeTs(now - 100, 0)]]);
      states = new Map([["sealed", 1]]);
      text = await m.render();
      assert.deepEqual(samples(text, "strata_tsafe_lag_seconds"), [
        'strata_tsafe_lag_seconds{channel="dml_1"} 0.1',
      ]);
      assert.equal(
        samples(text, "strata_segments").find((l) => l.includes("sealed")),
        'strata_segments{state="sealed"} 1',
      );
    } finally {
      m.close();
    }
  });

  it("leaves out a failing or slow source without failing the scrape, and logs the failure once", async () => {
    const { logger, levels } = recording();
    let mode: "fail" | "hang" | "ok" = "fail";
    const m = new StrataMetrics({
      logger,
      version: "t",
      sourceTimeoutMs: 100,
      sources: {
        segmentStates: () =>
          mode === "fail"
            ? Promise.reject(new Error("dataservice closed"))
            : mode === "hang"
              ? new Promise(() => {})
              : Promise.resolve(new Map([["growing", 1]])),
      },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const text = await m.render();
        assert.deepEqual(samples(text, "strata_segments"), []);
        assert.ok(text.includes("strata_rows_total"), "the rest of the scrape is there");
      }
      assert.equal(levels.filter((l) => l.level === 40 && l.source === "segmentStates").length, 1);
      mode = "hang";
      const t0 = Date.now();
      assert.deepEqual(samples(await m.render(), "strata_segments"), []);
      assert.ok(Date.now() - t0 < 1000);
      mode = "ok";
      assert.ok(samples(await m.render(), "strata_segments").includes('strata_segments{state="growing"} 1'));
      assert.equal(
        levels.filter((l) => l.level === 30 && l.source === "segmentStates").length,
        1,
        "recovery logged",
      );
    } finally {
      m.close();
    }
  });

  it("keeps instances apart and never touches prom-client's global registry", async () => {
    const a = new StrataMetrics({ logger: silentLogger(), version: "a" });
    const b = new StrataMetrics({ logger: silentLogger(), version: "b" });
    try {
      a.observeRows("insert", 7);
      assert.deepEqual(
        samples(await b.render(), "strata_rows_total")[0],
        'strata_rows_total{kind="insert"} 0',
      );
      assert.deepEqual(
        samples(await a.render(), "strata_rows_total")[0],
        'strata_rows_total{kind="insert"} 7',
      );
      assert.equal(globalRegistry.getSingleMetric("strata_rows_total"), undefined);
      assert.equal(globalRegistry.getMetricsAsArray().length, 0);
      const text = await a.render();
      for (const name of [
        "strata_process_resident_memory_bytes",
        "strata_process_memory_bytes",
        "strata_process_cpu_seconds_total",
        "strata_process_start_time_seconds",
        "strata_event_loop_delay_seconds",
      ]) {
        assert.ok(text.includes(`# TYPE ${name} `), name);
      }
      assert.ok(Number(samples(text, "strata_process_resident_memory_bytes")[0]?.split(" ")[1]) > 1e6);
    } finally {
      a.close();
      a.close();
      b.close();
    }
    assert.ok((await a.render()).includes("strata_rows_total"), "renders after close");
  });
});

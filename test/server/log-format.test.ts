import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createCliLogger, formatLogLine } from "../../src/cli/log-format.ts";

const T = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

describe("CLI log formats", () => {
  it("formats a pino line as time, level, [role#node], message and fields, error stacks indented below", () => {
    const err = { type: "Error", message: "disk full", stack: "Error: disk full\n    at write (x.ts:1:1)" };
    const line = JSON.stringify({
      level: 40,
      time: T,
      pid: 1,
      role: "datanode",
      nodeId: 1,
      msg: "sync failed",
      segment: 42,
      path: "a b",
      flags: { retry: true },
      err,
    });
    assert.equal(
      formatLogLine(line, false),
      '2026-01-02T03:04:05.678Z WARN  [datanode#1] sync failed segment=42 path="a b" flags={"retry":true}\n' +
        "    Error: disk full\n        at write (x.ts:1:1)\n",
    );
    assert.equal(
      formatLogLine(
        JSON.stringify({ level: 30, time: T, component: "ops", msg: "listening", port: 9091 }),
        false,
      ),
      "2026-01-02T03:04:05.678Z INFO  [ops] listening port=9091\n",
    );
    const colored = formatLogLine(JSON.stringify({ level: 50, time: T, msg: "x" }), true);
    assert.ok(colored.includes("\x1b[31mERROR\x1b[0m"), JSON.stringify(colored));
    assert.ok(!formatLogLine(JSON.stringify({ level: 50, time: T, msg: "x" }), false).includes("\x1b"));
    assert.equal(formatLogLine("not json\n", false), "not json\n");
  });

  it("creates loggers that honour the level and write pretty or JSON lines", () => {
    const pretty: string[] = [];
    const p = createCliLogger({
      level: "warn",
      format: "pretty",
      color: false,
      write: (t) => pretty.push(t),
    });
    p.info("hidden");
    p.child({ role: "proxy", nodeId: 3 }).warn({ rows: 5 }, "slow insert");
    assert.equal(pretty.length, 1);
    assert.match(pretty[0] ?? "", /^\S+Z WARN {2}\[proxy#3\] slow insert rows=5\n$/);
    const json: string[] = [];
    const j = createCliLogger({ level: "info", format: "json", write: (t) => json.push(t) });
    j.info({ a: 1 }, "hello");
    const entry = JSON.parse(json[0] ?? "") as Record<string, unknown>;
    assert.equal(entry.msg, "hello");
    assert.equal(entry.level, 30);
    assert.equal(entry.a, 1);
  });
});

import { pino } from "pino";
import { createLogger, type Logger } from "../common/log.ts";

export type LogFormat = "json" | "pretty";

export interface CliLoggerOptions {
  readonly level: string;
  readonly format: LogFormat;
  /** Where formatted lines go (default: stderr, synchronously). */
  readonly write?: (text: string) => void;
  /** ANSI colours in `pretty` (default: when stderr is a terminal and NO_COLOR is unset). */
  readonly color?: boolean;
}

/**
 * The server's root logger: pino JSON lines on stderr (`json`, for log collectors), or the same
 * entries as one readable line each (`pretty`, for people), without extra dependencies.
 */
export function createCliLogger(opts: CliLoggerOptions): Logger {
  if (opts.format === "json" && opts.write === undefined) return createLogger({ level: opts.level });
  const color = opts.color ?? (process.stderr.isTTY === true && process.env.NO_COLOR === undefined);
  const write = opts.write ?? ((text: string) => process.stderr.write(text));
  const format = opts.format;
  return pino(
    { level: opts.level, base: { pid: process.pid } },
    { write: (line: string) => write(format === "json" ? line : formatLogLine(line, color)) },
  );
}

const LEVELS: Readonly<Record<number, { name: string; color: string }>> = {
  10: { name: "TRACE", color: "\x1b[90m" },
  20: { name: "DEBUG", color: "\x1b[34m" },
  30: { name: "INFO ", color: "\x1b[32m" },
  40: { name: "WARN ", color: "\x1b[33m" },
  50: { name: "ERROR", color: "\x1b[31m" },
  60: { name: "FATAL", color: "\x1b[35m" },
};
const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
/** Fields shown in the line's head, or not at all. */
const HEAD_FIELDS = new Set([
  "level",
  "time",
  "pid",
  "hostname",
  "msg",
  "role",
  "nodeId",
  "component",
  "backend",
]);

function fieldValue(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  return JSON.stringify(v);
}

function errorText(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const e = v as { stack?: unknown; message?: unknown; type?: unknown };
  if (typeof e.stack === "string") return e.stack;
  if (typeof e.message === "string") return `${typeof e.type === "string" ? e.type : "Error"}: ${e.message}`;
  return undefined;
}

/**
 * One pino JSON line as `2026-01-02T03:04:05.678Z WARN  [datanode#1] message key=value`, with an
 * error's stack on the following lines, indented. A line that is not JSON passes unchanged.
 */
export function formatLogLine(line: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return line;
    entry = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = LEVELS[typeof entry.level === "number" ? entry.level : 30] ?? { name: "LOG  ", color: "" };
  const time = typeof entry.time === "number" ? new Date(entry.time).toISOString() : "";
  const who =
    typeof entry.role === "string"
      ? `${entry.role}${entry.nodeId === undefined ? "" : `#${fieldValue(entry.nodeId)}`}`
      : typeof entry.component === "string"
        ? entry.component
        : typeof entry.backend === "string"
          ? entry.backend
          : "";
  const msg = typeof entry.msg === "string" ? entry.msg : "";
  const fields: string[] = [];
  const stacks: string[] = [];
  for (const [k, v] of Object.entries(entry)) {
    if (HEAD_FIELDS.has(k)) continue;
    const stack = k === "err" || k === "error" ? errorText(v) : undefined;
    if (stack !== undefined) {
      stacks.push(stack);
      continue;
    }
    fields.push(`${k}=${fieldValue(v)}`);
  }
  const paint = (c: string, s: string) => (color && s !== "" ? `${c}${s}${RESET}` : s);
  let out = `${paint(DIM, time)} ${paint(level.color, level.name)}`;
  if (who !== "") out += ` ${paint(DIM, `[${who}]`)}`;
  if (msg !== "") out += ` ${msg}`;
  if (fields.length > 0) out += ` ${paint(DIM, fields.join(" "))}`;
  for (const s of stacks) out += `\n${s.replace(/^/gm, "    ")}`;
  return `${out}\n`;
}

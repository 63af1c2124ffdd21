import type { PathKey } from "./ast.ts";
import { isPlainObject } from "./values.ts";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A JSON integer literal beyond ±2^53 as a bigint (if it fits int64), else a double. */
function numberToken(text: string): number | bigint {
  if (/^-?\d+$/.test(text) && text.length >= 16) {
    const b = BigInt(text);
    if ((b > MAX_SAFE || b < -MAX_SAFE) && b >= INT64_MIN && b <= INT64_MAX) return b;
  }
  return Number(text);
}

type Frame =
  | { arr: unknown[]; obj?: undefined; key?: undefined }
  | { arr?: undefined; obj: Record<string, unknown>; key: string | undefined };

/**
 * Iterative JSON parser that keeps int64 precision (JSON.parse rounds integers beyond 2^53) and
 * never recurses, so a deeply nested document cannot exhaust the stack. Objects have a null
 * prototype so that keys such as `__proto__` stay plain data.
 * @throws SyntaxError on malformed input.
 */
export function parseJsonExact(text: string): unknown {
  // Sticky regexes carry lastIndex state, so each call gets its own.
  const numberRe = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const wsRe = /[ \t\n\r]*/y;
  let i = 0;
  const n = text.length;
  const stack: Frame[] = [];
  const fail = (): never => {
    throw new SyntaxError(`invalid JSON at ${i}`);
  };
  const ws = () => {
    wsRe.lastIndex = i;
    wsRe.exec(text);
    i = wsRe.lastIndex;
  };
  const readString = (): string => {
    // Find the closing quote, honouring escapes, then let JSON.parse decode the escapes.
    const start = i;
    i++;
    for (;;) {
      if (i >= n) fail();
      const c = text.charCodeAt(i);
      if (c === 34) break;
      if (c === 92) i++;
      else if (c < 0x20) fail();
      i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  let result: unknown;
  let done = false;
  const emit = (v: unknown) => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      result = v;
      done = true;
    } else if (top.arr !== undefined) {
      top.arr.push(v);
    } else {
      Object.defineProperty(top.obj, top.key as string, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      top.key = undefined;
    }
  };
  for (;;) {
    ws();
    const top = stack[stack.length - 1];
    // Inside an object, a key comes before each value.
    if (top?.obj !== undefined && top.key === undefined) {
      if (text[i] === "}" && Object.keys(top.obj).length === 0) {
        i++;
        stack.pop();
        emit(top.obj);
      } else {
        if (text[i] !== '"') fail();
        top.key = readString();
        ws();
        if (text[i] !== ":") fail();
        i++;
        continue;
      }
    } else if (top?.arr !== undefined && text[i] === "]" && top.arr.length === 0) {
      i++;
      stack.pop();
      emit(top.arr);
    } else {
      const c = text[i];
      if (c === "{") {
        i++;
        stack.push({ obj: Object.create(null) as Record<string, unknown>, key: undefined });
        continue;
      }
      if (c === "[") {
        i++;
        stack.push({ arr: [] });
        continue;
      }
      if (c === '"') emit(readString());
      else if (text.startsWith("true", i)) {
        i += 4;
        emit(true);
      } else if (text.startsWith("false", i)) {
        i += 5;
        emit(false);
      } else if (text.startsWith("null", i)) {
        i += 4;
        emit(null);
      } else {
        numberRe.lastIndex = i;
        const m = numberRe.exec(text);
        if (m === null) fail();
        i = numberRe.lastIndex;
        emit(numberToken((m as RegExpExecArray)[0]));
      }
    }
    // After a value: close containers or expect a separator.
    for (;;) {
      ws();
      if (done) {
        if (i !== n) fail();
        return result;
      }
      const t = stack[stack.length - 1] as Frame;
      const c = text[i];
      if (c === ",") {
        i++;
        break;
      }
      if (t.arr !== undefined && c === "]") {
        i++;
        stack.pop();
        emit(t.arr);
        continue;
      }
      if (t.obj !== undefined && c === "}") {
        i++;
        stack.pop();
        emit(t.obj);
        continue;
      }
      fail();
    }
  }
}

/** Parses a JSON document; the exact parser only runs when a long digit run might be a big integer. */
export function parseJson(text: string): unknown {
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  return parseJsonExact(text);
}

/** Follows a path into a parsed document; undefined when any step is missing. */
export function walkPath(doc: unknown, path: readonly PathKey[]): unknown {
  let v = doc;
  for (const k of path) {
    if (typeof k === "number") {
      if (Array.isArray(v)) v = k < v.length ? v[k] : undefined;
      else if (isPlainObject(v)) v = Object.hasOwn(v, String(k)) ? v[String(k)] : undefined;
      else return undefined;
    } else if (isPlainObject(v) && Object.hasOwn(v, k)) {
      v = v[k];
    } else {
      return undefined;
    }
    if (v === undefined) return undefined;
  }
  return v;
}

import { StrataError } from "../common/errors.ts";

export type Punct =
  | "("
  | ")"
  | "["
  | "]"
  | "{"
  | "}"
  | ","
  | "+"
  | "-"
  | "*"
  | "/"
  | "%"
  | "=="
  | "!="
  | "<"
  | "<="
  | ">"
  | ">="
  | "!"
  | "&&"
  | "||";

export type Token =
  | { readonly t: "ident"; readonly pos: number; readonly end: number; readonly text: string }
  | { readonly t: "int"; readonly pos: number; readonly end: number; readonly value: bigint }
  | { readonly t: "float"; readonly pos: number; readonly end: number; readonly value: number }
  | { readonly t: "string"; readonly pos: number; readonly end: number; readonly value: string }
  | { readonly t: "punct"; readonly pos: number; readonly end: number; readonly text: Punct }
  | { readonly t: "eof"; readonly pos: number; readonly end: number };

export function syntaxError(message: string, pos: number): never {
  throw new StrataError("ParameterInvalid", `invalid filter expression: ${message} at ${pos}`);
}

const TWO_CHAR: ReadonlySet<string> = new Set(["==", "!=", "<=", ">=", "&&", "||"]);
const ONE_CHAR: ReadonlySet<string> = new Set("()[]{},+-*/%<>!");
/** Anything beyond uint64 is certainly out of range; stop before building a huge BigInt. */
const MAX_INT_DIGITS = 24;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}
function isIdentChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** Splits the whole text into tokens up front (one linear pass). */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const n = src.length;
  let i = 0;
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      i++;
      continue;
    }
    const start = i;
    if ((c === 114 || c === 82) && (src[i + 1] === '"' || src[i + 1] === "'")) {
      const [value, end] = readString(src, i + 1, true);
      out.push({ t: "string", pos: start, end, value });
      i = end;
      continue;
    }
    if (isIdentStart(c) || (c === 36 && i + 1 < n && isIdentStart(src.charCodeAt(i + 1)))) {
      i++;
      while (i < n && isIdentChar(src.charCodeAt(i))) i++;
      out.push({ t: "ident", pos: start, end: i, text: src.slice(start, i) });
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      const tok = readNumber(src, i);
      out.push(tok);
      i = tok.end;
      continue;
    }
    if (c === 34 || c === 39) {
      const [value, end] = readString(src, i, false);
      out.push({ t: "string", pos: start, end, value });
      i = end;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (TWO_CHAR.has(two)) {
      out.push({ t: "punct", pos: start, end: i + 2, text: two as Punct });
      i += 2;
      continue;
    }
    const one = src[i] ?? "";
    if (ONE_CHAR.has(one)) {
      out.push({ t: "punct", pos: start, end: i + 1, text: one as Punct });
      i++;
      continue;
    }
    const shown = String.fromCodePoint(src.codePointAt(i) ?? c);
    const hint = one === "=" ? " (use == for equality)" : "";
    syntaxError(`unexpected character ${JSON.stringify(shown)}${hint}`, start);
  }
  out.push({ t: "eof", pos: n, end: n });
  return out;
}

function readNumber(src: string, start: number): Token {
  const n = src.length;
  let i = start;
  const bad = (): never => {
    let j = i;
    while (j < n && (isIdentChar(src.charCodeAt(j)) || src[j] === ".")) j++;
    return syntaxError(`invalid number ${JSON.stringify(src.slice(start, Math.min(j, start + 40)))}`, start);
  };
  const c0 = src[i];
  const c1 = src[i + 1];
  if (c0 === "0" && (c1 === "x" || c1 === "X" || c1 === "b" || c1 === "B")) {
    const hex = c1 === "x" || c1 === "X";
    i += 2;
    const digitsStart = i;
    while (i < n && (hex ? isHex(src.charCodeAt(i)) : src[i] === "0" || src[i] === "1")) i++;
    if (i === digitsStart || (i < n && (isIdentChar(src.charCodeAt(i)) || src[i] === "."))) bad();
    if (i - digitsStart > (hex ? 16 : 64)) syntaxError("integer literal out of range", start);
    return { t: "int", pos: start, end: i, value: BigInt(src.slice(start, i)) };
  }
  while (i < n && isDigit(src.charCodeAt(i))) i++;
  let isFloat = false;
  if (src[i] === ".") {
    isFloat = true;
    i++;
    while (i < n && isDigit(src.charCodeAt(i))) i++;
  }
  if (src[i] === "e" || src[i] === "E") {
    isFloat = true;
    i++;
    if (src[i] === "+" || src[i] === "-") i++;
    const expStart = i;
    while (i < n && isDigit(src.charCodeAt(i))) i++;
    if (i === expStart) bad();
  }
  if (i < n && (isIdentChar(src.charCodeAt(i)) || src[i] === ".")) bad();
  const text = src.slice(start, i);
  if (isFloat) return { t: "float", pos: start, end: i, value: Number(text) };
  if (text.length > 1 && text[0] === "0") {
    // C-style octal, as Milvus' grammar reads `010`.
    if (!/^0[0-7]+$/.test(text)) bad();
    if (text.length > MAX_INT_DIGITS) syntaxError("integer literal out of range", start);
    return { t: "int", pos: start, end: i, value: BigInt(`0o${text.slice(1)}`) };
  }
  if (text.length > MAX_INT_DIGITS) syntaxError("integer literal out of range", start);
  return { t: "int", pos: start, end: i, value: BigInt(text) };
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  n: "\n",
  t: "\t",
  r: "\r",
  a: "\x07",
  b: "\b",
  f: "\f",
  v: "\v",
  "\\": "\\",
  "'": "'",
  '"': '"',
  "?": "?",
};

/**
 * Reads a quoted string starting at the quote. Unknown escapes such as `\%` keep their backslash,
 * so `like` patterns see it and treat the next character literally.
 */
function readString(src: string, quoteAt: number, raw: boolean): [string, number] {
  const q = src[quoteAt];
  const n = src.length;
  let i = quoteAt + 1;
  let out = "";
  let chunk = i;
  while (i < n) {
    const ch = src[i];
    if (ch === q) {
      out += src.slice(chunk, i);
      return [out, i + 1];
    }
    if (ch !== "\\") {
      i++;
      continue;
    }
    if (raw) {
      i += 2;
      continue;
    }
    out += src.slice(chunk, i);
    const escAt = i;
    const e = src[i + 1];
    if (e === undefined) break;
    i += 2;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
    } else if (e >= "0" && e <= "7") {
      let j = i;
      while (j < n && j < i + 2 && src[j]! >= "0" && src[j]! <= "7") j++;
      out += String.fromCodePoint(Number.parseInt(src.slice(i - 1, j), 8));
      i = j;
    } else if (e === "x" || e === "u" || e === "U") {
      const len = e === "x" ? 2 : e === "u" ? 4 : 8;
      const hex = src.slice(i, i + len);
      if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) {
        syntaxError(`invalid escape sequence \\${e} (needs ${len} hex digits)`, escAt);
      }
      const cp = Number.parseInt(hex, 16);
      if (cp > 0x10ffff) syntaxError(`invalid escape sequence \\${e}${hex}`, escAt);
      out += String.fromCodePoint(cp);
      i += len;
    } else if (e === "\n") {
      // line continuation
    } else if (e === "\r") {
      if (src[i] === "\n") i++;
    } else {
      out += `\\${e}`;
    }
    chunk = i;
  }
  return syntaxError("unterminated string literal", quoteAt);
}

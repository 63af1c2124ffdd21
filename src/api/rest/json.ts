/**
 * JSON for the REST front door. Request bodies may carry Int64 primary keys beyond 2^53, which
 * `JSON.parse` would round; responses must be able to write such keys as exact JSON integers.
 */

/** A fragment written verbatim by `stringifyJson` (exact Int64 digits). */
export class RawJson {
  constructor(readonly text: string) {}
}

// An integer literal of 16+ digits that is not the fraction or exponent of a float: the only
// kind of token `JSON.parse` may round. Vectors of doubles (long fractions) do not match.
const LONG_INTEGER = /(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const MAX_DEPTH = 1000;

/**
 * Parses JSON like `JSON.parse`, except that integers outside the safe range become `bigint`
 * (never rounded). Bodies without long integer literals take the native parser.
 * @throws SyntaxError on malformed input.
 */
export function parseJson(text: string): unknown {
  if (!LONG_INTEGER.test(text)) return JSON.parse(text);
  return new LosslessParser(text).document();
}

class LosslessParser {
  readonly #s: string;
  #i = 0;
  #depth = 0;

  constructor(s: string) {
    this.#s = s;
  }

  #fail(what: string): never {
    throw new SyntaxError(`${what} at position ${this.#i}`);
  }

  #ws(): void {
    const s = this.#s;
    let i = this.#i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.#i = i;
  }

  document(): unknown {
    this.#ws();
    const v = this.#value();
    this.#ws();
    if (this.#i !== this.#s.length) this.#fail("Unexpected non-whitespace character after JSON");
    return v;
  }

  #value(): unknown {
    const c = this.#s.charCodeAt(this.#i);
    if (c === 0x7b) return this.#object();
    if (c === 0x5b) return this.#array();
    if (c === 0x22) return this.#string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.#number();
    if (this.#s.startsWith("true", this.#i)) {
      this.#i += 4;
      return true;
    }
    if (this.#s.startsWith("false", this.#i)) {
      this.#i += 5;
      return false;
    }
    if (this.#s.startsWith("null", this.#i)) {
      this.#i += 4;
      return null;
    }
    return this.#fail(Number.isNaN(c) ? "Unexpected end of JSON input" : "Unexpected token");
  }

  #enter(): void {
    if (++this.#depth > MAX_DEPTH) this.#fail(`JSON nested deeper than ${MAX_DEPTH} levels`);
    this.#i++;
    this.#ws();
  }

  #object(): Record<string, unknown> {
    this.#enter();
    const out: Record<string, unknown> = {};
    if (this.#s.charCodeAt(this.#i) === 0x7d) {
      this.#i++;
      this.#depth--;
      return out;
    }
    for (;;) {
      if (this.#s.charCodeAt(this.#i) !== 0x22) this.#fail("Expected a property name");
      const key = this.#string();
      this.#ws();
      if (this.#s.charCodeAt(this.#i) !== 0x3a) this.#fail("Expected ':' after property name");
      this.#i++;
      this.#ws();
      // defineProperty: a "__proto__" key must stay an own property, as with JSON.parse.
      Object.defineProperty(out, key, {
        value: this.#value(),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.#ws();
      const c = this.#s.charCodeAt(this.#i++);
      if (c === 0x7d) break;
      if (c !== 0x2c) this.#fail("Expected ',' or '}' after property value");
      this.#ws();
    }
    this.#depth--;
    return out;
  }

  #array(): unknown[] {
    this.#enter();
    const out: unknown[] = [];
    if (this.#s.charCodeAt(this.#i) === 0x5d) {
      this.#i++;
      this.#depth--;
      return out;
    }
    for (;;) {
      out.push(this.#value());
      this.#ws();
      const c = this.#s.charCodeAt(this.#i++);
      if (c === 0x5d) break;
      if (c !== 0x2c) this.#fail("Expected ',' or ']' after array element");
      this.#ws();
    }
    this.#depth--;
    return out;
  }

  #string(): string {
    const s = this.#s;
    const start = this.#i;
    let i = start + 1;
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        i += 2;
        continue;
      }
      if (Number.isNaN(c)) {
        this.#i = i;
        this.#fail("Unterminated string in JSON");
      }
      if (c < 0x20) {
        this.#i = i;
        this.#fail("Bad control character in string literal");
      }
      i++;
    }
    this.#i = i + 1;
    // Escapes are rare in keys and values: let the native parser decode them.
    return escaped ? (JSON.parse(s.slice(start, i + 1)) as string) : s.slice(start + 1, i);
  }

  #number(): number | bigint {
    NUMBER.lastIndex = this.#i;
    const m = NUMBER.exec(this.#s);
    if (m === null) return this.#fail("No number after minus sign");
    const token = m[0];
    this.#i += token.length;
    const n = Number(token);
    if (!Number.isSafeInteger(n) && /^-?\d+$/.test(token)) return BigInt(token);
    return n;
  }
}

/**
 * Serialises like `JSON.stringify`, plus: `bigint` as exact integer digits, `RawJson` verbatim.
 * Undefined object members are left out; non-finite numbers become null.
 */
export function stringifyJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts);
  return parts.join("");
}

function write(v: unknown, out: string[]): void {
  switch (typeof v) {
    case "string":
      out.push(JSON.stringify(v));
      return;
    case "number":
      out.push(Number.isFinite(v) ? String(v) : "null");
      return;
    case "bigint":
      out.push(v.toString());
      return;
    case "boolean":
      out.push(v ? "true" : "false");
      return;
    case "object":
      break;
    default:
      out.push("null");
      return;
  }
  if (v === null) {
    out.push("null");
    return;
  }
  if (v instanceof RawJson) {
    out.push(v.text);
    return;
  }
  if (Array.isArray(v)) {
    out.push("[");
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(",");
      const x: unknown = v[i];
      write(x === undefined ? null : x, out);
    }
    out.push("]");
    return;
  }
  out.push("{");
  let first = true;
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    if (!first) out.push(",");
    first = false;
    out.push(JSON.stringify(k), ":");
    write(x, out);
  }
  out.push("}");
}

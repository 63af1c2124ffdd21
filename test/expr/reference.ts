/**
 * An independent, row-at-a-time reference for the filter language, over plain JS values. It shares
 * no code with src/expr: its own expression tree (rendered to text for the real parser), its own
 * exact number comparison (via binary fractions), UTF-8 byte order through Buffer.compare, and
 * regular expressions for `like`.
 */

export type Cmp = "==" | "!=" | "<" | "<=" | ">" | ">=";
export type Arith = "+" | "-" | "*" | "/" | "%";
export type Key = string | number;

export interface Row {
  readonly id: bigint;
  readonly i8: number;
  readonly i32: number;
  readonly i64: bigint;
  /** Already a float32 value. */
  readonly f: number;
  readonly d: number;
  readonly s: string;
  readonly b: boolean;
  readonly arr: readonly bigint[];
  readonly sarr: readonly string[];
  /** undefined = the row's JSON cell is empty (a null document). */
  readonly meta: unknown;
  /** The dynamic field's object. */
  readonly dyn: Readonly<Record<string, unknown>>;
}

export type NumField = "id" | "i8" | "i32" | "i64" | "f" | "d";

/** A JSON path: `meta[...]`, `$meta[...]` or a bare dynamic name with steps. */
export interface JsonRef {
  readonly k: "json";
  readonly base: "meta" | "$meta" | "dynName";
  /** For dynName, keys[0] is the name. */
  readonly keys: readonly Key[];
}

export type Lit =
  | { readonly k: "ilit"; readonly v: bigint }
  | { readonly k: "flit"; readonly v: number }
  | { readonly k: "slit"; readonly v: string; readonly single: boolean }
  | { readonly k: "blit"; readonly v: boolean; readonly spelling: string }
  | { readonly k: "list"; readonly items: readonly Lit[] };

export type Val =
  | Lit
  | JsonRef
  | { readonly k: "num"; readonly name: NumField }
  | { readonly k: "str"; readonly name: "s" }
  | { readonly k: "bool"; readonly name: "b" }
  | { readonly k: "elem"; readonly name: "arr" | "sarr"; readonly idx: number }
  | { readonly k: "len"; readonly src: "arr" | "sarr" | JsonRef }
  | { readonly k: "arith"; readonly op: Arith; readonly l: Val; readonly r: Val }
  | { readonly k: "neg"; readonly x: Val }
  | { readonly k: "pred"; readonly p: Pred };

export type Pred =
  | { readonly k: "cmp"; readonly op: Cmp; readonly l: Val; readonly r: Val }
  | {
      readonly k: "range";
      readonly lo: Lit;
      readonly op1: "<" | "<=";
      readonly x: Val;
      readonly op2: "<" | "<=";
      readonly hi: Lit;
      readonly desc: boolean;
    }
  | { readonly k: "in"; readonly neg: boolean; readonly x: Val; readonly items: readonly Lit[] }
  | { readonly k: "like"; readonly neg: boolean; readonly x: Val; readonly pat: string }
  | { readonly k: "isnull"; readonly neg: boolean; readonly x: JsonRef }
  | { readonly k: "exists"; readonly x: JsonRef }
  | {
      readonly k: "contains";
      readonly fn:
        | "array_contains"
        | "json_contains"
        | "array_contains_all"
        | "array_contains_any"
        | "json_contains_all"
        | "json_contains_any";
      readonly src: "arr" | "sarr" | JsonRef;
      readonly v: Lit;
    }
  | { readonly k: "and" | "or"; readonly items: readonly Pred[]; readonly spelling: string }
  | { readonly k: "not"; readonly p: Pred; readonly spelling: string }
  | { readonly k: "truthy"; readonly x: Val };

// ---------- rendering ----------

function renderStr(v: string, single: boolean): string {
  if (!single) return JSON.stringify(v);
  return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
}

function renderFloat(v: number): string {
  const s = String(Math.abs(v));
  const body = /[.eE]/.test(s) ? s : `${s}.0`;
  return v < 0 ? `-${body}` : body;
}

export function renderLit(l: Lit): string {
  switch (l.k) {
    case "ilit":
      return String(l.v);
    case "flit":
      return renderFloat(l.v);
    case "slit":
      return renderStr(l.v, l.single);
    case "blit":
      return l.spelling;
    case "list":
      return `[${l.items.map(renderLit).join(", ")}]`;
  }
}

function renderKeys(keys: readonly Key[]): string {
  return keys.map((k) => `[${typeof k === "number" ? k : JSON.stringify(k)}]`).join("");
}

export function renderJson(j: JsonRef): string {
  if (j.base === "dynName") return `${j.keys[0] as string}${renderKeys(j.keys.slice(1))}`;
  return `${j.base}${renderKeys(j.keys)}`;
}

export function renderVal(v: Val): string {
  switch (v.k) {
    case "ilit":
    case "flit":
    case "slit":
    case "blit":
    case "list":
      return renderLit(v);
    case "json":
      return renderJson(v);
    case "num":
    case "str":
    case "bool":
      return v.name;
    case "elem":
      return `${v.name}[${v.idx}]`;
    case "len":
      return `array_length(${typeof v.src === "string" ? v.src : renderJson(v.src)})`;
    case "arith":
      return `(${renderVal(v.l)} ${v.op} ${renderVal(v.r)})`;
    case "neg":
      return `-(${renderVal(v.x)})`;
    case "pred":
      return `(${renderPred(v.p)})`;
  }
}

export function renderPred(p: Pred): string {
  switch (p.k) {
    case "cmp":
      return `${renderVal(p.l)} ${p.op} ${renderVal(p.r)}`;
    case "range":
      if (p.desc) {
        const flip = (o: string) => (o === "<" ? ">" : ">=");
        return `${renderLit(p.hi)} ${flip(p.op2)} ${renderVal(p.x)} ${flip(p.op1)} ${renderLit(p.lo)}`;
      }
      return `${renderLit(p.lo)} ${p.op1} ${renderVal(p.x)} ${p.op2} ${renderLit(p.hi)}`;
    case "in":
      return `${renderVal(p.x)} ${p.neg ? "not in" : "in"} [${p.items.map(renderLit).join(", ")}]`;
    case "like":
      return `${renderVal(p.x)} ${p.neg ? "not like" : "like"} ${renderStr(p.pat, false)}`;
    case "isnull":
      return `${renderJson(p.x)} ${p.neg ? "is not null" : "is null"}`;
    case "exists":
      return `exists ${renderJson(p.x)}`;
    case "contains":
      return `${p.fn}(${typeof p.src === "string" ? p.src : renderJson(p.src)}, ${renderLit(p.v)})`;
    case "and":
    case "or":
      return p.items.map((x) => `(${renderPred(x)})`).join(` ${p.spelling} `);
    case "not":
      return `${p.spelling} (${renderPred(p.p)})`;
    case "truthy":
      return renderVal(p.x);
  }
}

// ---------- semantics ----------

/** Exact value of a finite double as num / 2^k. */
function toFraction(x: number): { num: bigint; den: bigint } {
  let den = 1n;
  let y = x;
  while (!Number.isInteger(y)) {
    y *= 2;
    den *= 2n;
  }
  return { num: BigInt(y), den };
}

/** -1/0/1, or NaN when unordered. */
function numOrder(a: number | bigint, b: number | bigint): number {
  if (typeof a === "number" && Number.isNaN(a)) return Number.NaN;
  if (typeof b === "number" && Number.isNaN(b)) return Number.NaN;
  const inf = (x: number | bigint) => (typeof x === "number" && !Number.isFinite(x) ? Math.sign(x) : 0);
  const ia = inf(a);
  const ib = inf(b);
  if (ia !== 0 || ib !== 0) return ia === ib ? 0 : ia > ib ? 1 : -1;
  const fa = typeof a === "bigint" ? { num: a, den: 1n } : toFraction(a);
  const fb = typeof b === "bigint" ? { num: b, den: 1n } : toFraction(b);
  const x = fa.num * fb.den;
  const y = fb.num * fa.den;
  return x < y ? -1 : x > y ? 1 : 0;
}

const isNum = (v: unknown): v is number | bigint => typeof v === "number" || typeof v === "bigint";
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export function refDeepEqual(a: unknown, b: unknown): boolean {
  if (isNum(a) && isNum(b)) return numOrder(a, b) === 0;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => refDeepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && refDeepEqual(a[k], b[k]))
    );
  }
  return a === b && !isNum(a);
}

/** Comparison semantics: missing or mismatched types are false; NaN satisfies only !=. */
export function refCompare(op: Cmp, a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return false;
  let order: number;
  if (isNum(a) && isNum(b)) order = numOrder(a, b);
  else if (typeof a === "string" && typeof b === "string")
    order = Buffer.compare(Buffer.from(a), Buffer.from(b));
  else if (typeof a === "boolean" && typeof b === "boolean") order = a === b ? 0 : Number.NaN;
  else if ((Array.isArray(a) && Array.isArray(b)) || (isObj(a) && isObj(b)))
    order = refDeepEqual(a, b) ? 0 : Number.NaN;
  else return false;
  switch (op) {
    case "==":
      return order === 0;
    case "!=":
      return order !== 0;
    case "<":
      return order < 0;
    case "<=":
      return order <= 0;
    case ">":
      return order > 0;
    case ">=":
      return order >= 0;
  }
}

function walk(v: unknown, keys: readonly Key[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (typeof k === "number" && Array.isArray(cur)) cur = cur[k];
    else if (isObj(cur) && Object.hasOwn(cur, String(k))) cur = cur[String(k)];
    else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

export function refJson(row: Row, j: JsonRef): unknown {
  if (j.base === "meta") return walk(row.meta, j.keys);
  return walk(row.dyn, j.keys);
}

type Static = "int" | "float" | "json" | "string" | "bool" | "array" | "list";

export function staticType(v: Val): Static {
  switch (v.k) {
    case "ilit":
      return "int";
    case "flit":
      return "float";
    case "slit":
      return "string";
    case "blit":
      return "bool";
    case "list":
      return "list";
    case "json":
      return "json";
    case "num":
      return v.name === "f" || v.name === "d" ? "float" : "int";
    case "str":
      return "string";
    case "bool":
    case "pred":
      return "bool";
    case "elem":
      return v.name === "arr" ? "int" : "string";
    case "len":
      return "int";
    case "arith":
      return staticType(v.l) === "int" && staticType(v.r) === "int" ? "int" : "float";
    case "neg":
      return staticType(v.x) === "int" ? "int" : "float";
  }
}

function litValue(l: Lit): unknown {
  switch (l.k) {
    case "list":
      return l.items.map(litValue);
    default:
      return l.v;
  }
}

const wrap = (x: bigint) => BigInt.asIntN(64, x);

function toFloat(x: unknown): number | undefined {
  if (typeof x === "number") return x;
  if (typeof x === "bigint") return Number(x);
  return undefined;
}

/** Value of an expression for one row; undefined = no value. Integers are bigints. */
export function refVal(v: Val, row: Row): unknown {
  switch (v.k) {
    case "ilit":
    case "flit":
    case "slit":
    case "blit":
    case "list":
      return litValue(v);
    case "json":
      return refJson(row, v);
    case "num": {
      const x = row[v.name];
      return typeof x === "number" && (v.name === "i8" || v.name === "i32") ? BigInt(x) : x;
    }
    case "str":
      return row.s;
    case "bool":
      return row.b;
    case "elem":
      return row[v.name][v.idx];
    case "len": {
      const src = typeof v.src === "string" ? row[v.src] : refJson(row, v.src);
      return Array.isArray(src) ? BigInt(src.length) : undefined;
    }
    case "pred":
      // `(x)` is x itself in the language: a bare value wrapped as a predicate stays that value.
      return v.p.k === "truthy" ? refVal(v.p.x, row) : refPred(v.p, row);
    case "neg": {
      const x = refVal(v.x, row);
      if (staticType(v) === "int") return x === undefined ? undefined : wrap(-(x as bigint));
      const f = toFloat(x);
      return f === undefined ? undefined : -f;
    }
    case "arith": {
      const a = refVal(v.l, row);
      const b = refVal(v.r, row);
      if (staticType(v) === "int") {
        if (typeof a !== "bigint" || typeof b !== "bigint") return undefined;
        switch (v.op) {
          case "+":
            return wrap(a + b);
          case "-":
            return wrap(a - b);
          case "*":
            return wrap(a * b);
          case "/":
            return b === 0n ? undefined : wrap(a / b);
          case "%":
            return b === 0n ? undefined : a % b;
        }
      }
      const x = toFloat(a);
      const y = toFloat(b);
      if (x === undefined || y === undefined) return undefined;
      switch (v.op) {
        case "+":
          return x + y;
        case "-":
          return x - y;
        case "*":
          return x * y;
        case "/":
          return x / y;
        case "%":
          return x % y;
      }
    }
  }
}

const isLit = (v: Val): v is Lit => v.k === "ilit" || v.k === "flit";
const isF32 = (v: Val) => v.k === "num" && v.name === "f";

/** A literal compared with the Float (float32) field is rounded to float32 first. */
function operand(self: Val, other: Val, row: Row): unknown {
  const x = refVal(self, row);
  if (isLit(self) && isF32(other)) return Math.fround(Number(x));
  return x;
}

function likeRegex(pat: string): RegExp {
  let re = "^";
  const cps = Array.from(pat);
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i] as string;
    const lit = (ch: string) => (/[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch);
    if (c === "\\") re += lit(cps[++i] as string);
    else if (c === "%") re += "[\\s\\S]*";
    else if (c === "_") re += "[\\s\\S]";
    else re += lit(c);
  }
  return new RegExp(`${re}$`, "u");
}

export function refPred(p: Pred, row: Row): boolean {
  switch (p.k) {
    case "cmp":
      return refCompare(p.op, operand(p.l, p.r, row), operand(p.r, p.l, row));
    case "range": {
      const x = refVal(p.x, row);
      const lo = isF32(p.x) ? Math.fround(Number(litValue(p.lo))) : litValue(p.lo);
      const hi = isF32(p.x) ? Math.fround(Number(litValue(p.hi))) : litValue(p.hi);
      return refCompare(p.op1, lo, x) && refCompare(p.op2, x, hi);
    }
    case "in": {
      const x = refVal(p.x, row);
      const hit = p.items.some((it) =>
        refCompare("==", x, isF32(p.x) ? Math.fround(Number(litValue(it))) : litValue(it)),
      );
      return p.neg ? !hit : hit;
    }
    case "like": {
      const x = refVal(p.x, row);
      const hit = typeof x === "string" && likeRegex(p.pat).test(x);
      return p.neg ? !hit : hit;
    }
    case "isnull": {
      const x = refJson(row, p.x);
      const isNull = x === undefined || x === null;
      return p.neg ? !isNull : isNull;
    }
    case "exists":
      return refJson(row, p.x) !== undefined;
    case "contains": {
      const src = typeof p.src === "string" ? row[p.src] : refJson(row, p.src);
      if (!Array.isArray(src)) return false;
      const has = (v: unknown) => src.some((el) => refDeepEqual(el, v));
      if (p.fn.endsWith("_all")) return (litValue(p.v) as unknown[]).every(has);
      if (p.fn.endsWith("_any")) return (litValue(p.v) as unknown[]).some(has);
      return has(litValue(p.v));
    }
    case "and":
      return p.items.every((x) => refPred(x, row));
    case "or":
      return p.items.some((x) => refPred(x, row));
    case "not":
      return !refPred(p.p, row);
    case "truthy":
      return refVal(p.x, row) === true;
  }
}

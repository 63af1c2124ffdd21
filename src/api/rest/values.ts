import { Buffer } from "node:buffer";
import { type CollectionSchema, DYNAMIC_FIELD_NAME, type FieldSchema } from "../../common/schema.ts";
import { DataType } from "../../common/types.ts";
import type { QueryRow } from "../../proxy/index.ts";
import { RestError } from "./errors.ts";
import { RawJson } from "./json.ts";
import { isPlainObject } from "./params.ts";

/**
 * How Int64 values leave the server. Milvus writes them as JSON integers when the request says
 * `Accept-Type-Allow-Int64: true` (or says nothing: the server default), and as decimal strings
 * when it says false. Integers are written with their exact digits either way; only a client's
 * own JSON parser can round them.
 */
export class Int64Out {
  readonly asNumber: boolean;

  constructor(asNumber: boolean) {
    this.asNumber = asNumber;
  }

  /** From the request header, parsed as Go's `strconv.ParseBool`; absent or unparsable means true. */
  static fromHeader(h: string | string[] | undefined): Int64Out {
    const v = Array.isArray(h) ? h[0] : h;
    const off = v === "0" || v === "f" || v === "F" || v === "false" || v === "FALSE" || v === "False";
    return new Int64Out(!off);
  }

  value(v: unknown): unknown {
    if (typeof v !== "bigint" && typeof v !== "number") return v;
    return this.asNumber ? new RawJson(String(v)) : String(v);
  }

  ids(ids: BigInt64Array | readonly string[]): unknown[] {
    if (ids instanceof BigInt64Array) {
      const out = new Array<unknown>(ids.length);
      for (let i = 0; i < ids.length; i++) out[i] = this.value(ids[i]);
      return out;
    }
    return [...ids];
  }
}

const okAt = (f: number, p: number) => Math.fround(Number(f.toPrecision(p))) === f;

/**
 * A float32 as the shortest decimal that reads back to the same float32, as Go prints Milvus'
 * float32 scores and vectors (0.1, not 0.10000000149011612).
 */
export function float32Out(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.fround(x);
  if (Number.isInteger(f)) return f;
  let p = 6;
  if (okAt(f, p)) {
    while (p > 1 && okAt(f, p - 1)) p--;
  } else {
    p++;
    while (p < 9 && !okAt(f, p)) p++;
  }
  return Number(f.toPrecision(p));
}

function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** bigint → number, deeply: for values that are not Int64 (JSON documents, floats, small ints). */
function numbersOnly(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v))
    return v.some((x) => typeof x === "bigint" || typeof x === "object") ? v.map(numbersOnly) : v;
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, numbersOnly(x));
    return out;
  }
  return v;
}

function bytesOf(v: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0)
    throw new RestError("InvalidInsertData", `${what} must be an array of bytes or a base64 string`);
  const b = Buffer.from(v, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function fieldIn(f: FieldSchema, v: unknown, row: number): unknown {
  switch (f.dataType) {
    case DataType.Int64:
      return v;
    case DataType.BinaryVector:
      return typeof v === "string" ? bytesOf(v, `field ${f.name} row ${row}`) : v;
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      if (typeof v === "string")
        throw new RestError(
          "InvalidInsertData",
          `field ${f.name} row ${row}: give ${f.dataType === DataType.Float16Vector ? "float16" : "bfloat16"} vectors as arrays of numbers`,
        );
      return numbersOnly(v);
    case DataType.Array:
      return f.elementType === DataType.Int64 ? v : numbersOnly(v);
    default:
      return numbersOnly(v);
  }
}

/**
 * REST insert rows to the proxy's row format. Int64 values stay as sent (number, bigint for
 * long literals, or decimal string: the proxy validates all three); binary vectors may come as
 * base64; keys outside the schema go to the dynamic field, where a null means "not set", as
 * Milvus treats it (so does a null auto-ID key). Type checks are the proxy's.
 */
export function rowsIn(data: unknown, schema: CollectionSchema): Record<string, unknown>[] {
  if (!Array.isArray(data)) throw new RestError("IncorrectParameterFormat", "data must be an array of rows");
  if (data.length === 0) throw new RestError("MissingRequiredParameters", "data is required (no rows given)");
  const byName = new Map(schema.fields.filter((f) => !f.isDynamic).map((f) => [f.name, f] as const));
  const out = new Array<Record<string, unknown>>(data.length);
  for (let i = 0; i < data.length; i++) {
    const row: unknown = data[i];
    if (!isPlainObject(row)) throw new RestError("InvalidInsertData", `row ${i} must be an object`);
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) {
      const f = byName.get(k);
      if (f === undefined) {
        if (v !== null || !schema.enableDynamicField) setOwn(o, k, numbersOnly(v));
      } else if (v !== null || !(f.isPrimaryKey && f.autoId)) setOwn(o, k, fieldIn(f, v, i));
    }
    out[i] = o;
  }
  return out;
}

/** Which requested output names are dynamic keys (inside `$meta`) rather than schema fields. */
export interface OutputPlan {
  /** Names to ask the proxy for. */
  readonly fields: string[];
  /** Dynamic keys to surface from `$meta`: all of them ("*"), some, or none. */
  readonly dynamic: "all" | ReadonlySet<string>;
}

export const COUNT_STAR = "count(*)";

/**
 * Maps REST `outputFields` to proxy output fields. Names not in the schema are dynamic keys when
 * the collection has a dynamic field (served from `$meta`), else passed on for the proxy to refuse.
 */
export function planOutput(schema: CollectionSchema, names: readonly string[], withPk: boolean): OutputPlan {
  const known = new Set(schema.fields.map((f) => f.name));
  const fields: string[] = [];
  const dynamic = new Set<string>();
  let all = false;
  for (const n of names) {
    const name = n.trim();
    if (name === "*") {
      all = true;
      fields.push("*");
    } else if (name.toLowerCase() === COUNT_STAR) fields.push(COUNT_STAR);
    else if (known.has(name) || !schema.enableDynamicField) fields.push(name);
    else dynamic.add(name);
  }
  if (schema.enableDynamicField && (all || dynamic.size > 0)) fields.push(DYNAMIC_FIELD_NAME);
  const counting = fields.length === 1 && fields[0] === COUNT_STAR;
  const pk = schema.fields.find((f) => f.isPrimaryKey);
  if (withPk && !counting && !all && pk !== undefined && !fields.includes(pk.name)) fields.unshift(pk.name);
  return { fields: [...new Set(fields)], dynamic: all ? "all" : dynamic };
}

function bytesB64(values: readonly number[], width: 1 | 2): string {
  const b = Buffer.alloc(values.length * width);
  for (let i = 0; i < values.length; i++) {
    if (width === 1) b[i] = values[i] as number;
    else b.writeUInt16LE(values[i] as number, i * 2);
  }
  return b.toString("base64");
}

function fieldOut(f: FieldSchema, v: unknown, int64: Int64Out): unknown {
  switch (f.dataType) {
    case DataType.Int64:
      return int64.value(v);
    case DataType.Float:
      return typeof v === "number" ? float32Out(v) : v;
    case DataType.FloatVector:
      return Array.isArray(v) ? v.map((x: number) => float32Out(x)) : v;
    // Go writes []byte as base64, which is what Milvus returns for these.
    case DataType.BinaryVector:
      return Array.isArray(v) ? bytesB64(v as number[], 1) : v;
    case DataType.Float16Vector:
    case DataType.BFloat16Vector:
      return Array.isArray(v) ? bytesB64(v as number[], 2) : v;
    case DataType.SparseFloatVector: {
      if (!isPlainObject(v)) return v;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = typeof x === "number" ? float32Out(x) : x;
      return out;
    }
    case DataType.Array:
      if (!Array.isArray(v)) return v;
      if (f.elementType === DataType.Int64) return v.map((x) => int64.value(x));
      if (f.elementType === DataType.Float) return v.map((x) => (typeof x === "number" ? float32Out(x) : x));
      return v;
    default:
      return v;
  }
}

/** Converts proxy result rows to REST rows in place of a new array; `$meta` keys are lifted. */
export class RowsOut {
  readonly #byName: Map<string, FieldSchema>;
  readonly #int64: Int64Out;
  readonly #dynamic: "all" | ReadonlySet<string>;

  constructor(schema: CollectionSchema, int64: Int64Out, plan: OutputPlan) {
    this.#byName = new Map(schema.fields.map((f) => [f.name, f] as const));
    this.#int64 = int64;
    this.#dynamic = plan.dynamic;
  }

  row(r: QueryRow, into: Record<string, unknown> = {}): Record<string, unknown> {
    for (const [k, v] of Object.entries(r)) {
      if (k === DYNAMIC_FIELD_NAME) {
        if (!isPlainObject(v)) continue;
        for (const [dk, dv] of Object.entries(v)) {
          if (this.#dynamic === "all" || this.#dynamic.has(dk)) setOwn(into, dk, dv);
        }
        continue;
      }
      const f = this.#byName.get(k);
      // count(*) is an Int64 in Milvus, so it follows the Int64 rule too.
      if (f !== undefined) setOwn(into, k, fieldOut(f, v, this.#int64));
      else setOwn(into, k, k === COUNT_STAR ? this.#int64.value(v) : v);
    }
    return into;
  }

  /** A primary key value (search hits carry it apart from the fields). */
  pk(v: bigint | string): unknown {
    return this.#int64.value(v);
  }
}

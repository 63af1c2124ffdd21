import { badFormat, missing } from "./errors.ts";

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/**
 * Typed access to one JSON object of a request. Keys match as Go's `encoding/json` matches them
 * for Milvus: exactly, else case-insensitively (`autoId` finds `autoID`). A JSON null counts as
 * absent. Wrong types are `IncorrectParameterFormat` (1801), absent required ones
 * `MissingRequiredParameters` (1802).
 */
export class Params {
  readonly #o: Readonly<Record<string, unknown>>;
  readonly #where: string;

  constructor(o: Readonly<Record<string, unknown>>, where = "") {
    this.#o = o;
    this.#where = where;
  }

  #name(key: string): string {
    return this.#where === "" ? key : `${this.#where}.${key}`;
  }

  raw(key: string): unknown {
    if (Object.hasOwn(this.#o, key)) {
      const v = this.#o[key];
      return v === null ? undefined : v;
    }
    const lower = key.toLowerCase();
    for (const k of Object.keys(this.#o)) {
      if (k.toLowerCase() === lower) {
        const v = this.#o[k];
        return v === null ? undefined : v;
      }
    }
    return undefined;
  }

  has(key: string): boolean {
    return this.raw(key) !== undefined;
  }

  str(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw badFormat(`${this.#name(key)} must be a string`);
    return v;
  }

  /** A non-empty string. */
  reqStr(key: string): string {
    const v = this.str(key);
    if (v === undefined || v === "") throw missing(this.#name(key));
    return v;
  }

  int(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v))
      throw badFormat(`${this.#name(key)} must be an integer`);
    return v;
  }

  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") throw badFormat(`${this.#name(key)} must be true or false`);
    return v;
  }

  strList(key: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
      throw badFormat(`${this.#name(key)} must be an array of strings`);
    return v as string[];
  }

  /** A non-empty array of strings. */
  reqStrList(key: string): string[] {
    const v = this.strList(key);
    if (v === undefined || v.length === 0) throw missing(this.#name(key));
    return v;
  }

  obj(key: string): Params | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!isPlainObject(v)) throw badFormat(`${this.#name(key)} must be an object`);
    return new Params(v, this.#name(key));
  }

  /** The object's own entries (for free-form maps such as index `params`). */
  entries(): [string, unknown][] {
    return Object.entries(this.#o);
  }

  list(key: string): unknown[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw badFormat(`${this.#name(key)} must be an array`);
    return v;
  }

  /** Each element of an array of objects. */
  objList(key: string): Params[] | undefined {
    const v = this.list(key);
    return v?.map((x, i) => {
      if (!isPlainObject(x)) throw badFormat(`${this.#name(key)}[${i}] must be an object`);
      return new Params(x, `${this.#name(key)}[${i}]`);
    });
  }
}

import { Buffer } from "node:buffer";
import { StrataError } from "../common/errors.ts";
import { decodeJsonBytes, encodeJsonBytes } from "../common/json.ts";
import type { NodeQueryRequest, NodeQueryResult, NodeSearchRequest, NodeSearchResult } from "./types.ts";

/**
 * The query channels' wire format: one JSON document per record (`encodeJsonBytes`, so bigints
 * are `{"$n": "<decimal>"}`), with every typed array written as `{"$ta": "<Type>", "b64": "..."}`
 * (its little-endian bytes in base64).
 */

/** A request on a request channel. `nodeId`, when set, names the only node that must answer. */
export type QueryChannelRequest =
  | {
      readonly requestId: string;
      readonly nodeId?: number;
      readonly kind: "search";
      readonly request: NodeSearchRequest;
    }
  | {
      readonly requestId: string;
      readonly nodeId?: number;
      readonly kind: "query";
      readonly request: NodeQueryRequest;
    };

/** A node's answer on the result channel. */
export type QueryChannelResult =
  | {
      readonly requestId: string;
      readonly nodeId: number;
      readonly kind: "search";
      readonly ok: true;
      readonly result: NodeSearchResult;
    }
  | {
      readonly requestId: string;
      readonly nodeId: number;
      readonly kind: "query";
      readonly ok: true;
      readonly result: NodeQueryResult;
    }
  | {
      readonly requestId: string;
      readonly nodeId: number;
      readonly ok: false;
      readonly error: { readonly code: string; readonly message: string };
    };

type TypedCtor = {
  new (buffer: ArrayBuffer): ArrayBufferView;
  readonly BYTES_PER_ELEMENT: number;
};

const TYPED: Readonly<Record<string, TypedCtor>> = {
  Uint8Array,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

function toWire(v: unknown): unknown {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const name = v.constructor.name;
    if (TYPED[name] === undefined) throw new StrataError("ParameterInvalid", `cannot encode a ${name}`);
    return { $ta: name, b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  }
  if (Array.isArray(v)) return v.map(toWire);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toWire(x);
    return out;
  }
  return v;
}

function fromWire(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromWire);
  if (typeof v !== "object" || v === null) return v;
  const o = v as Record<string, unknown>;
  if (typeof o.$ta === "string" && typeof o.b64 === "string") {
    const ctor = TYPED[o.$ta];
    if (ctor === undefined) throw new StrataError("Corrupted", `unknown typed array ${o.$ta}`);
    const bytes = Buffer.from(o.b64, "base64");
    if (bytes.byteLength % ctor.BYTES_PER_ELEMENT !== 0) {
      throw new StrataError("Corrupted", `${o.$ta} of ${bytes.byteLength} bytes`);
    }
    // A fresh buffer: aligned for the element size and owned by the result.
    const ab = new ArrayBuffer(bytes.byteLength);
    new Uint8Array(ab).set(bytes);
    return new ctor(ab);
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = fromWire(x);
  return out;
}

export function encodeWire(value: unknown): Uint8Array {
  return encodeJsonBytes(toWire(value));
}

/** @throws StrataError Corrupted for bytes that are not a wire document. */
export function decodeWire<T>(bytes: Uint8Array, what = "query channel record"): T {
  return fromWire(decodeJsonBytes<unknown>(bytes, what)) as T;
}

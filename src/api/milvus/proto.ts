import { createRequire } from "node:module";
import { endianness } from "node:os";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";
import protobuf from "protobufjs";
import { DataType } from "../../common/types.ts";

/**
 * The Milvus protocol definitions, taken at run time from the pinned official Node SDK (its
 * protobufjs JSON descriptors, `milvus-proto` 3.0 with snake_case names). Field numbers are what
 * travel on the wire; they are identical in the 2.5, 2.6 and 3.0 protocol lines, so SDKs of all
 * three lines talk to this service. Loaded per server (no module state): cheap, and a test
 * process may run many servers.
 */
export interface MilvusProto {
  /**
   * `milvus.proto.milvus.MilvusService`. The hot RPCs skip proto-loader's plain-object copies:
   * Search requests are decoded straight into the fields its handler reads, and the responses of
   * the RPCs in `DIRECT_REPLIES` are encoded by protobufjs straight from encode-ready objects
   * (enums as numbers, typed arrays allowed; see `field-output.ts`), without a `fromObject` pass.
   */
  readonly milvusService: ServiceDefinition;
  /** Serialized `schema.CollectionSchema` (CreateCollectionRequest.schema) → plain object. */
  decodeSchema(bytes: Uint8Array): WireCollectionSchema;
  /** Serialized `common.PlaceholderGroup` (SearchRequest.placeholder_group), values as byte views. */
  decodePlaceholders(bytes: Uint8Array): WirePlaceholderGroup;
}

/** RPCs whose requests are decoded with Strata's own root (float arrays as Float32Array). */
const TYPED_REQUESTS: Readonly<Record<string, string>> = {
  Insert: "milvus.proto.milvus.InsertRequest",
  Upsert: "milvus.proto.milvus.UpsertRequest",
};

/** RPCs whose handlers return encode-ready responses, with their response message types. */
export const DIRECT_REPLIES: Readonly<Record<string, string>> = {
  Search: "milvus.proto.milvus.SearchResults",
  Query: "milvus.proto.milvus.QueryResults",
};

export interface WireKeyValue {
  readonly key: string;
  readonly value: string;
}

export interface WireFieldSchema {
  readonly name: string;
  readonly description: string;
  readonly data_type: string;
  readonly is_primary_key: boolean;
  readonly autoID: boolean;
  readonly type_params: readonly WireKeyValue[];
  readonly element_type: string;
  readonly is_dynamic: boolean;
  readonly is_partition_key: boolean;
  readonly is_clustering_key: boolean;
  readonly nullable: boolean;
  readonly default_value?: unknown;
  readonly is_function_output: boolean;
}

export interface WireCollectionSchema {
  readonly name: string;
  readonly description: string;
  readonly autoID: boolean;
  readonly enable_dynamic_field: boolean;
  readonly fields: readonly WireFieldSchema[];
  readonly functions: readonly unknown[];
  readonly struct_array_fields: readonly unknown[];
}

export interface WirePlaceholderGroup {
  readonly placeholders: readonly {
    readonly tag: string;
    readonly type: string;
    readonly values: readonly Uint8Array[];
  }[];
}

/** Options shared by the service loader and the message decoders: the wire objects look alike. */
const OBJECT_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

interface RootJson {
  readonly nested: Record<string, unknown>;
}

function loadDescriptorJson(): RootJson {
  const require = createRequire(import.meta.url);
  const mod = require("@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus.js") as {
    default?: RootJson;
  } & Partial<RootJson>;
  const json = mod.default ?? (mod as RootJson);
  if (json.nested === undefined) throw new Error("the Milvus SDK's protocol descriptors were not found");
  return json;
}

/**
 * A SearchRequest as the Search handler reads it. Only these fields are taken from the decoded
 * message: proto-loader's `toObject` with defaults would copy all of its two dozen fields.
 */
function searchRequestReader(root: protobuf.Root): (bytes: Buffer) => Record<string, unknown> {
  const type = root.lookupType("milvus.proto.milvus.SearchRequest");
  const levels = root.lookupEnum("milvus.proto.common.ConsistencyLevel").valuesById;
  return (bytes) => {
    const m = type.decode(bytes) as unknown as Record<string, unknown>;
    const level = m.consistency_level;
    return {
      db_name: m.db_name,
      collection_name: m.collection_name,
      partition_names: m.partition_names,
      dsl: m.dsl,
      placeholder_group: m.placeholder_group,
      search_input: m.search_input,
      output_fields: m.output_fields,
      search_params: m.search_params,
      consistency_level: typeof level === "number" ? (levels[level] ?? String(level)) : level,
      use_default_consistency: m.use_default_consistency,
      search_by_primary_keys: m.search_by_primary_keys,
      sub_reqs: m.sub_reqs,
      expr_template_values: m.expr_template_values,
    };
  };
}

/**
 * `schema.FloatArray` (vectors and Float columns) as one block of little-endian floats instead of
 * a number per element: protobufjs' generated code writes one writer op per float and decodes
 * into a plain array, which for a 16,384 × 128 reply is two million objects for the collector.
 * A packed repeated float is on the wire exactly a length-delimited run of float32 LE, so encoding
 * the typed array's bytes as field 1 is the same message. Decoding gives a Float32Array (an
 * unpacked encoding, legal for repeated floats, is read too), and `toObject` passes it through.
 * Only on little-endian hosts (the typed array's byte order must be the wire's).
 */
function typedFloatArrays(root: protobuf.Root): void {
  if (endianness() !== "LE") return;
  const type = root.lookupType("milvus.proto.schema.FloatArray");
  type.setup();
  const encode = (m: { data?: ArrayLike<number> }, w?: protobuf.Writer): protobuf.Writer => {
    const writer = w ?? protobuf.Writer.create();
    const data = m.data;
    if (data !== undefined && data.length > 0) {
      const f = data instanceof Float32Array ? data : Float32Array.from(data);
      writer.uint32(10).bytes(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
    }
    return writer;
  };
  const decode = (input: protobuf.Reader | Uint8Array, length?: number): { data: Float32Array } => {
    const r = input instanceof protobuf.Reader ? input : protobuf.Reader.create(input);
    const end = length === undefined ? r.len : r.pos + length;
    const runs: Float32Array[] = [];
    let total = 0;
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag === 10) {
        const n = r.uint32();
        // A copy into a fresh buffer: the message's bytes need not be 4-byte aligned (and a
        // Buffer's slice would be a view of its pool).
        const bytes = new Uint8Array(n - (n % 4));
        bytes.set(r.buf.subarray(r.pos, r.pos + bytes.length));
        const run = new Float32Array(bytes.buffer);
        r.pos += n;
        runs.push(run);
        total += run.length;
      } else if (tag === 13) {
        runs.push(Float32Array.of(r.float()));
        total++;
      } else r.skipType(tag & 7);
    }
    if (runs.length === 1) return { data: runs[0] as Float32Array };
    const data = new Float32Array(total);
    let at = 0;
    for (const run of runs) {
      data.set(run, at);
      at += run.length;
    }
    return { data };
  };
  Object.assign(type, {
    encode,
    decode,
    toObject: (m: { data?: Float32Array }) => ({ data: m.data ?? new Float32Array(0) }),
  });
}

/** Strata's data type codes are Milvus' own; checked once so a protocol change cannot slip by. */
function checkDataTypes(root: protobuf.Root): void {
  const values = root.lookupEnum("milvus.proto.schema.DataType").values;
  for (const [name, code] of Object.entries(DataType)) {
    if (values[name] !== code) {
      throw new Error(
        `the Milvus protocol's DataType.${name} is ${String(values[name])}, Strata uses ${code}`,
      );
    }
  }
}

export function loadMilvusProto(): MilvusProto {
  const json = loadDescriptorJson();
  const def = fromJSON(json as Parameters<typeof fromJSON>[0], OBJECT_OPTIONS);
  const svc = def["milvus.proto.milvus.MilvusService"] as unknown as ServiceDefinition | undefined;
  if (svc === undefined) throw new Error("MilvusService is missing from the SDK's protocol descriptors");
  const root = protobuf.Root.fromJSON(json as protobuf.INamespace);
  checkDataTypes(root);
  typedFloatArrays(root);
  const schemaType = root.lookupType("milvus.proto.schema.CollectionSchema");
  const placeholderType = root.lookupType("milvus.proto.common.PlaceholderGroup");
  const placeholderTypes = root.lookupEnum("milvus.proto.common.PlaceholderType").valuesById;
  const service: Record<string, MethodDefinition<unknown, unknown>> = { ...svc };
  const methodOf = (method: string): MethodDefinition<unknown, unknown> => {
    const m = service[method];
    if (m === undefined)
      throw new Error(`MilvusService.${method} is missing from the SDK's protocol descriptors`);
    return m;
  };
  for (const [method, reply] of Object.entries(DIRECT_REPLIES)) {
    const m = methodOf(method);
    const type = root.lookupType(reply);
    service[method] = {
      ...m,
      responseSerialize: (value: unknown) => type.encode(value as protobuf.Message).finish() as Buffer,
      ...(method === "Search" ? { requestDeserialize: searchRequestReader(root) } : {}),
    };
  }
  for (const [method, request] of Object.entries(TYPED_REQUESTS)) {
    const m = methodOf(method);
    const type = root.lookupType(request);
    service[method] = {
      ...m,
      requestDeserialize: (bytes: Buffer) => type.toObject(type.decode(bytes), OBJECT_OPTIONS),
    };
  }
  return {
    milvusService: service as ServiceDefinition,
    decodeSchema: (bytes) =>
      schemaType.toObject(schemaType.decode(bytes), OBJECT_OPTIONS) as unknown as WireCollectionSchema,
    decodePlaceholders: (bytes) => {
      const m = placeholderType.decode(bytes) as unknown as {
        placeholders: { tag: string; type: number; values: Uint8Array[] }[];
      };
      return {
        placeholders: m.placeholders.map((p) => ({
          tag: p.tag,
          type: placeholderTypes[p.type] ?? String(p.type),
          values: p.values,
        })),
      };
    },
  };
}

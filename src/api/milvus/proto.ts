import { createRequire } from "node:module";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";
import protobuf from "protobufjs";

/**
 * The Milvus protocol definitions, taken at run time from the pinned official Node SDK (its
 * protobufjs JSON descriptors, `milvus-proto` 3.0 with snake_case names). Field numbers are what
 * travel on the wire; they are identical in the 2.5, 2.6 and 3.0 protocol lines, so SDKs of all
 * three lines talk to this service. Loaded per server (no module state): cheap, and a test
 * process may run many servers.
 */
export interface MilvusProto {
  readonly milvusService: ServiceDefinition;
  /** Serialized `schema.CollectionSchema` (CreateCollectionRequest.schema) → plain object. */
  decodeSchema(bytes: Uint8Array): WireCollectionSchema;
  /** Serialized `common.PlaceholderGroup` (SearchRequest.placeholder_group) → plain object. */
  decodePlaceholders(bytes: Uint8Array): WirePlaceholderGroup;
}

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

export function loadMilvusProto(): MilvusProto {
  const json = loadDescriptorJson();
  const def = fromJSON(json as Parameters<typeof fromJSON>[0], OBJECT_OPTIONS);
  const svc = def["milvus.proto.milvus.MilvusService"];
  if (svc === undefined) throw new Error("MilvusService is missing from the SDK's protocol descriptors");
  const root = protobuf.Root.fromJSON(json as protobuf.INamespace);
  const schemaType = root.lookupType("milvus.proto.schema.CollectionSchema");
  const placeholderType = root.lookupType("milvus.proto.common.PlaceholderGroup");
  return {
    milvusService: svc as unknown as ServiceDefinition,
    decodeSchema: (bytes) =>
      schemaType.toObject(schemaType.decode(bytes), OBJECT_OPTIONS) as unknown as WireCollectionSchema,
    decodePlaceholders: (bytes) =>
      placeholderType.toObject(placeholderType.decode(bytes), {
        ...OBJECT_OPTIONS,
        bytes: Uint8Array,
      } as protobuf.IConversionOptions) as unknown as WirePlaceholderGroup,
  };
}

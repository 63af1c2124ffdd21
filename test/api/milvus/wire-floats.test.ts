// Float arrays (vectors, Float columns) cross the wire as one block of bytes in Strata's codec;
// messages must stay exactly what protobufjs' generated code reads and writes: Insert requests as
// the SDK encodes them (packed, and unpacked floats too) decode to the same values, and Query
// replies decode with a plain protobufjs root to the values sent.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import protobuf from "protobufjs";
import { loadMilvusProto } from "../../../src/api/milvus/proto.ts";
import { rng } from "../../helpers/env.ts";

function vanillaRoot(): protobuf.Root {
  const require = createRequire(import.meta.url);
  const mod = require("@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus.js") as {
    default?: protobuf.INamespace;
  };
  return protobuf.Root.fromJSON((mod.default ?? mod) as protobuf.INamespace);
}

const r = rng(5);
const floats = (n: number) => Float32Array.from({ length: n }, () => Math.fround((r() - 0.5) * 1e3));

describe("Milvus wire: float arrays", () => {
  const svc = loadMilvusProto().milvusService as unknown as Record<
    string,
    { requestDeserialize: (b: Buffer) => unknown; responseSerialize: (v: unknown) => Buffer }
  >;
  const root = vanillaRoot();

  it("an Insert request as protobufjs encodes it decodes to the same vectors and Float column", () => {
    const vec = floats(7 * 5);
    const col = floats(7);
    const req = root.lookupType("milvus.proto.milvus.InsertRequest");
    const bytes = Buffer.from(
      req
        .encode(
          req.fromObject({
            collection_name: "c",
            num_rows: 7,
            fields_data: [
              { field_name: "v", type: 101, vectors: { dim: 5, float_vector: { data: Array.from(vec) } } },
              { field_name: "f", type: 10, scalars: { float_data: { data: Array.from(col) } } },
            ],
          }),
        )
        .finish(),
    );
    // The message arrives at an odd offset of a larger buffer, as it can from the socket.
    const framed = Buffer.concat([Buffer.from([1, 2, 3]), bytes]).subarray(3);
    const got = svc.Insert?.requestDeserialize(framed) as {
      collection_name: string;
      fields_data: {
        vectors?: { float_vector?: { data: Float32Array } };
        scalars?: { float_data?: { data: Float32Array } };
      }[];
    };
    assert.equal(got.collection_name, "c");
    assert.deepEqual([...(got.fields_data[0]?.vectors?.float_vector?.data ?? [])], [...vec]);
    assert.deepEqual([...(got.fields_data[1]?.scalars?.float_data?.data ?? [])], [...col]);
  });

  it("unpacked floats (legal for a repeated float) are read too", () => {
    // FloatArray { data: [1.5, -2] } written element by element: tag 13 (field 1, fixed32).
    const w = protobuf.Writer.create();
    w.uint32(13).float(1.5).uint32(13).float(-2);
    const fa = w.finish();
    const vf = protobuf.Writer.create().uint32(8).int64(2).uint32(18).bytes(fa).finish(); // VectorField
    const fd = protobuf.Writer.create().uint32(8).int32(101).uint32(34).bytes(vf).finish(); // FieldData.vectors = 4
    const ins = protobuf.Writer.create().uint32(42).bytes(fd).uint32(56).uint32(1).finish(); // InsertRequest
    const got = svc.Insert?.requestDeserialize(Buffer.from(ins)) as {
      fields_data: { vectors?: { float_vector?: { data: Float32Array } } }[];
    };
    assert.deepEqual([...(got.fields_data[0]?.vectors?.float_vector?.data ?? [])], [1.5, -2]);
  });

  it("a Query reply with vectors and a Float column decodes with protobufjs' own code", () => {
    const vec = floats(3 * 4);
    const col = floats(3);
    const bytes = svc.Query?.responseSerialize({
      status: { code: 0 },
      collection_name: "c",
      fields_data: [
        { type: 101, field_name: "v", field_id: 101, vectors: { dim: 4, float_vector: { data: vec } } },
        { type: 10, field_name: "f", field_id: 102, scalars: { float_data: { data: Array.from(col) } } },
        { type: 10, field_name: "e", field_id: 103, scalars: { float_data: { data: new Float32Array(0) } } },
      ],
    });
    const res = root.lookupType("milvus.proto.milvus.QueryResults");
    const m = res.toObject(res.decode(bytes as Buffer)) as {
      fields_data: {
        vectors?: { float_vector?: { data: number[] } };
        scalars?: { float_data?: { data: number[] } };
      }[];
    };
    assert.deepEqual(m.fields_data[0]?.vectors?.float_vector?.data, [...vec]);
    assert.deepEqual(m.fields_data[1]?.scalars?.float_data?.data, [...col]);
    assert.deepEqual(m.fields_data[2]?.scalars?.float_data?.data ?? [], []);
  });
});

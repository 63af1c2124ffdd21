import { StrataError } from "../common/errors.ts";
import { DataType } from "../common/types.ts";
import { decodeBFloat16, decodeFloat16 } from "../index/index.ts";
import type { ObjectStore } from "../objectstore/types.ts";
import { decodeBinlog } from "../storage/index.ts";
import type { BuildJob } from "./types.ts";

function corrupted(job: BuildJob, msg: string): StrataError {
  return new StrataError("Corrupted", `segment ${job.segmentId} field ${job.fieldId}: ${msg}`);
}

/**
 * The vectors of one segment field, concatenated in binlog order, in the form the index kernels
 * build from: float32 for float, float16 and bfloat16 fields (half precision widened exactly),
 * bytes for binary vectors. Every binlog is checked to belong to the segment and field.
 */
export async function readVectors(
  objects: ObjectStore,
  job: BuildJob,
  signal: AbortSignal,
): Promise<Float32Array | Uint8Array> {
  const binary = job.dataType === DataType.BinaryVector;
  const perRow = binary ? job.dim / 8 : job.dim;
  const out = binary ? new Uint8Array(job.rows * perRow) : new Float32Array(job.rows * perRow);
  let row = 0;
  for (const key of job.binlogs) {
    if (signal.aborted) throw new StrataError("Closed", "index build aborted");
    const { header, column } = decodeBinlog(await objects.get(key));
    if (header.segmentId !== job.segmentId || header.fieldId !== job.fieldId) {
      throw corrupted(job, `binlog ${key} belongs to segment ${header.segmentId} field ${header.fieldId}`);
    }
    if (column.type !== job.dataType || !("dim" in column) || column.dim !== job.dim) {
      throw corrupted(job, `binlog ${key} holds type ${column.type}, expected ${job.dataType}/${job.dim}`);
    }
    const n = column.data.length / perRow;
    if (row + n > job.rows) throw corrupted(job, `binlogs hold more than the recorded ${job.rows} rows`);
    const at = row * perRow;
    switch (column.type) {
      case DataType.FloatVector:
      case DataType.BinaryVector:
        out.set(column.data, at);
        break;
      case DataType.Float16Vector:
        decodeFloat16(column.data, (out as Float32Array).subarray(at, at + column.data.length));
        break;
      case DataType.BFloat16Vector:
        decodeBFloat16(column.data, (out as Float32Array).subarray(at, at + column.data.length));
        break;
      default:
        throw corrupted(job, `type ${job.dataType} cannot be indexed`);
    }
    row += n;
  }
  if (row !== job.rows)
    throw corrupted(job, `binlogs hold ${row} rows, the dataservice recorded ${job.rows}`);
  return out;
}

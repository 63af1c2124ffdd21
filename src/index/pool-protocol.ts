import type { ErrorCode } from "../common/errors.ts";
import type { CheckedSearch } from "./exact.ts";
import type { PreparedSegment } from "./segment.ts";

/** Messages between SearchPool and its workers. Array payloads sit on SharedArrayBuffers. */
export type ToWorker =
  | {
      readonly t: "search";
      readonly id: number;
      readonly seg: PreparedSegment;
      readonly search: CheckedSearch;
      readonly r0: number;
      readonly r1: number;
    }
  /** Fault injection: the worker throws an uncaught error on its next search. */
  | { readonly t: "crash-next" };

export type FromWorker =
  | { readonly t: "ready" }
  | { readonly t: "result"; readonly id: number; readonly offsets: Int32Array; readonly scores: Float32Array }
  | {
      readonly t: "error";
      readonly id: number;
      readonly code: ErrorCode | undefined;
      readonly message: string;
    };

/**
 * The typed error catalogue. Every error Strata raises on purpose is a `StrataError` with a stable
 * string code, the Milvus `merr` numeric code (what the wire reports in `Status.code`), the legacy
 * `ErrorCode` enum value the Node SDK reads from `Status.error_code`, a retriable flag and a kind:
 * "input" errors are the caller's fault and changed nothing; "system" errors are ours or the
 * environment's.
 */

export type ErrorKind = "input" | "system";

interface CatalogueEntry {
  /** Milvus merr code carried in `Status.code`. */
  readonly milvusCode: number;
  /** Legacy `common.ErrorCode` enum value for `Status.error_code` (must be non-zero on failure). */
  readonly legacyCode: number;
  readonly retriable: boolean;
  readonly kind: ErrorKind;
}

const UNEXPECTED = 1;

/** Stable codes. Never renumber: clients and stored state may depend on them. */
export const ERRORS = {
  // service
  ServiceNotReady: { milvusCode: 1, legacyCode: UNEXPECTED, retriable: true, kind: "system" },
  ServiceUnavailable: { milvusCode: 2, legacyCode: UNEXPECTED, retriable: true, kind: "system" },
  ServiceInternal: { milvusCode: 5, legacyCode: UNEXPECTED, retriable: false, kind: "system" },
  Unimplemented: { milvusCode: 10, legacyCode: UNEXPECTED, retriable: false, kind: "system" },
  Timeout: { milvusCode: 2, legacyCode: UNEXPECTED, retriable: true, kind: "system" },
  Closed: { milvusCode: 2, legacyCode: UNEXPECTED, retriable: false, kind: "system" },
  // catalogue objects
  CollectionNotFound: { milvusCode: 100, legacyCode: 4, retriable: false, kind: "input" },
  CollectionNotLoaded: { milvusCode: 101, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  CollectionIllegalSchema: { milvusCode: 105, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  PartitionNotFound: { milvusCode: 200, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  PartitionNotLoaded: { milvusCode: 201, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  ChannelNotFound: { milvusCode: 500, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  SegmentNotFound: { milvusCode: 600, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  IndexNotFound: { milvusCode: 700, legacyCode: 25, retriable: false, kind: "input" },
  NodeNotFound: { milvusCode: 901, legacyCode: UNEXPECTED, retriable: false, kind: "system" },
  // storage / io
  KeyNotFound: { milvusCode: 1000, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  IoFailed: { milvusCode: 1001, legacyCode: UNEXPECTED, retriable: true, kind: "system" },
  IoUnexpectedEOF: { milvusCode: 1002, legacyCode: UNEXPECTED, retriable: false, kind: "system" },
  Corrupted: { milvusCode: 1001, legacyCode: UNEXPECTED, retriable: false, kind: "system" },
  // parameters
  ParameterInvalid: { milvusCode: 1100, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  ParameterMissing: { milvusCode: 1101, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  ParameterTooLarge: { milvusCode: 1102, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  // message queue
  MqTopicNotFound: { milvusCode: 1300, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  MqInternal: { milvusCode: 1302, legacyCode: UNEXPECTED, retriable: true, kind: "system" },
  // meta store
  TxnConflict: { milvusCode: 5, legacyCode: UNEXPECTED, retriable: true, kind: "system" },
  LeaseExpired: { milvusCode: 5, legacyCode: UNEXPECTED, retriable: false, kind: "system" },
  // fields
  FieldNotFound: { milvusCode: 1700, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  FieldInvalidName: { milvusCode: 1701, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
  // auth (Milvus ErrPrivilegeNotAuthenticated / ErrPrivilegeNotPermitted; legacy PermissionDenied)
  AuthenticationFailed: { milvusCode: 1400, legacyCode: 3, retriable: false, kind: "input" },
  PermissionDenied: { milvusCode: 1401, legacyCode: 3, retriable: false, kind: "input" },
  // config
  ConfigInvalid: { milvusCode: 1100, legacyCode: UNEXPECTED, retriable: false, kind: "input" },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly milvusCode: number;
  readonly legacyCode: number;
  readonly retriable: boolean;
  readonly kind: ErrorKind;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    const entry: CatalogueEntry = ERRORS[code];
    this.name = "StrataError";
    this.code = code;
    this.milvusCode = entry.milvusCode;
    this.legacyCode = entry.legacyCode;
    this.retriable = entry.retriable;
    this.kind = entry.kind;
  }
}

export function isStrataError(e: unknown, code?: ErrorCode): e is StrataError {
  return e instanceof StrataError && (code === undefined || e.code === code);
}

/** Wraps an unknown failure as a system error, keeping StrataErrors as they are. */
export function asStrataError(e: unknown, code: ErrorCode, context: string): StrataError {
  if (e instanceof StrataError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new StrataError(code, `${context}: ${msg}`, { cause: e });
}

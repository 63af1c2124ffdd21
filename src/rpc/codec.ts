import { deserialize, serialize } from "node:v8";
import { status as GrpcStatus, Metadata, type ServiceError } from "@grpc/grpc-js";
import { ERRORS, type ErrorCode, StrataError } from "../common/errors.ts";

/** The wire form of proto/strata/rpc.proto's Envelope as proto-loader hands it over. */
export interface Envelope {
  body: Buffer;
}

export function encodeBody(value: unknown): Envelope {
  return { body: serialize(value) };
}

/** @throws StrataError Corrupted when the body is not a structured-clone serialization. */
export function decodeBody(env: Envelope | undefined, what: string): unknown {
  const body = env?.body;
  if (body === undefined || body.length === 0) return undefined;
  try {
    return deserialize(body);
  } catch (e) {
    throw new StrataError("Corrupted", `${what}: undecodable RPC body`, { cause: e });
  }
}

const CODE_KEY = "strata-code";

function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERRORS, s);
}

/** A failure of a served method as a gRPC status; a StrataError keeps its code in the trailer. */
export function toServiceError(e: unknown): Partial<ServiceError> {
  const md = new Metadata();
  if (e instanceof StrataError) {
    md.set(CODE_KEY, e.code);
    const code =
      e.code === "Unimplemented"
        ? GrpcStatus.UNIMPLEMENTED
        : e.kind === "input"
          ? GrpcStatus.INVALID_ARGUMENT
          : GrpcStatus.UNKNOWN;
    return { code, details: e.message, metadata: md };
  }
  md.set(CODE_KEY, "ServiceInternal");
  const msg = e instanceof Error ? e.message : String(e);
  return { code: GrpcStatus.INTERNAL, details: msg, metadata: md };
}

/**
 * A failed call as the StrataError the remote method threw. Transport failures (the peer is gone,
 * unreachable or too slow) become ServiceUnavailable, which every caller treats as retriable.
 */
export function fromServiceError(err: ServiceError, target: string): StrataError {
  const code = err.metadata?.get(CODE_KEY)[0];
  if (typeof code === "string" && isErrorCode(code)) return new StrataError(code, err.details || err.message);
  switch (err.code) {
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.CANCELLED:
      return new StrataError(
        "ServiceUnavailable",
        `${target} is not available: ${err.details || err.message}`,
        {
          cause: err,
        },
      );
    case GrpcStatus.UNIMPLEMENTED:
      return new StrataError("Unimplemented", `${target}: ${err.details || err.message}`, { cause: err });
    default:
      return new StrataError("ServiceInternal", `${target}: ${err.details || err.message}`, { cause: err });
  }
}

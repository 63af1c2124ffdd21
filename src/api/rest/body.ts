import type { IncomingMessage } from "node:http";
import { StrataError } from "../../common/errors.ts";
import { MAX_BATCH_BYTES } from "../../proxy/validate.ts";

/** Largest request body accepted (Milvus' proxy takes 64 MiB requests). */
export const MAX_REST_BODY_BYTES = MAX_BATCH_BYTES;

/** Thrown when a body is over the limit; the caller answers 413 and closes the connection. */
export class BodyTooLarge extends StrataError {
  constructor(limit: number) {
    super("ParameterTooLarge", `request body is larger than ${limit} bytes (${limit / 1048576} MiB)`);
  }
}

/**
 * Reads the whole body. A declared `Content-Length` over the limit is refused before reading a
 * byte; an undeclared (chunked) body is refused as soon as it passes the limit, and the rest is
 * discarded unread, so at most `limit` bytes are ever held.
 */
export function readBody(req: IncomingMessage, limit = MAX_REST_BODY_BYTES): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(new BodyTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        // Keep the stream flowing into nothing: the response goes out, then the socket closes.
        req.resume();
        reject(new BodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

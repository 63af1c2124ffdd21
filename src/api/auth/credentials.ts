import { StrataError } from "../../common/errors.ts";

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** Splits `user:password` at the first colon (user names never hold one; passwords may). */
function splitToken(token: string): Credentials | undefined {
  const i = token.indexOf(":");
  if (i <= 0) return undefined;
  return { user: token.slice(0, i), password: token.slice(i + 1) };
}

function fromBase64(value: string): string | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return undefined;
  return Buffer.from(value, "base64").toString("utf8");
}

const malformed = (what: string) =>
  new StrataError(
    "AuthenticationFailed",
    `${what}: expected the credentials "user:password" (Milvus SDKs send them from token or username/password)`,
  );

/**
 * The gRPC `authorization` metadata as Milvus SDKs send it: base64 of `user:password`, or of a
 * token, which for Milvus without API keys is `user:password` too. Undefined when absent.
 * @throws StrataError AuthenticationFailed when present but not of that form.
 */
export function parseGrpcAuthorization(value: string | undefined): Credentials | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const v = value.trim();
  const decoded = fromBase64(v);
  const creds = (decoded === undefined ? undefined : splitToken(decoded)) ?? splitToken(v);
  if (creds === undefined) throw malformed("the authorization metadata is malformed");
  return creds;
}

/**
 * The HTTP `Authorization` header: `Bearer user:password` (Milvus' RESTful v2 token, also
 * accepted base64-encoded) or `Basic base64(user:password)`. Undefined when absent.
 * @throws StrataError AuthenticationFailed when present but not of one of these forms.
 */
export function parseHttpAuthorization(value: string | undefined): Credentials | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const m = /^(\S+)\s+(.+)$/.exec(value.trim());
  if (m === null) throw malformed("the Authorization header is malformed");
  const scheme = (m[1] ?? "").toLowerCase();
  const token = (m[2] ?? "").trim();
  let creds: Credentials | undefined;
  if (scheme === "bearer") {
    creds = splitToken(token);
    if (creds === undefined) {
      const decoded = fromBase64(token);
      creds = decoded === undefined ? undefined : splitToken(decoded);
    }
  } else if (scheme === "basic") {
    const decoded = fromBase64(token);
    creds = decoded === undefined ? undefined : splitToken(decoded);
  } else {
    throw malformed(`the Authorization scheme "${m[1]}" is not supported (use Bearer or Basic)`);
  }
  if (creds === undefined) throw malformed("the Authorization header is malformed");
  return creds;
}

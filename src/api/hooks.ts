/**
 * What the front doors (Milvus gRPC, REST) report about the requests they serve; the server wires
 * these into its metrics. All optional so tests can serve without metrics.
 */
export interface FrontDoorHooks {
  /** One finished request: `code` is "Success" or the failing error code name. */
  readonly onRequest?: (protocol: "grpc" | "rest", method: string, code: string, seconds: number) => void;
  /** Rows accepted (acknowledged) by a mutation. */
  readonly onRows?: (kind: "insert" | "upsert" | "delete", rows: number) => void;
}

/**
 * Checks the credentials a request carries. `authorization` is the raw value of the gRPC
 * `authorization` metadata (base64 of `user:password` or of a token) or of the HTTP
 * `Authorization` header (`Bearer user:password` / `Bearer <token>`, or `Basic …`).
 */
export interface Authenticator {
  /** False when auth is off: every request passes. */
  readonly enabled: boolean;
  /**
   * Resolves to the user name. Never throws for a missing header when disabled.
   * @throws StrataError AuthenticationFailed when enabled and the credentials are missing or wrong.
   */
  authenticateGrpc(authorization: string | undefined): Promise<string>;
  /** As `authenticateGrpc`, for an HTTP `Authorization` header value. */
  authenticateHttp(authorization: string | undefined): Promise<string>;
}

import { StrataError } from "../../common/errors.ts";

/**
 * Milvus' REST-layer error codes (`merr` 800 and 18xx): failures of the HTTP protocol itself
 * (malformed body, missing parameter, authentication) that have no counterpart in the service
 * catalogue. Everything the data layer raises stays a `StrataError` with its own code.
 */
export const REST_CODES = {
  DatabaseNotFound: { code: 800, text: "database not found" },
  NeedAuthenticate: { code: 1800, text: "user hasn't authenticated" },
  IncorrectParameterFormat: { code: 1801, text: "can only accept json format request" },
  MissingRequiredParameters: { code: 1802, text: "missing required parameters" },
  InvalidInsertData: { code: 1804, text: "fail to deal the insert data" },
  CheckPrimaryKey: {
    code: 1806,
    text: "please check the primary key and its' type can only in [int, string]",
  },
} as const;

export type RestCodeName = keyof typeof REST_CODES;

/** A REST-protocol failure; `status` is the HTTP status (Milvus answers most with 200). */
export class RestError extends Error {
  readonly codeName: RestCodeName;
  readonly code: number;
  readonly status: number;

  constructor(name: RestCodeName, detail: string, status = 200) {
    const entry = REST_CODES[name];
    super(detail === "" ? entry.text : `${entry.text}, error: ${detail}`);
    this.name = "RestError";
    this.codeName = name;
    this.code = entry.code;
    this.status = status;
  }
}

/** How a failure is answered: HTTP status, body `{code, message}` and the name given to hooks. */
export interface Failure {
  readonly status: number;
  readonly code: number;
  readonly message: string;
  readonly codeName: string;
}

export function failureOf(e: unknown): Failure {
  if (e instanceof RestError)
    return { status: e.status, code: e.code, message: e.message, codeName: e.codeName };
  if (e instanceof StrataError)
    return { status: 200, code: e.milvusCode, message: e.message, codeName: e.code };
  const internal = new StrataError(
    "ServiceInternal",
    `internal error: ${e instanceof Error ? e.message : String(e)}`,
  );
  return { status: 200, code: internal.milvusCode, message: internal.message, codeName: internal.code };
}

export function missing(param: string): RestError {
  return new RestError("MissingRequiredParameters", `${param} is required`);
}

export function badFormat(detail: string): RestError {
  return new RestError("IncorrectParameterFormat", detail);
}

export function unsupported(what: string): StrataError {
  return new StrataError("Unimplemented", `${what} is not supported by Strata`);
}

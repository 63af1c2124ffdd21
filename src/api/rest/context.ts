import type { Logger } from "../../common/log.ts";
import type { ConsistencyLevel, ProxyService } from "../../proxy/index.ts";
import type { FrontDoorHooks } from "../hooks.ts";
import { badFormat } from "./errors.ts";
import type { Params } from "./params.ts";
import type { Int64Out } from "./values.ts";

/** What one route handler gets for one request. */
export interface RestContext {
  readonly proxy: ProxyService;
  /** The request body. */
  readonly p: Params;
  readonly int64: Int64Out;
  readonly hooks: FrontDoorHooks | undefined;
  readonly logger: Logger;
}

/** A successful answer's body (`code` 0 is added by `ok`). */
export type RestBody = Readonly<Record<string, unknown>>;

export type RouteHandler = (ctx: RestContext) => Promise<RestBody>;

export function ok(data: unknown = {}, extra: Readonly<Record<string, unknown>> = {}): RestBody {
  return { code: 0, data, ...extra };
}

const LEVELS: readonly ConsistencyLevel[] = ["Strong", "Session", "Bounded", "Eventually"];

/** `consistencyLevel` of a read; Milvus' "Customized" reads as Bounded. */
export function consistency(p: Params): ConsistencyLevel | undefined {
  const v = p.str("consistencyLevel");
  if (v === undefined || v === "") return undefined;
  if (v === "Customized") return "Bounded";
  if (!(LEVELS as readonly string[]).includes(v))
    throw badFormat(
      `consistencyLevel can only be [Strong, Session, Bounded, Eventually, Customized], default: Bounded, got ${v}`,
    );
  return v as ConsistencyLevel;
}

/** `partitionNames` when given and non-empty. */
export function partitionNames(p: Params): string[] | undefined {
  const v = p.strList("partitionNames");
  return v === undefined || v.length === 0 ? undefined : v;
}

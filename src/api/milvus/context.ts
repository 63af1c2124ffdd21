import { StrataError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { ProxyService } from "../../proxy/index.ts";
import type { CollectionInfo } from "../../rootcoord/types.ts";
import type { MilvusProto } from "./proto.ts";
import type { WireRequest } from "./wire.ts";

/** One RPC's logic: the decoded request in, the response fields (without `status`) out; throws StrataError. */
export type Handler = (req: WireRequest) => Promise<Record<string, unknown>>;
export type Handlers = Record<string, Handler>;

/** What the handlers share for one server. */
export class MilvusContext {
  readonly proxy: ProxyService;
  readonly proto: MilvusProto;
  readonly logger: Logger;
  readonly version: string;

  constructor(proxy: ProxyService, proto: MilvusProto, logger: Logger, version: string) {
    this.proxy = proxy;
    this.proto = proto;
    this.logger = logger;
    this.version = version;
  }

  collection(name: string): Promise<CollectionInfo> {
    return this.proxy.describeCollection(name);
  }

  async describeById(id: bigint): Promise<CollectionInfo> {
    for (const n of await this.proxy.listCollections()) {
      const info = await this.proxy.describeCollection(n);
      if (info.collectionId === id) return info;
    }
    throw new StrataError("CollectionNotFound", `collection ${id} not found`);
  }

  noDatabase(db: string): StrataError {
    return new StrataError(
      "ParameterInvalid",
      `database ${db} not found: Strata has one database, "default"`,
    );
  }
}

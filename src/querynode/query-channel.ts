import { isStrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { Consumer, MessageQueue } from "../mq/types.ts";
import type { QueryChannels } from "../queryservice/types.ts";
import type { NodeQueryRequest, NodeQueryResult, NodeSearchRequest, NodeSearchResult } from "./types.ts";
import { decodeWire, encodeWire, type QueryChannelRequest, type QueryChannelResult } from "./wire.ts";

export interface QueryChannelHost {
  readonly mq: MessageQueue;
  readonly nodeId: number;
  readonly logger: Logger;
  search(req: NodeSearchRequest): Promise<NodeSearchResult>;
  query(req: NodeQueryRequest): Promise<NodeQueryResult>;
}

/**
 * Serves one request/result channel pair: reads requests from the moment it starts, runs each
 * one concurrently (a request waiting for tSafe does not hold up the next) and publishes one
 * result per request, success or typed error, tagged with the request's id.
 */
export class QueryChannelServer {
  readonly channels: QueryChannels;
  private readonly host: QueryChannelHost;
  private readonly log: Logger;
  private consumer: Consumer | undefined;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(host: QueryChannelHost, channels: QueryChannels) {
    this.host = host;
    this.channels = channels;
    this.log = host.logger.child({ requestChannel: channels.requestChannel });
  }

  async start(): Promise<void> {
    const { mq } = this.host;
    await mq.ensureChannel(this.channels.requestChannel);
    await mq.ensureChannel(this.channels.resultChannel);
    this.consumer = await mq.consume(this.channels.requestChannel, { kind: "latest" });
    this.loop = this.run(this.consumer);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.consumer?.close();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  private async run(consumer: Consumer): Promise<void> {
    while (!this.closed) {
      let batch: Awaited<ReturnType<Consumer["next"]>>;
      try {
        batch = await consumer.next();
      } catch (e) {
        if (this.closed) return;
        this.log.error({ err: e }, "query channel read failed; no longer serving it");
        return;
      }
      if (batch.length === 0) return;
      for (const rec of batch) {
        let req: QueryChannelRequest;
        try {
          req = decodeWire<QueryChannelRequest>(rec.payload);
        } catch (e) {
          this.log.warn({ err: e, seq: rec.seq }, "undecodable query request skipped");
          continue;
        }
        if (typeof req !== "object" || req === null || typeof req.requestId !== "string") {
          this.log.warn({ seq: rec.seq }, "query request without a requestId skipped");
          continue;
        }
        if (req.nodeId !== undefined && req.nodeId !== this.host.nodeId) continue;
        const p = this.serve(req).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
    }
  }

  private async serve(req: QueryChannelRequest): Promise<void> {
    const { nodeId } = this.host;
    const { requestId } = req;
    let out: QueryChannelResult;
    try {
      if (req.kind === "search") {
        out = {
          requestId: req.requestId,
          nodeId,
          kind: "search",
          ok: true,
          result: await this.host.search(req.request),
        };
      } else if (req.kind === "query") {
        out = {
          requestId: req.requestId,
          nodeId,
          kind: "query",
          ok: true,
          result: await this.host.query(req.request),
        };
      } else {
        out = {
          requestId,
          nodeId,
          ok: false,
          error: {
            code: "ParameterInvalid",
            message: `unknown request kind ${JSON.stringify((req as { kind: unknown }).kind)}`,
          },
        };
      }
    } catch (e) {
      out = {
        requestId: req.requestId,
        nodeId,
        ok: false,
        error: {
          code: isStrataError(e) ? e.code : "ServiceInternal",
          message: e instanceof Error ? e.message : String(e),
        },
      };
    }
    try {
      await this.host.mq.produce(this.channels.resultChannel, [encodeWire(out)]);
    } catch (e) {
      this.log.warn({ err: e, requestId: req.requestId }, "query result not published");
    }
  }
}

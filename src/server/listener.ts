import type { Server as HttpServer, IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { type ConnectionInjector, type Server as GrpcServer, ServerCredentials } from "@grpc/grpc-js";
import { StrataError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";

/** The client connection preface of HTTP/2 (RFC 9113 §3.4); gRPC always starts with it. */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export interface ListenerOptions {
  readonly host: string;
  /** 0 picks a free port (see `Listener.port`). */
  readonly port: number;
  /** Receives every connection that opens with the HTTP/2 preface. */
  readonly grpc: GrpcServer;
  /** Receives every other connection (HTTP/1.x); it must not listen itself. */
  readonly http: HttpServer;
  readonly logger: Logger;
  /** A connection that has not revealed its protocol after this long is dropped (default 10 s). */
  readonly sniffTimeoutMs?: number;
  /**
   * An HTTP/1 connection with no response in progress that receives nothing for this long is
   * dropped (default 60 s): a request head that never completes must not hold a socket forever.
   */
  readonly httpIdleTimeoutMs?: number;
}

export interface Listener {
  readonly host: string;
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** Open connections, sniffing or handed over. */
  connectionCount(): number;
  /**
   * Stops accepting, lets in-flight gRPC calls and HTTP requests finish for up to `graceMs`
   * (default 5000), then destroys whatever is still open. Resolves once every socket is closed.
   * Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

interface HttpConn {
  readonly responses: Set<ServerResponse>;
  bytesRead: number;
  since: number;
}

type Verdict = "grpc" | "http" | "undecided";

/** Decides from the first bytes: a (partial) prefix of the preface stays undecided. */
function sniff(head: Buffer): Verdict {
  const n = Math.min(head.length, H2_PREFACE.length);
  if (head.compare(H2_PREFACE, 0, n, 0, n) !== 0) return "http";
  return n === H2_PREFACE.length ? "grpc" : "undecided";
}

/**
 * One TCP port for both front doors, as Milvus serves gRPC and REST on 19530: each connection's
 * first bytes say whether it is HTTP/2 (handed to grpc-js through a connection injector) or
 * HTTP/1.x (handed to a node `http.Server`). The sniffed bytes are put back before the hand-over,
 * so both servers see the stream from its first byte.
 */
export async function startListener(opts: ListenerOptions): Promise<Listener> {
  const log = opts.logger;
  const sniffTimeoutMs = opts.sniffTimeoutMs ?? 10_000;
  const httpIdleTimeoutMs = opts.httpIdleTimeoutMs ?? 60_000;
  const injector: ConnectionInjector = opts.grpc.createConnectionInjector(ServerCredentials.createInsecure());
  const sockets = new Set<Socket>();
  const sniffing = new Set<Socket>();
  /** HTTP/1 connections: the responses each is still sending, and when it last received bytes. */
  const httpActive = new Map<Socket, HttpConn>();
  let closing: Promise<void> | undefined;

  const allClosed = () =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (sockets.size === 0) resolve();
        else setTimeout(check, 10);
      };
      check();
    });

  // The http server never listens (it only gets injected sockets), so its own idle-connection
  // tracking is off; this tracks responses per connection to know which ones are idle.
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const s = req.socket;
    const conn = httpActive.get(s) ?? {
      responses: new Set<ServerResponse>(),
      bytesRead: 0,
      since: Date.now(),
    };
    httpActive.set(s, conn);
    const active = conn.responses;
    active.add(res);
    if (closing !== undefined) res.setHeader("connection", "close");
    res.once("close", () => {
      active.delete(res);
      if (closing !== undefined && active.size === 0) s.end();
    });
  };

  // The http server's own header/request timeouts need it to listen; this sweep stands in.
  const sweepIdle = () => {
    const now = Date.now();
    for (const [s, conn] of httpActive) {
      if (conn.responses.size > 0 || s.bytesRead !== conn.bytesRead) {
        conn.bytesRead = s.bytesRead;
        conn.since = now;
      } else if (now - conn.since >= httpIdleTimeoutMs) {
        log.debug({ remote: s.remoteAddress }, "idle HTTP connection dropped");
        s.destroy();
      }
    }
  };

  const handOver = (socket: Socket, verdict: "grpc" | "http", head: Buffer) => {
    sniffing.delete(socket);
    socket.setTimeout(0);
    socket.pause();
    if (head.length > 0) socket.unshift(head);
    if (verdict === "grpc") {
      // http2 reads what is already buffered on the socket itself (the unshifted preface).
      injector.injectConnection(socket);
    } else {
      httpActive.set(socket, { responses: new Set(), bytesRead: socket.bytesRead, since: Date.now() });
      opts.http.emit("connection", socket);
      // The http parser consumes the native handle; bytes already in the JS buffer (the
      // unshifted head) reach it through 'data', which needs a flowing socket.
      socket.resume();
    }
  };

  const onConnection = (socket: Socket) => {
    if (closing !== undefined) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    sniffing.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      sniffing.delete(socket);
      httpActive.delete(socket);
    });
    // Until handed over, errors (resets by the peer) are ours to swallow; afterwards the
    // servers attach their own handlers, and this one only keeps a late error from crashing.
    socket.on("error", (e: Error) => {
      log.debug({ err: e, remote: socket.remoteAddress }, "front-door connection error");
    });
    socket.setTimeout(sniffTimeoutMs, () => {
      if (sniffing.has(socket)) {
        log.debug({ remote: socket.remoteAddress }, "connection sent no protocol preface in time; dropped");
        socket.destroy();
      }
    });
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      const head = chunks.length === 1 ? chunk : Buffer.concat(chunks, length);
      const verdict = sniff(head);
      if (verdict === "undecided") return;
      socket.removeListener("data", onData);
      socket.removeListener("end", onEnd);
      handOver(socket, verdict, head);
    };
    const onEnd = () => {
      // The peer half-closed before saying anything decisive: nobody will ever answer it.
      socket.destroy();
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
  };

  const server: NetServer = createServer({ pauseOnConnect: false, noDelay: true }, onConnection);
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => {
      reject(
        new StrataError("IoFailed", `cannot listen on ${opts.host}:${opts.port}: ${e.message}`, { cause: e }),
      );
    };
    server.once("error", onError);
    server.listen(opts.port, opts.host, () => {
      server.off("error", onError);
      resolve();
    });
  }).catch((e: unknown) => {
    injector.destroy();
    throw e;
  });
  opts.http.prependListener("request", onRequest);
  const idleSweep = setInterval(sweepIdle, Math.max(10, Math.min(1000, httpIdleTimeoutMs / 4)));
  idleSweep.unref();
  server.on("error", (e: Error) => log.error({ err: e }, "front-door listener error"));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;

  const close = async (graceMs: number): Promise<void> => {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sniffing) s.destroy();
    // gRPC: GOAWAY to every session; calls in flight may finish, new ones go elsewhere.
    const grpcDone = new Promise<void>((resolve) => opts.grpc.tryShutdown(() => resolve()));
    // HTTP: idle keep-alive connections go now, busy ones once their responses are sent.
    for (const [s, conn] of httpActive) {
      if (conn.responses.size === 0) s.destroy();
      for (const res of conn.responses) if (!res.headersSent) res.setHeader("connection", "close");
    }
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      graceTimer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([
      Promise.all([grpcDone, allClosed()]).then(() => "drained" as const),
      graceOver,
    ]);
    clearTimeout(graceTimer);
    if (outcome === "timeout") {
      log.warn({ open: sockets.size }, "front door: grace period over, closing remaining connections");
      opts.grpc.forceShutdown();
      for (const s of sockets) s.destroy();
    }
    injector.destroy();
    clearInterval(idleSweep);
    opts.http.off("request", onRequest);
    await stopped;
    await allClosed();
  };

  log.info({ host: opts.host, port }, "front door listening (Milvus gRPC and REST)");
  return {
    host: opts.host,
    port,
    connectionCount: () => sockets.size,
    close: (graceMs = 5000) => {
      closing ??= close(graceMs);
      return closing;
    },
  };
}

import assert from "node:assert/strict";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type * as grpc from "@grpc/grpc-js";
import { isStrataError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/log.ts";
import { type Listener, startListener } from "../../src/server/listener.ts";
import { echoClient, echoServer } from "./echo-service.ts";

/** An HTTP/1 server answering `GET|POST /echo...` with method, path and body; `/slow` after 300 ms. */
function httpServer(): HttpServer {
  return createHttpServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString();
    });
    req.on("end", () => {
      const answer = () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ method: req.method, url: req.url, body }));
      };
      if (req.url === "/slow") setTimeout(answer, 300);
      else answer();
    });
  });
}

async function start(
  sniffTimeoutMs?: number,
  httpIdleTimeoutMs?: number,
): Promise<{ l: Listener; grpc: grpc.Server; http: HttpServer }> {
  const g = echoServer();
  const h = httpServer();
  const l = await startListener({
    host: "127.0.0.1",
    port: 0,
    grpc: g,
    http: h,
    logger: silentLogger(),
    ...(sniffTimeoutMs === undefined ? {} : { sniffTimeoutMs }),
    ...(httpIdleTimeoutMs === undefined ? {} : { httpIdleTimeoutMs }),
  });
  return { l, grpc: g, http: h };
}

/** Sends `data` in pieces of `piece` bytes, `gapMs` apart, then collects the reply until close. */
async function dribble(port: number, data: string, piece: number, gapMs: number): Promise<string> {
  const s = connect(port, "127.0.0.1");
  s.setNoDelay(true);
  let out = "";
  s.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const closed = new Promise<void>((resolve) => s.once("close", () => resolve()));
  s.on("error", () => {});
  await new Promise<void>((resolve) => s.once("connect", () => resolve()));
  const bytes = Buffer.from(data);
  for (let i = 0; i < bytes.length; i += piece) {
    s.write(bytes.subarray(i, i + piece));
    await sleep(gapMs);
  }
  await closed;
  return out;
}

/**
 * A TCP proxy that forwards the first `slowBytes` bytes of each client connection one byte per
 * write, a few ms apart, so the listener sees the HTTP/2 preface in 24 separate reads.
 */
async function dribblingProxy(
  targetPort: number,
  slowBytes: number,
): Promise<{ port: number; close(): void }> {
  const conns = new Set<Socket>();
  const server: NetServer = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    upstream.setNoDelay(true);
    conns.add(client).add(upstream);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    upstream.pipe(client);
    let sent = 0;
    let chain = Promise.resolve();
    client.on("data", (d: Buffer) => {
      chain = chain.then(async () => {
        let i = 0;
        while (sent < slowBytes && i < d.length) {
          upstream.write(d.subarray(i, i + 1));
          i++;
          sent++;
          await sleep(3);
        }
        if (i < d.length) upstream.write(d.subarray(i));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const addr = server.address();
  assert.ok(typeof addr === "object" && addr !== null);
  return {
    port: addr.port,
    close: () => {
      for (const c of conns) c.destroy();
      server.close();
    },
  };
}

describe("front-door listener (gRPC and HTTP/1 on one port)", () => {
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => {
    s = await start(300);
  });
  after(async () => {
    await s.l.close(1000);
  });

  it("binds a free port for port 0 and serves gRPC and HTTP/1.1 on it, interleaved", async () => {
    assert.ok(s.l.port > 0);
    const client = echoClient(`127.0.0.1:${s.l.port}`);
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal(await client.say(`hi${i}`), `echo:hi${i}`);
        const res = await fetch(`http://127.0.0.1:${s.l.port}/echo/${i}`, { method: "POST", body: `b${i}` });
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { method: "POST", url: `/echo/${i}`, body: `b${i}` });
      }
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => client.say(`p${i}`)));
      assert.deepEqual(
        many,
        Array.from({ length: 20 }, (_, i) => `echo:p${i}`),
      );
    } finally {
      client.close();
    }
  });

  it("recognises the HTTP/2 preface arriving one byte per read", async () => {
    const proxy = await dribblingProxy(s.l.port, 24);
    const client = echoClient(`127.0.0.1:${proxy.port}`);
    try {
      assert.equal(await client.say("slowly"), "echo:slowly");
    } finally {
      client.close();
      proxy.close();
    }
  });

  it("hands an HTTP/1 request sent byte by byte (POST shares its first letter with the preface) to HTTP intact", async () => {
    const req =
      "POST /echo/dribble HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    const out = await dribble(s.l.port, req, 1, 2);
    assert.match(out, /^HTTP\/1\.1 200 OK/);
    assert.ok(out.includes(JSON.stringify({ method: "POST", url: "/echo/dribble", body: "hello" })), out);
    // "PR" then something else is also HTTP/1 (an invalid request here, answered by the http server).
    const bad = await dribble(s.l.port, "PRX / HTTP/1.1\r\n\r\n", 1, 2);
    assert.match(bad, /^HTTP\/1\.1 400/);
  });

  it("drops a connection that sends nothing within the sniff timeout, and one that half-closes early", async () => {
    const t0 = Date.now();
    const idle = connect(s.l.port, "127.0.0.1");
    idle.on("error", () => {});
    await new Promise<void>((resolve) => idle.once("close", () => resolve()));
    const waited = Date.now() - t0;
    assert.ok(waited >= 250 && waited < 3000, `idle socket closed after ${waited} ms`);
    const half = connect(s.l.port, "127.0.0.1", () => half.end("PR"));
    half.on("error", () => {});
    half.resume();
    await new Promise<void>((resolve) => half.once("close", () => resolve()));
  });

  it("drops an HTTP connection whose request head never completes, but not one whose answer takes long", async () => {
    const own = await start(undefined, 150);
    try {
      // llhttp waits for the rest of an HTTP/2-looking "PRI * HTTP/1.1" request; the idle sweep ends it.
      const t0 = Date.now();
      const out = await dribble(own.l.port, "PRI * HTTP/1.1\r\n\r\n", 4, 1);
      const waited = Date.now() - t0;
      assert.equal(out, "");
      assert.ok(waited >= 140 && waited < 3000, `closed after ${waited} ms`);
      // /slow answers after 300 ms with nothing received meanwhile: busy, so not idle.
      const res = await fetch(`http://127.0.0.1:${own.l.port}/slow`);
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { url: string }).url, "/slow");
    } finally {
      await own.l.close(1000);
    }
  });

  it("refuses a busy port with IoFailed", async () => {
    await assert.rejects(
      startListener({
        host: "127.0.0.1",
        port: s.l.port,
        grpc: echoServer(),
        http: httpServer(),
        logger: silentLogger(),
      }),
      (e: unknown) => isStrataError(e, "IoFailed") && /cannot listen/.test(e.message),
    );
  });
});

describe("front-door listener close", () => {
  it("lets in-flight gRPC calls and HTTP requests finish, closes idle connections, and does not hang", async () => {
    const { l } = await start();
    const client = echoClient(`127.0.0.1:${l.port}`);
    const idleGrpc = echoClient(`127.0.0.1:${l.port}`);
    assert.equal(await idleGrpc.say("warm"), "echo:warm");
    assert.equal(await client.say("warm"), "echo:warm");
    // An idle keep-alive HTTP connection, a silent raw socket and a half-sent preface.
    assert.equal((await fetch(`http://127.0.0.1:${l.port}/echo`)).status, 200);
    const silent = connect(l.port, "127.0.0.1");
    silent.on("error", () => {});
    const partial = connect(l.port, "127.0.0.1", () => partial.write("PRI * HTTP/2"));
    partial.on("error", () => {});
    await sleep(50);
    assert.ok(l.connectionCount() >= 4, `connections: ${l.connectionCount()}`);

    const slowCall = client.say("inflight", 300);
    const slowHttp = fetch(`http://127.0.0.1:${l.port}/slow`);
    await sleep(50);
    const t0 = Date.now();
    await l.close(5000);
    const took = Date.now() - t0;
    assert.equal(await slowCall, "echo:inflight");
    const res = await slowHttp;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("connection"), "close");
    assert.equal(((await res.json()) as { url: string }).url, "/slow");
    assert.ok(took >= 200 && took < 2000, `close took ${took} ms`);
    assert.equal(l.connectionCount(), 0);
    await assert.rejects(fetch(`http://127.0.0.1:${l.port}/echo`));
    await assert.rejects(idleGrpc.say("after", 0, 1000));
    client.close();
    idleGrpc.close();
    silent.destroy();
    partial.destroy();
  });

  it("cuts calls that outlive the grace period and resolves shortly after it", async () => {
    const { l } = await start();
    const client = echoClient(`127.0.0.1:${l.port}`);
    try {
      const outcome = (p: Promise<unknown>) =>
        p.then(
          () => "resolved",
          () => "rejected",
        );
      const endless = outcome(client.say("forever", 30_000, 60_000));
      const endlessHttp = outcome(fetch(`http://127.0.0.1:${l.port}/slow`).then((r) => r.text()));
      // /slow answers after 300 ms; a grace of 100 ms is shorter.
      await sleep(50);
      const t0 = Date.now();
      await l.close(100);
      const took = Date.now() - t0;
      assert.ok(took >= 90 && took < 1500, `close took ${took} ms`);
      assert.equal(await endless, "rejected");
      assert.equal(await endlessHttp, "rejected");
      assert.equal(l.connectionCount(), 0);
      // Idempotent.
      await l.close();
    } finally {
      client.close();
    }
  });
});

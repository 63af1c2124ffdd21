/**
 * A tiny gRPC service (defined in JSON, loaded with proto-loader as the Milvus service is) for
 * testing the front-door listener without the Milvus service.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const DESCRIPTOR = {
  nested: {
    strata: {
      nested: {
        test: {
          nested: {
            Echo: {
              methods: { Say: { requestType: "EchoMsg", responseType: "EchoMsg" } },
            },
            EchoMsg: {
              fields: { text: { type: "string", id: 1 }, delayMs: { type: "uint32", id: 2 } },
            },
          },
        },
      },
    },
  },
};

export interface EchoMsg {
  text: string;
  delayMs?: number;
}

interface EchoClient extends grpc.Client {
  Say(
    req: EchoMsg,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: EchoMsg) => void,
  ): grpc.ClientUnaryCall;
}

type EchoClientCtor = new (address: string, creds: grpc.ChannelCredentials) => EchoClient;

function echoPackage(): { service: grpc.ServiceDefinition; Client: EchoClientCtor } {
  const pkg = grpc.loadPackageDefinition(
    protoLoader.fromJSON(DESCRIPTOR as Parameters<typeof protoLoader.fromJSON>[0], { defaults: true }),
  );
  const strata = pkg.strata as grpc.GrpcObject;
  const test = strata.test as grpc.GrpcObject;
  const ctor = test.Echo as grpc.ServiceClientConstructor;
  return { service: ctor.service, Client: ctor as unknown as EchoClientCtor };
}

/** A grpc-js server (not bound to any port) serving Echo/Say, which answers after `delayMs`. */
export function echoServer(): grpc.Server {
  const server = new grpc.Server();
  server.addService(echoPackage().service, {
    Say: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => {
      const { text, delayMs } = call.request;
      const timer = setTimeout(() => cb(null, { text: `echo:${text}`, delayMs: 0 }), delayMs ?? 0);
      call.once("cancelled", () => clearTimeout(timer));
    },
  });
  return server;
}

export interface Echo {
  say(text: string, delayMs?: number, deadlineMs?: number): Promise<string>;
  close(): void;
}

export function echoClient(address: string): Echo {
  const { Client } = echoPackage();
  const client = new Client(address, grpc.credentials.createInsecure());
  return {
    say: (text, delayMs = 0, deadlineMs = 10_000) =>
      new Promise<string>((resolve, reject) => {
        client.Say({ text, delayMs }, { deadline: Date.now() + deadlineMs }, (err, res) => {
          if (err !== null) reject(err);
          else resolve(res?.text ?? "");
        });
      }),
    close: () => client.close(),
  };
}

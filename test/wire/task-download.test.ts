import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createNodeGrpcTransport,
  createResearcherClient,
  createWideSessionManager,
  encodeTask,
  isUnimplemented,
  pollAccepted,
  type ResearcherClient,
  taskChunkFrame,
} from "../../src/wire/index.js";
import { until } from "../support/wait.js";

/**
 * The node's task stream read without Connect (wire/task-download.ts) against a scripted researcher on
 * bare node:http2: each call's response is written byte by byte as a test says, so the checks Connect
 * made (gRPC status in trailers or headers, the message limit, a stream cut short or malformed, the
 * caller's abort) are seen to hold on the plain path too.
 */

type Script = (stream: http2.ServerHttp2Stream) => void;
let script: Script = () => {};
let server: http2.Http2Server;
let client: ResearcherClient;
let sessions: ReturnType<typeof createWideSessionManager>;
const readMaxBytes = 64 * 1024;
const hello = { nodeId: "n1", name: "n1", sessionId: "s", version: "t", waitSeconds: 30 };

const frameOf = (message: Uint8Array) => {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
};
const ok = { ":status": 200, "content-type": "application/grpc+proto" };
const trailers = (status: number, message?: string) => ({
  "grpc-status": String(status),
  ...(message ? { "grpc-message": message } : {}),
});
/** A train task of `n` float32 values, as the researcher's pre-encoded stream writes it (4 KiB chunks). */
const taskFrames = (n: number) => {
  const params = [{ name: "w", shape: [n], dtype: "float32" as const, data: new Float32Array(n).map((_, i) => i) }];
  const chunks = [
    ...encodeTask({ taskId: "t1", experiment: "e", body: { kind: "train", params, args: {} } as never }, 4096),
  ];
  return Buffer.concat([...taskChunkFrame(pollAccepted()), ...chunks.flatMap((c) => [...taskChunkFrame(c)])]);
};

async function firstTask() {
  for await (const task of client.tasks(hello, {})) return task;
  return undefined;
}

before(async () => {
  server = http2.createServer();
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    stream.resume(); // the request (the poll) is read and dropped
    script(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sessions = createWideSessionManager(baseUrl);
  client = createResearcherClient(createNodeGrpcTransport({ baseUrl, readMaxBytes, sessionManager: sessions }));
});
after(async () => {
  sessions.abort(); // the node's connection, which would keep the server open
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("the node's task stream without Connect", () => {
  it("reads a task cut into 1-byte writes into the tensors the researcher sent", async () => {
    const bytes = taskFrames(3000);
    script = (stream) => {
      stream.respond(ok, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(trailers(0)));
      for (let at = 0; at < bytes.length; at += 997) stream.write(bytes.subarray(at, at + 997));
      stream.end();
    };
    const task = await firstTask();
    assert.ok(task?.body.kind === "train");
    assert.deepEqual(
      task.body.params[0].data,
      new Float32Array(3000).map((_, i) => i),
    );
  });

  it("fails with the gRPC status of the trailers, or of a trailers-only response", async () => {
    script = (stream) => {
      stream.respond(ok, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(trailers(Code.Internal, "boom")));
      stream.end(frameOf(new Uint8Array(0)));
    };
    await assert.rejects(
      firstTask(),
      (e: unknown) => e instanceof ConnectError && e.code === Code.Internal && /boom/.test(e.message),
    );
    script = (stream) => {
      stream.respond({ ...ok, ...trailers(Code.Unimplemented, "no sessions here") }, { endStream: true });
    };
    const session = client.session(hello, {});
    await assert.rejects(session.tasks.next(), (e: unknown) => isUnimplemented(e));
  });

  it("a Session refused in its trailers and then reset fails with the trailers' status, not the reset", async () => {
    // What the researcher does to a node not on its allow-list: the head, the refusal in the trailers, and
    // (the node's requests still open) RST_STREAM CANCEL a moment later (server.ts, stopUnreadRequests).
    script = (stream) => {
      stream.respond(ok, { waitForTrailers: true });
      stream.once("wantTrailers", () => {
        stream.sendTrailers(trailers(Code.Unauthenticated, "not on the allow-list"));
        setImmediate(() => stream.close(http2.constants.NGHTTP2_CANCEL));
      });
      stream.end();
    };
    const session = client.session(hello, {});
    await assert.rejects(
      session.tasks.next(),
      (e: unknown) => e instanceof ConnectError && e.code === Code.Unauthenticated && /allow-list/.test(e.message),
    );
  });

  it("refuses a message over the node's limit, a compressed one, a malformed one, and a stream cut short", async () => {
    const cases: [string, Buffer, RegExp, Code][] = [
      ["over the limit", frameOf(new Uint8Array(readMaxBytes + 1)), /larger than 65536/, Code.ResourceExhausted],
      ["compressed", Buffer.concat([Buffer.from([1, 0, 0, 0, 1]), Buffer.from([0])]), /flags 1/, Code.InvalidArgument],
      ["malformed", frameOf(new Uint8Array([0x0a, 0x05, 0xff])), /malformed/, Code.InvalidArgument],
      ["cut short", taskFrames(3000).subarray(5, -10), /ended inside a task chunk/, Code.InvalidArgument],
    ];
    for (const [what, body, message, code] of cases) {
      script = (stream) => {
        stream.respond(ok, { waitForTrailers: true });
        stream.once("wantTrailers", () => stream.sendTrailers(trailers(0)));
        stream.end(Buffer.concat([frameOf(new Uint8Array(0)), body]));
      };
      await assert.rejects(
        firstTask(),
        (e: unknown) => e instanceof ConnectError && e.code === code && message.test(e.message),
        what,
      );
    }
  });

  it("a reply on a Session whose stream is gone fails instead of waiting for a call nobody reads", async () => {
    // A researcher killed while the node runs a task: the node reads nothing of the call meanwhile,
    // so only its reply can notice that the connection is gone.
    const bytes = taskFrames(8);
    script = (stream) => {
      stream.respond(ok);
      stream.write(bytes, () => setImmediate(() => stream.session?.destroy()));
    };
    const session = client.session(hello, {});
    assert.equal((await session.tasks.next()).value?.taskId, "t1"); // and the stream is not read again
    await until(() => sessions.state() === "closed" || sessions.state() === "error", "the connection closed");
    const params = [{ name: "w", shape: [4], dtype: "float32" as const, data: new Float32Array(4) }];
    const body = { kind: "train" as const, result: { params, sampleCount: 1, trainLoss: 0, seconds: 0 } };
    await assert.rejects(session.reply({ taskId: "t1", nodeId: "n1", body }), /session .* ended/);
  });

  it("a stream reset by the researcher fails the call; the node's abort resets it", async () => {
    script = (stream) => {
      stream.respond(ok);
      stream.write(frameOf(new Uint8Array(0)));
      setImmediate(() => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    };
    // Node reports the reset's code only while the node's side is open (a Session); a poll, which has
    // sent all it sends, sees a stream that ended without its status.
    await assert.rejects(
      firstTask(),
      (e: unknown) =>
        e instanceof ConnectError && e.code === Code.Internal && /HTTP\/2 code 2|missing status/.test(e.message),
    );
    const reset = new Promise<number>((resolve) => {
      script = (stream) => {
        stream.respond(ok);
        stream.write(frameOf(new Uint8Array(0)));
        stream.once("close", () => resolve(stream.rstCode));
      };
    });
    const abort = new AbortController();
    const opened = client.tasks(hello, { signal: abort.signal, onOpen: () => abort.abort() });
    await assert.rejects(opened.next(), (e: unknown) => e instanceof ConnectError && e.code === Code.Canceled);
    assert.equal(await reset, http2.constants.NGHTTP2_CANCEL);
  });
});

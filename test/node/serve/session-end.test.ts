import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ResearcherService } from "../../../src/gen/fbm/v1/researcher_pb.js";
import { runPollLoop } from "../../../src/node/serve/poll-loop.js";
import { createResearcherClient, encodeTask, pollAccepted, readSessionRequests } from "../../../src/wire/index.js";
import { taskChunkFrame } from "../../../src/wire/task-frames.js";
import { until } from "../../support/wait.js";

/**
 * Issue 29: a Session node whose researcher dies while the node runs a task. Its reply then goes to a
 * dead call; before the node watched the call's end while a task ran, the reply could wait in the
 * call's request queue for good (nothing pulled it), and the poll loop with it. A bare HTTP/2 server
 * stands in for the researcher: it accepts each Session, sends one ping task, and on the first one
 * kills the whole connection once the node is running the task (as a SIGKILLed researcher's would).
 */

const SESSION_PATH = `/${ResearcherService.typeName}/${ResearcherService.method.session.name}`;

interface Stub {
  server: Http2Server;
  url: string;
  /** Sessions opened so far (their hello read). */
  sessions: ServerHttp2Stream[];
  /** Replies whose ReplyEnd arrived, by the session's number (0-based). */
  replies: number[];
}

async function startStub(): Promise<Stub> {
  const stub: Stub = { server: createServer(), url: "", sessions: [], replies: [] };
  stub.server.on("stream", (stream, headers) => {
    if (headers[":path"] !== SESSION_PATH) {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
      return;
    }
    const n = stub.sessions.length;
    stub.sessions.push(stream);
    stream.on("error", () => undefined);
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
    const ping = encodeTask({ taskId: `ping-${n}`, experiment: "e", body: { kind: "ping" } });
    for (const chunk of [pollAccepted(), ...ping]) for (const part of taskChunkFrame(chunk)) stream.write(part);
    readSessionRequests(stream, 1 << 21)
      .feed({
        request(request) {
          // The first session's researcher dies as the node's reply is on its way, half of it read.
          if (n === 0 && request.part.case === "reply") stream.session?.destroy();
          if (request.part.case === "replyEnd") stub.replies.push(n);
          return undefined;
        },
        dataPiece() {},
      })
      .catch(() => undefined);
  });
  stub.server.listen(0, "127.0.0.1");
  await once(stub.server, "listening");
  stub.url = `http://127.0.0.1:${(stub.server.address() as AddressInfo).port}`;
  return stub;
}

describe("a Session node whose researcher dies mid-task", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("fails the reply as soon as the call ends and reconnects", async () => {
    const stub = await startStub();
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of stub.sessions) s.session?.destroy();
          stub.server.close(() => resolve());
        }),
    );
    const stop = new AbortController();
    const lines: string[] = [];
    const loop = runPollLoop({
      client: createResearcherClient(createGrpcTransport({ baseUrl: stub.url })),
      researcherUrl: stub.url,
      nodeId: "n1",
      name: "n1",
      version: "t",
      waitSeconds: 30,
      sessions: true,
      signal: stop.signal,
      log: (line) => lines.push(line),
      backoff: { initialMs: 10, maxMs: 50 },
      // A reply of several 1-MiB chunks, so some are still queued when the connection dies.
      execute: async () => ({
        kind: "train",
        result: {
          params: [{ name: "w", shape: [1 << 20], dtype: "float32", data: new Float32Array(1 << 20) }],
          sampleCount: 1,
          trainLoss: 0,
          seconds: 0,
        },
      }),
    });
    cleanups.push(async () => {
      stop.abort();
      await loop;
    });
    // Reconnected (a second Session) and answered on it: the dead call's reply did not hold the loop.
    await until(() => stub.replies.includes(1), "the node to reconnect and answer on a new Session");
    assert.ok(
      lines.some((l) => /Could not send the ping reply/.test(l)),
      `the lost reply is said: ${lines.join(" | ")}`,
    );
  });
});

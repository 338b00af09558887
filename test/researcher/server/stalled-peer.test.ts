import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GetTaskRequestSchema, type ReplyChunk } from "../../../src/gen/fbm/v1/researcher_pb.js";
import type { NamedTensor } from "../../../src/ml/types.js";
import { runTrainRound } from "../../../src/researcher/run/train-round.js";
import { createHub, type Hub } from "../../../src/researcher/server/hub.js";
import { type ResearcherServer, startServer } from "../../../src/researcher/server/server.js";
import { createTransferBudget, type TransferBudget } from "../../../src/researcher/server/transfer-budget.js";
import { createResearcherClient, encodeReply, ResearcherService, type TaskEnvelope } from "../../../src/wire/index.js";
import { trainingArgs } from "../../ml/synthetic.js";
import { participant } from "../../support/participant.js";
import { DEADLINE_MS, until } from "../../support/wait.js";

/**
 * Peers that stop half-way, against a real server (h2c on port 0): one reads the head of its 4 MiB task
 * and then nothing more, one sends the head and a first chunk of its reply and then nothing more. The
 * round ends at its timeout with both as `timeout` failures and the honest node's update; the server
 * cancels both streams then (RST_STREAM CANCEL), so neither holds memory or a transfer slot.
 */

const ROUND_TIMEOUT_MS = 10_000;
let hub: Hub;
let server: ResearcherServer;
let transfers: TransferBudget;
const global: NamedTensor[] = [
  { name: "w", shape: [1024, 1024], dtype: "float32", data: new Float32Array(1024 * 1024).fill(0.5) },
];

const raw = () => createClient(ResearcherService, createGrpcTransport({ baseUrl: server.url }));
const pollRequest = (nodeId: string) =>
  create(GetTaskRequestSchema, { nodeId, nodeName: nodeId, sessionId: nodeId, version: "t", waitSeconds: 60 });

/**
 * A GetTask call that stops reading once the task starts arriving. `closed` resolves with how the
 * server ended the stream: "canceled" for RST_STREAM(CANCEL), "ended" when it sent it all.
 */
async function slowReaderCall(nodeId: string) {
  const session = http2.connect(server.url);
  const body = toBinary(GetTaskRequestSchema, pollRequest(nodeId));
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  const stream = session.request({
    ":method": "POST",
    ":path": `/${ResearcherService.typeName}/GetTask`,
    "content-type": "application/grpc+proto",
    te: "trailers",
  });
  stream.end(frame);
  let received = 0;
  const paused = new Promise<void>((resolve) =>
    stream.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > 1024) {
        stream.pause(); // the poll-accepted message is tiny: past it, the task is arriving
        resolve();
      }
    }),
  );
  const closed = new Promise<"canceled" | "ended">((resolve) =>
    stream.on("close", () => {
      resolve(stream.rstCode === http2.constants.NGHTTP2_CANCEL ? "canceled" : "ended");
      session.close();
    }),
  );
  stream.on("error", () => {}); // the cancel is what is being tested
  return { paused, closed };
}

before(async () => {
  hub = createHub({ pollWindowMs: 1_000, lostAfterMs: DEADLINE_MS });
  transfers = createTransferBudget();
  server = await startServer({ listen: "127.0.0.1:0", hub, allowUnsignedNodes: true, transfers });
});
after(() => server.close());

describe("slow and stalled peers", () => {
  let round: Awaited<ReturnType<typeof runTrainRound>>;
  let slowReader: Promise<"canceled" | "ended">;
  let stalledWriter: Promise<Code | "ok">;
  let releaseWriter = () => {};
  let honest: Promise<void>;

  before(async () => {
    // The slow reader, on bare node:http2 (Connect's client would buffer the whole task for it): once
    // the task's first bytes arrive it pauses, so its 64 KiB window fills and the server's writes block.
    const reader = await slowReaderCall("slow-reader");
    // The stalled writer: takes its task normally, then sends the reply's head and first chunk only.
    const writerClient = createResearcherClient(createGrpcTransport({ baseUrl: server.url }));
    const gate = new Promise<void>((resolve) => (releaseWriter = resolve));
    let writerSent: () => void = () => {};
    const writerStarted = new Promise<void>((resolve) => (writerSent = resolve));
    stalledWriter = (async () => {
      let task: TaskEnvelope | undefined;
      while (!task)
        task = await writerClient.getTask(
          { nodeId: "stalled-writer", name: "w", sessionId: "w", version: "t", waitSeconds: 1 },
          {},
        );
      if (task.body.kind !== "train") throw new Error("expected a train task");
      const chunks = [
        ...encodeReply({
          taskId: task.taskId,
          nodeId: "stalled-writer",
          body: { kind: "train", result: { params: task.body.params, sampleCount: 10, trainLoss: 0, seconds: 0 } },
        }),
      ];
      const stream = async function* (): AsyncIterable<ReplyChunk> {
        yield chunks[0];
        yield chunks[1];
        writerSent();
        await gate;
      };
      try {
        await raw().replyTask(stream());
        return "ok";
      } catch (error) {
        return ConnectError.from(error).code;
      }
    })();
    const honestClient = createResearcherClient(createGrpcTransport({ baseUrl: server.url }));
    honest = (async () => {
      let task: TaskEnvelope | undefined;
      while (!task)
        task = await honestClient.getTask(
          { nodeId: "honest", name: "h", sessionId: "h", version: "t", waitSeconds: 1 },
          {},
        );
      if (task.body.kind !== "train") throw new Error("expected a train task");
      const result = { params: task.body.params, sampleCount: 10, trainLoss: 0, seconds: 0 };
      await honestClient.reply({ taskId: task.taskId, nodeId: "honest", body: { kind: "train", result } });
    })();
    await until(() => hub.nodes().filter((n) => n.online).length === 3, "the three nodes to poll");
    const finished = runTrainRound({
      hub,
      experiment: "e",
      participants: ["honest", "slow-reader", "stalled-writer"].map(participant),
      round: 1,
      planId: "p",
      planJson: "{}",
      args: trainingArgs({ batchSize: 1, testRatio: 0, seed: 0 }),
      global,
      timeoutMs: ROUND_TIMEOUT_MS,
    });
    await reader.paused;
    await writerStarted;
    round = await finished;
    slowReader = reader.closed;
    await honest;
  });

  after(() => releaseWriter());

  it("ends the round at its timeout with the honest update and both stalled peers as timeouts", () => {
    assert.deepEqual(
      round.updates.map((u) => u.participant.node),
      ["honest"],
    );
    assert.deepEqual(
      round.failures.map((f) => `${f.node} ${f.code}`),
      ["slow-reader timeout", "stalled-writer timeout"],
    );
  });

  it("cancels the stalled streams once their tasks time out", async () => {
    assert.deepEqual(
      { reader: await slowReader, writer: await stalledWriter },
      { reader: "canceled", writer: Code.Canceled },
    );
  });

  it("gives back the stalled reply's transfer slot", async () => {
    await until(() => transfers.inFlight === 0, "the transfer budget to empty");
    assert.equal(transfers.waiting, 0);
  });
});

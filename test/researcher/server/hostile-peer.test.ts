import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type ReplyChunk, ReplyChunkSchema } from "../../../src/gen/fbm/v1/researcher_pb.js";
import type { NamedTensor, TrainResult } from "../../../src/ml/types.js";
import { createFedAvg } from "../../../src/researcher/aggregators/index.js";
import { runTrainRound } from "../../../src/researcher/run/train-round.js";
import { createHub, type Hub } from "../../../src/researcher/server/hub.js";
import { type ResearcherServer, startServer } from "../../../src/researcher/server/server.js";
import {
  createResearcherClient,
  encodeReply,
  type ReplyEnvelope,
  ResearcherService,
  type TaskEnvelope,
} from "../../../src/wire/index.js";
import { trainingArgs } from "../../ml/synthetic.js";
import { participant } from "../../support/participant.js";
import { DEADLINE_MS, until } from "../../support/wait.js";

/**
 * Scripted nodes that lie, against a real server (h2c on port 0) while the runner trains one round:
 * every bad reply is refused with a fitting Connect code or recorded as the node's failure, and the
 * round's aggregate is exactly the honest node's update.
 */

let hub: Hub;
let server: ResearcherServer;
const global: NamedTensor[] = [
  { name: "dense/kernel", shape: [2, 2], dtype: "float32", data: new Float32Array([0.1, 0.2, 0.3, 0.4]) },
  { name: "dense/bias", shape: [2], dtype: "float32", data: new Float32Array([0, 0]) },
];
const honestParams = global.map((t) => ({ ...t, data: (t.data as Float32Array).map((v) => v + 1) }));
const codes: Record<string, Code | "ok"> = {};
const progress: string[] = [];
const onAdmit: Record<string, () => void> = {};

const result = (params: NamedTensor[], sampleCount = 10): TrainResult => ({
  params,
  sampleCount,
  trainLoss: 0.5,
  seconds: 0,
});
const train = (task: TaskEnvelope, nodeId: string, r: TrainResult): ReplyEnvelope => ({
  taskId: task.taskId,
  nodeId,
  body: { kind: "train", result: r },
});

async function* stream(chunks: Iterable<ReplyChunk> | AsyncIterable<ReplyChunk>): AsyncIterable<ReplyChunk> {
  yield* chunks;
}

/** Sends raw ReplyTask chunks and records the Connect code the researcher answered with. */
async function send(label: string, chunks: Iterable<ReplyChunk> | AsyncIterable<ReplyChunk>): Promise<void> {
  const raw = createClient(ResearcherService, createGrpcTransport({ baseUrl: server.url }));
  try {
    await raw.replyTask(stream(chunks));
    codes[label] = "ok";
  } catch (error) {
    codes[label] = ConnectError.from(error).code;
  }
}

const data = (bytes: Uint8Array) => create(ReplyChunkSchema, { part: { case: "data", value: bytes } });
const headOnly = (envelope: ReplyEnvelope) => [...encodeReply(envelope)].slice(0, 1);

/** Each scripted node: poll until its task arrives, then misbehave (or not) in its own way. */
const scripts: Record<string, (task: TaskEnvelope) => Promise<void>> = {
  async honest(task) {
    const node = createResearcherClient(createGrpcTransport({ baseUrl: server.url }));
    const body = { kind: "progress" as const, epoch: 1, step: 1, totalSteps: 2, loss: 0.5 };
    await node.feedback({ nodeId: "thief", taskId: task.taskId, body });
    await node.feedback({ nodeId: "honest", taskId: task.taskId, body });
    await send("another node's task", encodeReply(train(task, "thief", result(honestParams))));
    await send("honest reply", encodeReply(train(task, "honest", result(honestParams))));
    await send("duplicate reply", encodeReply(train(task, "honest", result(honestParams))));
  },
  async shapes(task) {
    const wrong = [{ ...global[0], shape: [4], data: new Float32Array(4) }, global[1]];
    await send("wrong shapes", encodeReply(train(task, "shapes", result(wrong))));
  },
  async nan(task) {
    const poisoned = honestParams.map((t, i) => ({
      ...t,
      data: i === 0 ? new Float32Array([NaN, 1e30, 1, 1]) : t.data,
    }));
    await send("NaN", encodeReply(train(task, "nan", result(poisoned))));
  },
  async count(task) {
    await send("inflated sample count", encodeReply(train(task, "count", result(honestParams, 1_000_000))));
  },
  async oversize(task) {
    await send("oversized chunk", [
      ...headOnly(train(task, "oversize", result(honestParams))),
      data(new Uint8Array(5 * 1024 * 1024)),
    ]);
  },
  async long(task) {
    await send("stream longer than the model", [
      ...encodeReply(train(task, "long", result(honestParams))),
      data(new Uint8Array(8)),
    ]);
  },
  async twice(task) {
    // Holds a first (poisoned) stream open after its head, and meanwhile tries a second, clean one.
    const poisoned = honestParams.map((t) => ({ ...t, data: new Float32Array(t.data.length).fill(Infinity) }));
    const chunks = [...encodeReply(train(task, "twice", result(poisoned)))];
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const admitted = new Promise<void>((resolve) => (onAdmit.twice = resolve));
    const first = send(
      "first of two concurrent streams",
      (async function* () {
        yield chunks[0];
        await gate;
        yield* chunks.slice(1);
      })(),
    );
    await admitted;
    await send("second concurrent stream", encodeReply(train(task, "twice", result(honestParams))));
    release();
    await first;
  },
  async kind(task) {
    await send(
      "reply of the wrong kind",
      encodeReply({ taskId: task.taskId, nodeId: "kind", body: { kind: "stats", columns: [] } }),
    );
  },
};

before(async () => {
  hub = createHub({ pollWindowMs: 500, lostAfterMs: DEADLINE_MS });
  hub.on("feedback", (f) => progress.push(f.nodeId));
  const admit = hub.admit.bind(hub);
  hub.admit = (head) => {
    const limit = admit(head);
    onAdmit[head.nodeId]?.();
    return limit;
  };
  server = await startServer({ listen: "127.0.0.1:0", hub, allowUnsignedNodes: true });
});
after(() => server.close());

describe("hostile peers during a training round", () => {
  let round: Awaited<ReturnType<typeof runTrainRound>>;

  before(async () => {
    const names = Object.keys(scripts);
    const node = createResearcherClient(createGrpcTransport({ baseUrl: server.url }));
    const loops = names.map(async (name) => {
      let task: TaskEnvelope | undefined;
      while (!task)
        task = await node.getTask({ nodeId: name, name, sessionId: name, version: "t", waitSeconds: 1 }, {});
      await scripts[name](task);
    });
    await until(() => hub.nodes().filter((n) => n.online).length === names.length, "every node to poll");
    round = await runTrainRound({
      hub,
      experiment: "e",
      participants: names.map(participant),
      round: 1,
      planId: "p",
      planJson: "{}",
      args: trainingArgs({ batchSize: 1, testRatio: 0, seed: 0 }),
      global,
      timeoutMs: DEADLINE_MS,
    });
    await Promise.all(loops);
  });

  it("refuses each bad reply stream with a fitting Connect code", () => {
    assert.deepEqual(codes, {
      "another node's task": Code.PermissionDenied,
      "honest reply": "ok",
      "duplicate reply": Code.AlreadyExists,
      "wrong shapes": Code.InvalidArgument,
      NaN: "ok", // well-formed bytes: the runner rejects the values
      "inflated sample count": "ok", // likewise: the runner checks it against the dataset's size
      "oversized chunk": Code.ResourceExhausted,
      "stream longer than the model": Code.InvalidArgument,
      "reply of the wrong kind": Code.InvalidArgument,
      "first of two concurrent streams": "ok",
      "second concurrent stream": Code.AlreadyExists,
    });
  });

  it("records every lying node as a failure with a reason, without waiting for the round timeout", () => {
    const failures = Object.fromEntries(round.failures.map((f) => [f.node, f]));
    assert.deepEqual(Object.keys(failures).sort(), ["count", "kind", "long", "nan", "oversize", "shapes", "twice"]);
    assert.equal(failures.twice.code, "invalid_update");
    assert.match(failures.twice.message, /contains Infinity/);
    assert.equal(failures.shapes.code, "invalid_update");
    assert.match(
      failures.shapes.message,
      /tensor 0 is "dense\/kernel" \[4\] float32, expected "dense\/kernel" \[2,2\] float32/,
    );
    assert.equal(failures.nan.code, "invalid_update");
    assert.match(failures.nan.message, /contains NaN/);
    assert.equal(failures.count.code, "invalid_update");
    assert.match(failures.count.message, /sample count 1000000 exceeds the 100 samples of its dataset/);
    assert.equal(failures.oversize.code, "bad_reply");
    assert.match(failures.oversize.message, /larger than configured readMaxBytes/);
    assert.equal(failures.long.code, "bad_reply");
    assert.match(failures.long.message, /longer than its header says/);
    assert.equal(failures.kind.code, "bad_reply");
    assert.match(failures.kind.message, /answered a train task with a stats reply/);
  });

  it("shows progress only from the node a task was sent to", () => {
    assert.deepEqual(progress, ["honest"]);
  });

  it("aggregates the honest node's update alone", () => {
    assert.deepEqual(
      round.updates.map((u) => u.participant.node),
      ["honest"],
    );
    const out = createFedAvg().aggregate({
      round: 1,
      global: global.map((t) => t.data as Float32Array),
      state: {},
      updates: round.updates.map((u) => ({
        nodeId: u.participant.node,
        samples: u.result.sampleCount,
        params: u.result.params.map((p) => p.data as Float32Array),
      })),
    });
    assert.deepEqual(
      out.params,
      honestParams.map((t) => t.data),
    );
  });
});

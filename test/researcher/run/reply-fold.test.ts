import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { type ReplyChunk, ReplyChunkSchema } from "../../../src/gen/fbm/v1/researcher_pb.js";
import type { NamedTensor, TrainResult } from "../../../src/ml/types.js";
import { createRunningMean, type RunningMean } from "../../../src/researcher/aggregators/running-mean.js";
import { runTrainRound } from "../../../src/researcher/run/train-round.js";
import { createHub, type Hub } from "../../../src/researcher/server/hub.js";
import { createResearcherService } from "../../../src/researcher/server/service.js";
import { encodeReply, type ReplyEnvelope, ResearcherService, type TaskEnvelope } from "../../../src/wire/index.js";
import { trainingArgs } from "../../ml/synthetic.js";
import { participant } from "../../support/participant.js";
import { DEADLINE_MS, until } from "../../support/wait.js";

/**
 * A round that folds replies chunk by chunk (the in-memory service, scripted nodes sending raw
 * ReplyTask streams cut into 8-byte chunks): replies that go wrong after part of them was folded are
 * taken back out, and the round's mean is that of the valid replies alone.
 */

const global: NamedTensor[] = [
  { name: "dense/kernel", shape: [3, 2], dtype: "float32", data: new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) },
  { name: "dense/bias", shape: [2], dtype: "float32", data: new Float32Array([0, 0]) },
];
const CHUNK = 8; // two values per chunk: every reply arrives in 4 data chunks

/** Parameters shaped like `global` with values drawn from `seed`, large enough that a leftover would show. */
const params = (seed: number, poison?: { at: number; value: number }): NamedTensor[] => {
  let k = 0;
  return global.map((t) => ({
    ...t,
    data: Float32Array.from(t.data, () => {
      const v = k === poison?.at ? poison.value : Math.sin(seed * 7.3 + k) * 1e3;
      k++;
      return v;
    }),
  }));
};
const result = (p: NamedTensor[], sampleCount: number): TrainResult => ({
  params: p,
  sampleCount,
  trainLoss: 0.5,
  seconds: 0,
});
const train = (task: TaskEnvelope, nodeId: string, r: TrainResult): ReplyEnvelope => ({
  taskId: task.taskId,
  nodeId,
  body: { kind: "train", result: r },
});
const chunksOf = (envelope: ReplyEnvelope) => [...encodeReply(envelope, CHUNK)];
const data = (bytes: Uint8Array) => create(ReplyChunkSchema, { part: { case: "data", value: bytes } });

/** What each node sends: honest ones (a, b, c), and replies that turn out unusable after some chunks. */
const scripts: Record<string, (task: TaskEnvelope) => AsyncIterable<ReplyChunk> | ReplyChunk[]> = {
  a: (task) => chunksOf(train(task, "a", result(params(1), 10))),
  b: (task) => chunksOf(train(task, "b", result(params(2), 30))),
  c: (task) => chunksOf(train(task, "c", result(params(3), 60))),
  // Breaks half-way: the head and two data chunks (4 values folded), then the stream fails.
  async *broken(task) {
    yield* chunksOf(train(task, "broken", result(params(4), 50))).slice(0, 3);
    throw new Error("connection reset");
  },
  // A NaN in its second chunk (value 3): the first chunk (values 0 and 1) was folded already.
  nan: (task) => chunksOf(train(task, "nan", result(params(5, { at: 3, value: Number.NaN }), 40))),
  // An infinity in its last value.
  inf: (task) => chunksOf(train(task, "inf", result(params(6, { at: 7, value: -Infinity }), 40))),
  // Ends one chunk short.
  short: (task) => chunksOf(train(task, "short", result(params(7), 20))).slice(0, -1),
  // One chunk too many.
  long: (task) => [...chunksOf(train(task, "long", result(params(8), 20))), data(new Uint8Array(CHUNK))],
  // Every chunk cut at an odd size: a value straddles chunks, then a NaN in its last one.
  odd(task) {
    const [head, ...rest] = chunksOf(train(task, "odd", result(params(9, { at: 7, value: Number.NaN }), 20)));
    const bytes = Buffer.concat(rest.map((c) => c.part.value as Uint8Array));
    return [head, data(bytes.subarray(0, 3)), data(bytes.subarray(3, 17)), data(bytes.subarray(17))];
  },
  // More samples than its dataset holds (100): refused before any value is folded.
  count: (task) => chunksOf(train(task, "count", result(params(10), 1000))),
  error: (task) =>
    chunksOf({
      taskId: task.taskId,
      nodeId: "error",
      body: { kind: "error", code: "internal", message: "out of memory" },
    }),
};

/** A running mean that records every part added, and which nodes' parts were taken back. */
function spyOn(mean: RunningMean): RunningMean & { added: number; takenBack: number } {
  const spy = Object.create(mean) as RunningMean & { added: number; takenBack: number };
  spy.added = 0;
  spy.takenBack = 0;
  spy.addRun = (tensor, start, values, weight) => {
    if (weight > 0) spy.added += values.length;
    else spy.takenBack += values.length;
    mean.addRun(tensor, start, values, weight);
  };
  spy.addFinite = (tensor, start, values, weight) => {
    const at = mean.addFinite(tensor, start, values, weight);
    spy.added += at >= 0 ? at : values.length;
    return at;
  };
  return spy;
}

describe("folding replies chunk by chunk", () => {
  let hub: Hub;
  let running: ReturnType<typeof spyOn>;
  let round: Awaited<ReturnType<typeof runTrainRound>>;
  const codes: Record<string, Code | "ok"> = {};

  before(async () => {
    hub = createHub({ pollWindowMs: 1000, lostAfterMs: DEADLINE_MS });
    const raw = createClient(
      ResearcherService,
      createRouterTransport(({ service }) => service(ResearcherService, createResearcherService(hub))),
    );
    const names = Object.keys(scripts);
    const hello = (name: string) => ({ nodeId: name, name, sessionId: name, version: "t" });
    for (const name of names) hub.register(hello(name));
    const nodes = names.map(async (name) => {
      let task: TaskEnvelope | undefined;
      while (!task) task = await hub.nextTask(hello(name), { signal: new AbortController().signal, waitMs: 1000 });
      try {
        await raw.replyTask(
          (async function* () {
            yield* scripts[name](task);
          })(),
        );
        codes[name] = "ok";
      } catch (error) {
        codes[name] = ConnectError.from(error).code;
      }
    });
    running = spyOn(createRunningMean(global.map((t) => t.data.length)));
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
      foldChunks: running,
      fold: () => assert.fail("no reply should need the whole-reply fold"),
    });
    await Promise.all(nodes);
    hub.close();
  });

  it("keeps the valid replies, without their parameters (they went into the sum)", () => {
    assert.deepEqual(
      round.updates.map((u) => [u.participant.node, u.result.sampleCount, u.result.params.length]),
      [
        ["a", 10, 0],
        ["b", 30, 0],
        ["c", 60, 0],
      ],
    );
    assert.equal(running.count, 3);
  });

  it("fails every unusable reply as it would be failed whole", () => {
    const failures = Object.fromEntries(round.failures.map((f) => [f.node, `${f.code}: ${f.message}`]));
    assert.deepEqual(Object.keys(failures).sort(), ["broken", "count", "error", "inf", "long", "nan", "odd", "short"]);
    assert.match(failures.broken, /^bad_reply: its reply was refused/);
    assert.match(failures.nan, /^invalid_update: tensor "dense\/kernel" contains NaN$/);
    assert.match(failures.inf, /^invalid_update: tensor "dense\/bias" contains -Infinity$/);
    assert.match(failures.odd, /^invalid_update: tensor "dense\/bias" contains NaN$/);
    assert.match(failures.short, /^bad_reply: .*ended after 24 of 32 bytes/);
    assert.match(failures.long, /^bad_reply: .*longer than its header says/);
    assert.match(failures.count, /^invalid_update: sample count 1000 exceeds the 100 samples of its dataset$/);
    assert.match(failures.error, /^internal: out of memory$/);
    assert.equal(codes.long, Code.InvalidArgument);
    assert.equal(codes.nan, "ok"); // well-formed bytes: the round rejects the values, as before
  });

  it("took back exactly what it had folded of the replies that went wrong", () => {
    // A run is folded up to its first non-finite value. Folded then taken back: broken 4 values, nan 3
    // (its first chunk, then value 2 of the run [2, 3] that holds it), inf 7 (the bias's run [6, 7]
    // holds it at 7), short 6, long 8, odd 7 (runs [0], [1..3], [4], [5], then 6 of [6, 7]). Never
    // folded: count (its head fails) and error (no parameters). The valid three: 3 × 8.
    assert.equal(running.takenBack, 4 + 3 + 7 + 6 + 8 + 7);
    assert.equal(running.added, running.takenBack + 3 * 8);
  });

  it("ends with the weighted mean of the valid replies alone (within float rounding)", () => {
    const mean = running.result();
    assert.equal(mean.samples, 100);
    const valid = [
      [params(1), 10],
      [params(2), 30],
      [params(3), 60],
    ] as const;
    mean.params.forEach((tensor, t) => {
      tensor.forEach((got, k) => {
        const want = valid.reduce((s, [p, n]) => s + n * p[t].data[k], 0) / 100;
        assert.ok(Math.abs(got - want) <= 1e-6 * Math.max(1, Math.abs(want)), `tensor ${t}[${k}]: ${got} vs ${want}`);
      });
    });
  });
});

describe("a folded reply whose task settles while it is still arriving", () => {
  it("is taken back when its task settles, and its later chunks are refused, not folded", async () => {
    const hub = createHub({ pollWindowMs: 1000, lostAfterMs: DEADLINE_MS });
    const raw = createClient(
      ResearcherService,
      createRouterTransport(({ service }) => service(ResearcherService, createResearcherService(hub))),
    );
    const hello = (name: string) => ({ nodeId: name, name, sessionId: name, version: "t" });
    const running = spyOn(createRunningMean(global.map((t) => t.data.length)));
    const stop = new AbortController();
    let resume = () => {};
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    const outcome: Record<string, Code | "ok"> = {};
    const streams: Record<string, (task: TaskEnvelope) => AsyncIterable<ReplyChunk>> = {
      async *ok(task) {
        yield* chunksOf(train(task, "ok", result(params(1), 10)));
      },
      // Two data chunks (4 values), then silence until the round has given up on it.
      async *stalls(task) {
        const chunks = chunksOf(train(task, "stalls", result(params(2), 30)));
        yield* chunks.slice(0, 3);
        await resumed;
        yield* chunks.slice(3);
      },
    };
    const nodes = Object.keys(streams).map(async (name) => {
      hub.register(hello(name));
      let task: TaskEnvelope | undefined;
      while (!task) task = await hub.nextTask(hello(name), { signal: new AbortController().signal, waitMs: 1000 });
      try {
        await raw.replyTask(streams[name](task));
        outcome[name] = "ok";
      } catch (error) {
        outcome[name] = ConnectError.from(error).code;
      }
    });
    const round = runTrainRound({
      hub,
      experiment: "e",
      participants: Object.keys(streams).map(participant),
      round: 1,
      planId: "p",
      planJson: "{}",
      args: trainingArgs({ batchSize: 1, testRatio: 0, seed: 0 }),
      global,
      timeoutMs: DEADLINE_MS,
      signal: stop.signal,
      foldChunks: running,
    });
    await until(() => outcome.ok === "ok" && running.added === 8 + 4, "ok's reply and half of the stalled one");
    stop.abort(); // as its round timeout would: the task settles while its reply is arriving
    const { updates, failures } = await round;
    assert.deepEqual(
      updates.map((u) => u.participant.node),
      ["ok"],
    );
    assert.deepEqual(
      failures.map((f) => [f.node, f.code]),
      [["stalls", "aborted"]],
    );
    assert.equal(running.takenBack, 4);
    resume();
    await Promise.all(nodes);
    assert.equal(outcome.stalls, Code.InvalidArgument);
    assert.equal(running.added, 8 + 4, "nothing it sent after its task settled was folded");
    const mean = running.result();
    assert.equal(mean.samples, 10);
    mean.params.forEach((tensor, t) => {
      tensor.forEach((got, k) => {
        const want = params(1)[t].data[k];
        assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want), `tensor ${t}[${k}]: ${got} vs ${want}`);
      });
    });
    hub.close();
  });
});

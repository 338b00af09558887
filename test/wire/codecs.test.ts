import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeFeedback,
  decodeReply,
  decodeTask,
  decodeTasks,
  encodeFeedback,
  encodeReply,
  encodeTask,
  type ReplyEnvelope,
  type TaskEnvelope,
  type TrainTaskBody,
  UnreadableTaskError,
} from "../../src/wire/index.js";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

async function* stream<T>(items: Iterable<T>) {
  yield* items;
}

const params = [
  { name: "0.dense.kernel", shape: [3, 2], dtype: "float32" as const, data: new Float32Array([1, 2, 3, 4, 5, 6]) },
  { name: "0.dense.bias", shape: [2], dtype: "float32" as const, data: new Float32Array([0.5, -0.5]) },
];
const args = {
  epochs: 2,
  updates: 0,
  batchSize: 16,
  testRatio: 0.25,
  testOnGlobal: true,
  testOnLocal: false,
  metrics: ["accuracy"],
  seed: 7,
  fedproxMu: 0,
};

describe("task codec", () => {
  const tasks: TaskEnvelope[] = [
    { taskId: "t1", experiment: "e", body: { kind: "ping" } },
    { taskId: "t2", experiment: "e", body: { kind: "search", tags: ["a", "b"] } },
    { taskId: "t3", experiment: "e", body: { kind: "stats", datasetId: "ds_1", planJson: "{}" } },
    {
      taskId: "t4",
      experiment: "e",
      body: {
        kind: "train",
        datasetId: "ds_1",
        planId: "abc",
        planJson: '{"x":1}',
        args,
        round: 3,
        params,
        normalization: { method: "standard", columns: ["a", "b", "c"], shift: [1, 2, 3], scale: [1, 1, 2] },
      },
    },
    {
      taskId: "t3p",
      experiment: "e",
      body: {
        kind: "stats",
        datasetId: "ds_1",
        planJson: "{}",
        preparation: { columns: [{ name: "sex", kind: "onehot", categories: ["F", "M"], missingInput: true }] },
      },
    },
    {
      taskId: "t4p",
      experiment: "e",
      body: {
        kind: "train",
        datasetId: "ds_1",
        planId: "abc",
        planJson: '{"x":1}',
        args,
        round: 1,
        params,
        normalization: undefined,
        algorithmExtension: "fedprox",
        aggregation: "weighted_mean",
        preparation: {
          columns: [
            { name: "age", kind: "numeric", fill: 54.5 },
            { name: "smoking", kind: "onehot", categories: ["former", "never"], fill: "never" },
          ],
        },
      },
    },
    {
      taskId: "t5",
      experiment: "stats",
      body: { kind: "analytics", phase: "summary", datasetId: "ds_1", columns: ["age", "ldl"] },
    },
    {
      taskId: "t6",
      experiment: "stats",
      body: {
        kind: "analytics",
        phase: "histogram",
        datasetId: "ds_1",
        columns: ["age"],
        histograms: [{ column: "age", lo: -0.5, hi: 100.25, bins: 10, fine: 410 }],
      },
    },
    {
      taskId: "t7",
      experiment: "e",
      body: { kind: "secagg", session: "s1", phase: "advertiseKeys", cohort: 3, verify: true },
    },
    {
      taskId: "t8",
      experiment: "e",
      body: {
        kind: "secagg",
        session: "s1",
        phase: "shareKeys",
        threshold: 2,
        peers: [
          {
            id: "n1",
            index: 1,
            cipherKey: bytes(32, 1),
            maskKey: bytes(32, 2),
            signed: { signature: bytes(70, 5), identity: bytes(300, 6) },
          },
          { id: "n2", index: 2, cipherKey: bytes(32, 3), maskKey: bytes(32, 4) },
        ],
        cohort: ["n1", "n2", "n3"],
        neighbours: 2,
      },
    },
    {
      taskId: "t9",
      experiment: "e",
      body: {
        kind: "secagg",
        session: "s1",
        phase: "unmask",
        survivors: ["n1", "n2"],
        dropped: ["n3"],
        allSurvivors: ["n1", "n2", "n4"],
        signatures: [{ node: "n1", signature: bytes(70, 7) }],
      },
    },
    {
      taskId: "t9c",
      experiment: "e",
      body: { kind: "secagg", session: "s1", phase: "consistency", survivors: ["n1", "n2", "n4"] },
    },
    {
      taskId: "t10",
      experiment: "e",
      body: {
        kind: "train",
        datasetId: "ds_1",
        planId: "abc",
        planJson: "{}",
        args,
        round: 2,
        params,
        normalization: undefined,
        secagg: { session: "s1", clip: 0.5, bits: 16, shares: [{ from: "n2", to: "n1", box: bytes(160, 9) }] },
      },
    },
  ];
  for (const task of tasks) {
    it(`round-trips a ${task.body.kind} task (${task.taskId})`, async () => {
      const back = await decodeTask(stream(encodeTask(task, 8)));
      assert.deepEqual(back, task);
    });
  }

  it("refuses a train task naming an algorithm extension it does not know", async () => {
    const body = { ...(tasks[3].body as TrainTaskBody), algorithmExtension: "fedbogus" as never };
    await assert.rejects(
      decodeTask(stream(encodeTask({ taskId: "x", experiment: "e", body }, 8))),
      /unknown algorithm extension "fedbogus" \(is this node older than the researcher\?\)/,
    );
  });

  it("refuses a task whose table preparation is malformed, naming it", async () => {
    const task: TaskEnvelope = {
      taskId: "bad",
      experiment: "e",
      body: {
        kind: "stats",
        datasetId: "ds_1",
        planJson: "{}",
        preparation: { columns: [{ name: "x", kind: "bogus" }] } as never,
      },
    };
    await assert.rejects(decodeTask(stream(encodeTask(task, 8))), /table preparation is invalid/);
  });

  it("streams parameters as data chunks after the task message", () => {
    const chunks = [...encodeTask(tasks[3], 8)];
    assert.equal(chunks[0].part.case, "task");
    assert.deepEqual(
      chunks.slice(1).map((c) => c.part.case),
      ["data", "data", "data", "data"],
    );
  });

  it("encodes a parameter list once: every task carrying it shares the same data chunks", async () => {
    const train = tasks[3].body as Extract<TaskEnvelope["body"], { kind: "train" }>;
    const other: TaskEnvelope = { taskId: "t7", experiment: "e", body: { ...train, datasetId: "ds_2" } };
    const first = [...encodeTask(tasks[3], 8)];
    const second = [...encodeTask(other, 8)];
    assert.notEqual(first[0], second[0]); // each task its own head
    assert.equal(first.length, second.length);
    for (let i = 1; i < first.length; i++) assert.equal(first[i], second[i]);
    assert.deepEqual(await decodeTask(stream(second)), other);
  });

  it("reads an empty stream as 'no task this poll'", async () => {
    assert.equal(await decodeTask(stream([])), undefined);
  });

  it("rejects data that arrives before the task message", async () => {
    const chunks = [...encodeTask(tasks[3], 8)];
    await assert.rejects(decodeTask(stream([chunks[1], chunks[0], ...chunks.slice(2)])), /data before its header/);
  });

  it("reads task after task from one kept-open stream, each as soon as its last byte arrived", async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The researcher sends the second task only later: the first must not wait for it.
    async function* kept() {
      yield* encodeTask(tasks[3], 8);
      await held;
      yield* encodeTask(tasks[1], 8);
      yield* encodeTask(tasks[9], 8);
    }
    const read = decodeTasks(kept());
    assert.deepEqual((await read.next()).value, tasks[3]);
    release();
    assert.deepEqual((await read.next()).value, tasks[1]);
    assert.deepEqual((await read.next()).value, tasks[9]);
    assert.equal((await read.next()).done, true);
  });

  it("names the task a kept-open stream broke off in the middle of", async () => {
    const chunks = [...encodeTask(tasks[1], 8), ...encodeTask(tasks[3], 8)];
    const read = decodeTasks(stream(chunks.slice(0, -1)));
    assert.deepEqual((await read.next()).value, tasks[1]);
    await assert.rejects(read.next(), (e) => e instanceof UnreadableTaskError && e.taskId === "t4");
  });
});

describe("reply codec", () => {
  const replies: ReplyEnvelope[] = [
    { taskId: "t1", nodeId: "n1", body: { kind: "ping", version: "0.1.0", backend: "wasm" } },
    { taskId: "t2", nodeId: "n1", body: { kind: "error", code: "plan_not_approved", message: "no", planId: "p" } },
    {
      taskId: "t3",
      nodeId: "n1",
      body: { kind: "stats", columns: [{ name: "a", count: 10, sum: 5, sumSquares: 7, min: -1, max: 2 }] },
    },
    {
      taskId: "t3p",
      nodeId: "n1",
      body: {
        kind: "stats",
        columns: [
          { name: "age", count: 90, sum: 4950, sumSquares: 280000, min: 20, max: 88, missing: 7 },
          {
            name: "smoking",
            count: 95,
            sum: 0,
            sumSquares: 0,
            min: 0,
            max: 0,
            missing: 2,
            categories: [{ name: "never", count: 60 }],
          },
          { name: "sex", count: 3, sum: 0, sumSquares: 0, min: 0, max: 0, categories: [] },
        ],
      },
    },
    {
      taskId: "t4",
      nodeId: "n1",
      body: {
        kind: "datasets",
        datasets: [
          {
            id: "ds_1",
            name: "heart",
            type: "csv",
            tags: ["x"],
            description: "",
            shape: [10, 3],
            columns: [{ name: "a", dtype: "float" }],
            sampleCount: 10,
            classes: [{ name: "c", count: 4 }],
            target: "a",
            createdAt: "2026-01-01T00:00:00Z",
          },
        ],
      },
    },
    {
      taskId: "t5",
      nodeId: "n1",
      body: {
        kind: "train",
        result: {
          params,
          sampleCount: 40,
          trainLoss: 0.3,
          seconds: 1.5,
          phases: {
            load: 0.25,
            prepare: 0.125,
            build: 0.0625,
            setup: 0.03125,
            steps: 1,
            validate: 0.5,
            copy: 0.015625,
          },
          globalMetrics: {
            values: { accuracy: 0.5 },
            samples: 10,
            counts: {
              rows: 10,
              classes: 2,
              confusion: [3, 2, 3, 2],
              scores: [
                { positive: 1, lo: [0, 700], hi: [700, 65536], positives: [1, 4], negatives: [4, 1], wins: 20.5 },
              ],
            },
          },
          localMetrics: {
            values: { mse: 0.25 },
            samples: 10,
            counts: { rows: 10, sums: { y: 4, y2: 9.5, sse: 2.5, sae: 3 } },
          },
        },
      },
    },
    {
      taskId: "t5s",
      nodeId: "n1",
      body: {
        kind: "train",
        result: {
          params,
          sampleCount: 40,
          trainLoss: 0.3,
          seconds: 1.5,
          globalMetrics: {
            values: { dice: 0.5 },
            samples: 12,
            counts: { rows: 12, voxels: { tp: 20, fp: 20, fn: 20, tn: 3012 } },
          },
          localMetrics: {
            values: { dice: 0.8, iou: 0.6667 },
            samples: 12,
            counts: { rows: 12, voxels: { tp: 40, fp: 10, fn: 10, tn: 3012 } },
          },
        },
      },
    },
    {
      taskId: "t6",
      nodeId: "n1",
      body: {
        kind: "analytics",
        minCount: 10,
        tooSmall: false,
        summaries: [
          {
            name: "age",
            count: 120,
            missing: 0,
            sum: 6000.5,
            mean: 50.004166,
            m2: 1234.5,
            min: 10,
            max: 100,
            minMaxGrid: 10,
            rangeLo: 10,
            rangeHi: 100,
            histogramGrid: 5,
            classes: [
              { name: "0", count: "below" },
              { name: "1", count: "hidden" },
              { name: "2", count: 100 },
            ],
          },
        ],
        histograms: [
          {
            name: "age",
            counts: [0, "below", "hidden", 70, 0],
            fine: [
              { start: 30, end: 33, count: 12 },
              { start: 33, end: 40, count: 58 },
            ],
          },
        ],
      },
    },
    {
      taskId: "t7",
      nodeId: "n1",
      body: { kind: "analytics", minCount: 25, tooSmall: true, summaries: [], histograms: [] },
    },
    {
      taskId: "t8",
      nodeId: "n1",
      body: { kind: "secagg", phase: "keys", keys: { cipherKey: bytes(32, 5), maskKey: bytes(32, 6) } },
    },
    {
      taskId: "t8s",
      nodeId: "n1",
      body: {
        kind: "secagg",
        phase: "keys",
        keys: { cipherKey: bytes(32, 5), maskKey: bytes(32, 6) },
        signed: { signature: bytes(71, 1), identity: bytes(310, 2) },
      },
    },
    { taskId: "t8c", nodeId: "n1", body: { kind: "secagg", phase: "consistency", signature: bytes(70, 3) } },
    {
      taskId: "t9",
      nodeId: "n1",
      body: { kind: "secagg", phase: "shares", shares: [{ from: "n1", to: "n2", box: bytes(160, 7) }] },
    },
    {
      taskId: "t10",
      nodeId: "n1",
      body: {
        kind: "secagg",
        phase: "revealed",
        revealed: { seedShares: [{ of: "n1", share: bytes(66, 8) }], keyShares: [{ of: "n3", share: bytes(66, 9) }] },
      },
    },
  ];
  for (const reply of replies) {
    it(`round-trips a ${reply.body.kind} reply (${reply.taskId})`, async () => {
      assert.deepEqual(await decodeReply(stream(encodeReply(reply, 12))), reply);
    });
  }

  it("sends no value for a count hidden by min_count", () => {
    const [chunk] = [...encodeReply(replies.find((r) => r.taskId === "t6")!)];
    const analytics =
      chunk.part.case === "reply" && chunk.part.value.kind.case === "analytics"
        ? chunk.part.value.kind.value
        : undefined;
    assert.deepEqual(
      analytics?.histograms[0].counts.map((c) => [c.kind, c.value]),
      [
        [1, 0n],
        [2, 0n],
        [3, 0n],
        [1, 70n],
        [1, 0n],
      ],
    );
  });

  it("rejects a train reply whose parameter bytes stop short", async () => {
    const chunks = [...encodeReply(replies.find((r) => r.body.kind === "train")!, 12)];
    await assert.rejects(decodeReply(stream(chunks.slice(0, -1))), /ended after/);
  });

  it("rejects an empty reply stream", async () => {
    await assert.rejects(decodeReply(stream([])), /empty/);
  });

  it('reads an error code it does not know as "failed", keeping the code in the message', async () => {
    const unknown = { kind: "error", code: "dataset_changed", message: "gone" } as unknown as ReplyEnvelope["body"]; // a node of another version
    const reply = await decodeReply(stream(encodeReply({ taskId: "t6", nodeId: "n1", body: unknown })));
    assert.deepEqual(reply.body, {
      kind: "error",
      code: "failed",
      message: 'gone (code "dataset_changed")',
      planId: undefined,
    });
  });
});

describe("feedback codec", () => {
  it("round-trips progress and log lines", () => {
    const p = {
      nodeId: "n",
      taskId: "t",
      body: { kind: "progress" as const, epoch: 1, step: 2, totalSteps: 3, loss: 0.5 },
    };
    const l = { nodeId: "n", taskId: "t", body: { kind: "log" as const, level: "info", message: "hi" } };
    assert.deepEqual(decodeFeedback(encodeFeedback(p)), p);
    assert.deepEqual(decodeFeedback(encodeFeedback(l)), l);
  });
});

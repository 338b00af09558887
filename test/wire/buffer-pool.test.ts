import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runPollLoop } from "../../src/node/serve/poll-loop.js";
import {
  assembleInto,
  createBufferPool,
  createExperimentBuffers,
  createReplyIntake,
  decodeTasks,
  encodeReply,
  encodeTask,
  leaseOf,
  type ReplyEnvelope,
  type ResearcherClient,
  type TaskEnvelope,
  type TrainTaskBody,
} from "../../src/wire/index.js";
import { fromChunks, toParamsHeader } from "../../src/wire/tensor-bytes.js";
import { bareTrainTask } from "../support/train-task.js";
import { until } from "../support/wait.js";

const tensor = (values: number[]) => [
  { name: "w", shape: [values.length], dtype: "float32" as const, data: new Float32Array(values) },
];

function trainTask(taskId: string, experiment: string, values: number[]): TaskEnvelope {
  return { taskId, experiment, body: bareTrainTask(tensor(values), { datasetId: "d", planId: "p" }) };
}

async function* stream<T>(items: Iterable<T>) {
  yield* items;
}

describe("buffer pool", () => {
  it("hands a given-back buffer out again for the same size, a fresh one otherwise", () => {
    const pool = createBufferPool();
    const a = pool.take(64);
    assert.equal(a.byteLength, 64);
    assert.equal(pool.release(a.buffer), true);
    assert.equal(pool.keptBytes, 64);
    assert.equal(pool.take(64).buffer, a.buffer);
    assert.equal(pool.keptBytes, 0);
    assert.notEqual(pool.take(64).buffer, a.buffer, "out again: not handed out twice");
    assert.equal(pool.take(32).byteLength, 32);
  });

  it("ignores buffers it did not hand out, and a buffer given back twice", () => {
    const pool = createBufferPool();
    assert.equal(pool.release(new ArrayBuffer(64)), false);
    const a = pool.take(64);
    assert.equal(pool.release(a.buffer), true);
    assert.equal(pool.release(a.buffer), false);
    assert.equal(pool.keptBytes, 64);
    assert.equal(pool.take(64).buffer, a.buffer);
    assert.notEqual(pool.take(64).buffer, a.buffer, "kept once, not twice");
  });

  it("keeps at most maxBuffers and maxBytes, dropping the oldest", () => {
    const pool = createBufferPool({ maxBuffers: 2, maxBytes: 100 });
    const [a, b, c] = [pool.take(40), pool.take(40), pool.take(40)];
    for (const x of [a, b, c]) pool.release(x.buffer);
    assert.equal(pool.keptBytes, 80, "two of three kept");
    assert.notEqual(pool.take(40).buffer, a.buffer, "the oldest was dropped");
    const big = pool.take(200);
    assert.equal(pool.release(big.buffer), true);
    assert.ok(pool.keptBytes <= 100, `${pool.keptBytes} kept`);
  });

  it("drops everything when cleared, and ignores buffers of before when given back", () => {
    const pool = createBufferPool();
    const a = pool.take(16);
    const b = pool.take(16);
    pool.release(a.buffer);
    pool.clear();
    assert.equal(pool.keptBytes, 0);
    assert.equal(pool.release(b.buffer), false);
    assert.equal(pool.keptBytes, 0);
  });

  it("keeps one experiment's pool at a time", () => {
    const buffers = createExperimentBuffers();
    const a = buffers.of("e1").take(16);
    buffers.of("e1").release(a.buffer);
    assert.equal(buffers.of("e1").keptBytes, 16);
    assert.equal(buffers.of("e2").keptBytes, 0);
    assert.equal(buffers.of("e1").release(a.buffer), false, "e1's pool went with e2's arrival");
    const b = buffers.of("e1").take(16);
    buffers.of("e1").release(b.buffer);
    buffers.end("e1");
    assert.equal(buffers.of("e1").keptBytes, 0);
  });
});

describe("assembling into a reused buffer", () => {
  const header = toParamsHeader(tensor([0, 0, 0, 0]));
  const bytesOf = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

  it("a second round's result holds its own bytes, none of the first round's", () => {
    const pool = createBufferPool();
    const first = fromChunks(header, { buffer: (n) => pool.take(n) });
    first.push(bytesOf([1, 2, 3, 4]));
    const [round1] = first.finish();
    assert.deepEqual([...round1.data], [1, 2, 3, 4]);
    pool.release(round1.data.buffer);

    const second = fromChunks(header, { buffer: (n) => pool.take(n) });
    second.push(bytesOf([5, 6]).subarray(0, 5)); // pieces of any cut
    second.push(bytesOf([6, 7, 8]).subarray(1));
    const [round2] = second.finish();
    assert.equal(round2.data.buffer, round1.data.buffer, "the same memory, reused");
    assert.deepEqual([...round2.data], [5, 6, 7, 8]);
  });

  it("a reused buffer's stream that ends short fails instead of showing the old bytes", () => {
    const pool = createBufferPool();
    const first = fromChunks(header, { buffer: (n) => pool.take(n) });
    first.push(bytesOf([1, 2, 3, 4]));
    pool.release(first.finish()[0].data.buffer);
    const second = fromChunks(header, { buffer: (n) => pool.take(n) });
    second.push(bytesOf([5, 6, 7]));
    assert.throws(() => second.finish(), /ended after 12 of 16 bytes/);
  });

  it("refuses a buffer that is not exactly the payload at offset 0", () => {
    assert.throws(() => fromChunks(header, { buffer: () => new Uint8Array(32) }), /16 bytes at offset 0/);
    assert.throws(() => fromChunks(header, { buffer: () => new Uint8Array(20).subarray(4) }), /16 bytes at offset 0/);
  });

  it("node: a kept-open stream's tasks of one experiment reuse the buffer given back, each with its own values", async () => {
    const buffers = createExperimentBuffers();
    const read = decodeTasks(
      stream([...encodeTask(trainTask("t1", "e", [1, 2, 3]), 8), ...encodeTask(trainTask("t2", "e", [4, 5, 6]), 4)]),
      { buffers },
    );
    const one = (await read.next()).value as TaskEnvelope;
    const p1 = (one.body as TrainTaskBody).params[0].data;
    assert.deepEqual([...p1], [1, 2, 3]);
    buffers.of("e").release(p1.buffer);
    const two = (await read.next()).value as TaskEnvelope;
    const p2 = (two.body as TrainTaskBody).params[0].data;
    assert.equal(p2.buffer, p1.buffer);
    assert.deepEqual([...p2], [4, 5, 6]);
  });

  it("researcher: assembleInto receives replies into the pool's buffers", () => {
    const pool = createBufferPool();
    const reply = (values: number[]): ReplyEnvelope => ({
      taskId: "t",
      nodeId: "n",
      body: { kind: "train", result: { params: tensor(values), sampleCount: 3, trainLoss: 0, seconds: 0 } },
    });
    const receive = (values: number[]) => {
      const intake = createReplyIntake({ receive: assembleInto(pool) });
      for (const chunk of encodeReply(reply(values), 4)) intake.chunk(chunk);
      const body = intake.end().body;
      assert.equal(body.kind, "train");
      return body.result.params[0].data;
    };
    const first = receive([1, 2]);
    assert.deepEqual([...first], [1, 2]);
    pool.release(first.buffer);
    const second = receive([3, 4]);
    assert.equal(second.buffer, first.buffer);
    assert.deepEqual([...second], [3, 4]);
  });
});

describe("poll loop: taskBuffers", () => {
  it("passes the pool to the Session; a task's buffer goes back only when its executor says its values are copied", async () => {
    const buffers = createExperimentBuffers();
    const controller = new AbortController();
    const events: string[] = [];
    let given: unknown;
    const tasks = [trainTask("t1", "e", [1, 2]), trainTask("t2", "e", [3, 4]), trainTask("t3", "e", [5, 6])];
    const client = {
      session: (_hello: unknown, options: { buffers?: unknown }) => {
        given = options.buffers;
        return {
          tasks: decodeTasks(stream(tasks.flatMap((t) => [...encodeTask(t, 8)])), { buffers }),
          reply: async (reply: ReplyEnvelope) => {
            events.push(`reply ${reply.taskId}, kept ${buffers.of("e").keptBytes}`);
          },
        };
      },
    } as unknown as ResearcherClient;
    const seen: ArrayBufferLike[] = [];
    let late: (() => void) | undefined;
    await runPollLoop({
      client,
      researcherUrl: "http://127.0.0.1:1",
      nodeId: "n1",
      name: "n1",
      version: "test",
      execute: async (task, context) => {
        const data = (task.body as TrainTaskBody).params[0].data;
        seen.push(data.buffer);
        events.push(`run ${task.taskId}: ${[...data]}`);
        // t1 copies its values and gives the buffer back; t2 keeps a view (as tfjs would), and says so too late.
        if (task.taskId === "t1") context.paramsCopied?.();
        if (task.taskId === "t2") late = context.paramsCopied;
        if (task.taskId === "t3") controller.abort();
        return { kind: "error", code: "internal", message: "echo" };
      },
      signal: controller.signal,
      log: () => {},
      sleep: async () => {},
      taskBuffers: buffers,
    });
    assert.equal(given, buffers);
    assert.deepEqual(events, [
      "run t1: 1,2",
      "reply t1, kept 8",
      "run t2: 3,4",
      "reply t2, kept 0",
      "run t3: 5,6",
      "reply t3, kept 0",
    ]);
    assert.equal(seen[1], seen[0], "t2 was received into t1's buffer, given back by t1's executor");
    assert.notEqual(seen[2], seen[1], "t2's buffer was adopted out: t3 got a fresh one");
    late?.();
    assert.equal(buffers.of("e").keptBytes, 0, "a release after the task ended is ignored");
  });
});

describe("experiment buffers: idleMs", () => {
  it("drops the pool's buffers after idleMs without a take or a give-back", async () => {
    const buffers = createExperimentBuffers({ idleMs: 20 });
    const pool = buffers.of("e");
    pool.release(pool.take(8).buffer);
    assert.equal(pool.keptBytes, 8);
    await until(() => pool.keptBytes === 0, "the idle pool to be dropped");
    assert.notEqual(buffers.of("e"), pool, "a new pool after the drop");
  });
});

describe("leaseOf", () => {
  it("settles once: released, or adopted out for good", () => {
    const pool = createBufferPool();
    const views = [{ data: new Float32Array(pool.take(8).buffer) }];
    const adopted = leaseOf(pool, views);
    adopted.adopt();
    assert.equal(adopted.release(), false);
    assert.equal(pool.keptBytes, 0);
    const released = leaseOf(pool, views);
    assert.equal(released.release(), true);
    assert.equal(released.release(), false, "twice is once");
    assert.equal(pool.keptBytes, 8);
    assert.equal(leaseOf(pool, []).release(), false, "no views: nothing to give back");
  });
});

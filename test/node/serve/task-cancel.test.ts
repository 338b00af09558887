import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { selectBackend } from "../../../src/ml/backend.js";
import { trainLocal } from "../../../src/ml/train.js";
import { requestCancel, watchCancelRequests } from "../../../src/node/serve/cancel-request.js";
import type { NodeStatus } from "../../../src/node/serve/node-status.js";
import { runPollLoop, type TaskExecutor } from "../../../src/node/serve/poll-loop.js";
import { cancelledReply, createRunningTask, TaskCancelled } from "../../../src/node/serve/task-cancel.js";
import type { ReplyEnvelope, ResearcherClient, TaskEnvelope } from "../../../src/wire/index.js";
import { logisticPlan, separableData, trainingArgs } from "../../ml/synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));

const data = separableData(200);

/** A task that would run for days: 10⁸ updates. */
const endless: TaskEnvelope = {
  taskId: "task-1",
  experiment: "endless",
  body: { kind: "train", round: 3 } as TaskEnvelope["body"],
};

/** Trains 10⁸ updates on the task's signal, reporting progress; a cancel becomes its reply as on a node. */
const trainForever: TaskExecutor = async (_task, context) => {
  try {
    await trainLocal({
      plan: logisticPlan(),
      data,
      args: trainingArgs({ epochs: 0, updates: 100_000_000, batchSize: 8 }),
      signal: context.signal,
      onProgress: (p) => context.feedback({ kind: "progress", epoch: p.epoch, step: p.step, totalSteps: p.totalSteps }),
    });
    return { kind: "error", code: "internal", message: "ran to its end" };
  } catch (error) {
    const reply = cancelledReply(context.signal);
    if (reply) return reply;
    throw error;
  }
};

/**
 * A researcher that hands out `endless` once, then ends the loop at the next poll (so the test sees the
 * node poll again after the task); `feedback` answers as the test says.
 */
function researcher(feedback: ResearcherClient["feedback"]) {
  const loop = new AbortController();
  const replies: ReplyEnvelope[] = [];
  let polls = 0;
  const client = {
    async *tasks() {
      polls++;
      if (polls === 1) yield endless;
      else loop.abort();
    },
    feedback,
    async reply(reply: ReplyEnvelope) {
      replies.push(reply);
    },
  } as unknown as ResearcherClient;
  return { client, loop, replies, polls: () => polls };
}

function loopOptions(r: ReturnType<typeof researcher>, lines: string[]) {
  return {
    client: r.client,
    researcherUrl: "http://127.0.0.1:1",
    nodeId: "n1",
    name: "hospital-a",
    version: "test",
    execute: trainForever,
    signal: r.loop.signal,
    log: (line: string) => lines.push(line),
    sessions: false, // the fake researcher serves tasks() and reply(), as GetTask/ReplyTask
  };
}

describe("cancelling a running task", () => {
  it("the training loop stops within one batch of its signal aborting", async () => {
    // Under DP-SGD each batch draws one uniform per training row (Poisson sampling): the draws count batches.
    const rows = 200;
    const controller = new AbortController();
    let draws = 0;
    let drawsAtAbort = 0;
    await assert.rejects(
      trainLocal({
        plan: logisticPlan(),
        data,
        args: trainingArgs({
          epochs: 0,
          updates: 100_000_000,
          batchSize: 8,
          testRatio: 0,
          dp: { mode: "local", noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 },
        }),
        signal: controller.signal,
        samplingUniform: () => {
          draws++;
          // Abort in the middle of the 5th batch's sampling: that batch still runs, no other does.
          if (draws === 4 * rows + rows / 2) {
            drawsAtAbort = draws;
            controller.abort(new TaskCancelled("task-1", "operator"));
          }
          return Math.random();
        },
      }),
      (error) => error instanceof TaskCancelled,
    );
    assert.ok(drawsAtAbort > 0);
    assert.ok(draws - drawsAtAbort < rows, `${draws - drawsAtAbort} draws after the abort: more than one batch`);
  });

  it("stops the task when the researcher's answer to its progress says cancel, and polls again", async () => {
    const lines: string[] = [];
    let cancelled = 0;
    const r = researcher(async () => {
      cancelled++;
      return { cancel: true };
    });
    await runPollLoop({ ...loopOptions(r, lines), heartbeatMs: 60_000 });
    assert.ok(cancelled >= 1);
    assert.equal(r.polls(), 2, "the node polled again after the cancelled task");
    const said = lines.filter((l) => l.includes("cancelled"));
    assert.deepEqual(said, [
      'Task task-1 (train for "endless", round 3) cancelled by the researcher; polling for the next task',
    ]);
    assert.deepEqual(r.replies, [], "a researcher that no longer awaits the task gets no reply");
  });

  it("stops the task once its feedback has failed for longer than the lost-researcher window", async () => {
    const lines: string[] = [];
    let failures = 0;
    const r = researcher(async () => {
      failures++;
      throw new Error("connect ECONNREFUSED 127.0.0.1:1");
    });
    await runPollLoop({ ...loopOptions(r, lines), heartbeatMs: 10, lostResearcherMs: 200 });
    assert.ok(failures >= 2, `${failures} failed feedback calls`);
    assert.equal(r.polls(), 2);
    assert.ok(lines.some((l) => /Task task-1 .* cancelled by the lost researcher/.test(l)));
  });

  it("feedback failing now and then, with answers between, does not count as a lost researcher", async () => {
    const lines: string[] = [];
    let calls = 0;
    const r = researcher(async () => {
      calls++;
      // Every other call fails, for several windows; then the researcher says cancel, so the test ends.
      if (calls >= 60) return { cancel: true };
      if (calls % 2 === 1) throw new Error("one lost call");
      return { cancel: false };
    });
    await runPollLoop({ ...loopOptions(r, lines), heartbeatMs: 10, lostResearcherMs: 100 });
    assert.deepEqual(
      lines.filter((l) => l.includes("cancelled")).map((l) => l.replace(/.*cancelled by the /, "")),
      ["researcher; polling for the next task"],
    );
  });

  it("the operator's cancel is sent to the researcher as task_cancelled; another task's id cancels nothing", async () => {
    const lines: string[] = [];
    const running = createRunningTask();
    const r = researcher(async () => {
      // The first feedback proves the task runs: the operator cancels it then.
      assert.equal(running.cancel("operator", "another-task"), false);
      assert.equal(running.current(), "task-1");
      assert.equal(running.cancel("operator"), true);
      return { cancel: false };
    });
    await runPollLoop({ ...loopOptions(r, lines), running, heartbeatMs: 60_000 });
    assert.equal(r.replies.length, 1);
    const body = r.replies[0].body;
    assert.equal(body.kind === "error" && body.code, "task_cancelled");
    assert.ok(lines.some((l) => l.includes("cancelled by the operator")));
    assert.equal(running.current(), undefined);
    assert.equal(running.cancel("operator"), false, "nothing runs any more");
  });
});

describe("the operator's cancel request (cancel.json in the node home)", () => {
  it("reaches the named running task only; a wrong id or no running task is a one-line failure", async () => {
    const home = mkdtempSync(join(tmpdir(), "fbm-cancel-"));
    const running = createRunningTask();
    const warnings: string[] = [];
    // A request left over by a process that stopped before taking it: dropped when serving starts.
    writeFileSync(join(home, "cancel.json"), JSON.stringify({ taskId: "stale" }));
    const watch = watchCancelRequests(home, running, { warn: (line) => warnings.push(line) });
    const status = (current?: NodeStatus["current"]) =>
      writeFileSync(
        join(home, "status.json"),
        JSON.stringify({
          pid: process.pid,
          startedAt: "",
          updatedAt: "",
          researcher: "r",
          connected: true,
          current,
          recent: [],
        }),
      );
    try {
      status();
      await assert.rejects(
        requestCancel(home),
        /^RuntimeFailure: No task is running: the node \(pid \d+\) is waiting for one$/,
      );
      assert.equal(existsSync(join(home, "cancel.json")), false, "the stale request is gone");
      const task = running.start("t-1", new AbortController().signal);
      status({ taskId: "t-1", kind: "train", experiment: "heart", round: 2, startedAt: "" });
      await assert.rejects(
        requestCancel(home, "t-0"),
        /Task t-0 is not running; the running task is t-1 \(train for "heart", round 2\)/,
      );
      assert.equal(task.signal.aborted, false);
      const done = await requestCancel(home, "t-1");
      assert.equal(
        done.line,
        'Cancelled task t-1 (train for "heart", round 2) on the serving node (pid ' +
          process.pid +
          "); it replies task_cancelled",
      );
      assert.ok(task.signal.reason instanceof TaskCancelled);
      assert.equal(task.signal.reason.by, "operator");
      assert.deepEqual(warnings, []);
      task.end();
    } finally {
      watch.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

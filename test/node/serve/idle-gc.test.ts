import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { getHeapStatistics } from "node:v8";
import { createIdleCollector } from "../../../src/node/serve/idle-gc.js";
import { runPollLoop } from "../../../src/node/serve/poll-loop.js";
import type { ReplyEnvelope, ResearcherClient, TaskEnvelope } from "../../../src/wire/index.js";

describe("garbage collection between a node's rounds", () => {
  it("collects once the heap grew by the threshold since the last collection, and not before", () => {
    let heap = 100;
    let collected = 0;
    const idle = createIdleCollector({
      growthBytes: 10,
      heapUsed: () => heap,
      collect: () => {
        collected++;
        heap -= 8; // what the collection frees
      },
    });
    heap = 109;
    idle.afterTask();
    assert.equal(collected, 0, "9 bytes of growth: under the threshold");
    heap = 110;
    idle.afterTask();
    assert.equal(collected, 1);
    // The baseline is the heap after the collection (102), not before it.
    heap = 111;
    idle.afterTask();
    assert.equal(collected, 1);
    heap = 112;
    idle.afterTask();
    assert.equal(idle.collections, 2);
  });

  it("frees the process's garbage with V8's own full collection", () => {
    const idle = createIdleCollector({ growthBytes: 1024 * 1024 });
    let garbage: unknown[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({ i }));
    const full = getHeapStatistics().used_heap_size;
    garbage = undefined;
    idle.afterTask();
    assert.equal(garbage, undefined);
    // The 300,000 objects (several MiB) were collected (the baseline was taken before they existed).
    assert.equal(idle.collections, 1);
    assert.ok(getHeapStatistics().used_heap_size < full - 1024 * 1024);
  });

  it("runs after the task's reply has been sent, once a task", async () => {
    const loop = new AbortController();
    const order: string[] = [];
    let polls = 0;
    const task: TaskEnvelope = {
      taskId: "t1",
      experiment: "e",
      body: { kind: "train", round: 1 } as TaskEnvelope["body"],
    };
    const client = {
      async *tasks() {
        polls++;
        if (polls === 1) yield task;
        else loop.abort();
      },
      feedback: async () => ({}),
      async reply(reply: ReplyEnvelope) {
        order.push(`reply ${reply.taskId}`);
      },
    } as unknown as ResearcherClient;
    await runPollLoop({
      client,
      researcherUrl: "http://127.0.0.1:1",
      nodeId: "n1",
      name: "hospital-a",
      version: "test",
      execute: async () => {
        order.push("execute");
        return { kind: "error", code: "internal", message: "done" };
      },
      signal: loop.signal,
      log: () => undefined,
      sessions: false,
      backoff: { initialMs: 1, maxMs: 1 },
      afterTask: () => order.push("afterTask"),
    });
    assert.deepEqual(order, ["execute", "reply t1", "afterTask"]);
  });
});

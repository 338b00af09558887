import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { createStatusRecorder, type NodeStatus, readNodeStatus } from "../../../src/node/serve/node-status.js";
import type { TaskEnvelope } from "../../../src/wire/index.js";
import { DEADLINE_MS } from "../../support/wait.js";

describe("createStatusRecorder()", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-status-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("writes what the node is doing to status.json: connection, current task and progress, recent outcomes", async () => {
    const path = join(dir, "status.json");
    const status = createStatusRecorder(path, { researcher: "http://r:1" });
    const task = { taskId: "t1", experiment: "study", body: { kind: "ping" } } as TaskEnvelope;
    status.connected(true);
    status.taskStarted(task);
    status.feedback({ kind: "progress", epoch: 1, step: 3, totalSteps: 10, loss: 0.5 });
    const live = await statusWhen(path, (s) => s.current?.progress?.step === 3);
    assert.deepEqual([live.connected, live.current?.kind, live.current?.experiment], [true, "ping", "study"]);
    status.taskEnded(task, { kind: "error", code: "failed", message: "bad file" });
    status.taskEnded(task, { kind: "ping", version: "1", backend: "wasm" });
    await status.close();
    const done = (await readNodeStatus(path))!;
    assert.equal(done.current, undefined);
    assert.equal(done.stopped, true);
    assert.deepEqual(
      done.recent.map((r) => [r.outcome, r.message]),
      [
        ["ok", undefined],
        ["failed", "bad file"],
      ],
    );
  });

  it("collapses a refusal repeated on every poll into one row with a count, keeping older tasks", async () => {
    const path = join(dir, "status-refusals.json");
    const status = createStatusRecorder(path, { researcher: "http://r:1" });
    const train = { taskId: "t", experiment: "study", body: { kind: "train" } } as TaskEnvelope;
    status.taskEnded({ ...train, body: { kind: "ping" } } as TaskEnvelope, {
      kind: "ping",
      version: "1",
      backend: "wasm",
    });
    for (let i = 0; i < 25; i++)
      status.taskEnded(train, { kind: "error", code: "plan_not_approved", message: `not approved (${i})` });
    status.taskEnded(train, { kind: "error", code: "plan_rejected", message: "rejected" });
    await status.close();
    const done = (await readNodeStatus(path))!;
    assert.deepEqual(
      done.recent.map((r) => [r.kind, r.outcome, r.count, r.message]),
      [
        ["train", "plan_rejected", undefined, "rejected"],
        ["train", "plan_not_approved", 25, "not approved (24)"],
        ["ping", "ok", undefined, undefined],
      ],
    );
  });
});

/** The status file once `test` holds for it (it is written a moment after the change). */
async function statusWhen(path: string, test: (s: NodeStatus) => boolean): Promise<NodeStatus> {
  const end = Date.now() + DEADLINE_MS;
  for (;;) {
    const status = await readNodeStatus(path);
    if (status && test(status)) return status;
    if (Date.now() > end) throw new Error(`status.json never matched: ${JSON.stringify(status)}`);
    await delay(10);
  }
}

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { discover } from "../../../src/researcher/server/discover.js";
import { createHub, type Hub } from "../../../src/researcher/server/hub.js";
import type { DatasetInfo, TaskBody } from "../../../src/wire/index.js";
import { DEADLINE_MS } from "../../support/wait.js";

/** discover() over a hub without transport: nodes register and answer their tasks by hand. */

const hello = (nodeId: string) => ({ nodeId, name: nodeId, sessionId: "s1", version: "t" });
const never = new AbortController().signal;
const dataset = (id: string, createdAt: string): DatasetInfo => ({
  id,
  name: id,
  type: "csv",
  tags: ["heart"],
  description: "",
  shape: [10, 2],
  columns: [],
  sampleCount: 10,
  classes: [],
  target: "y",
  createdAt,
});

/** Registers `nodeId`, takes its next task and answers it with `datasets`; returns the task it was asked. */
async function answer(hub: Hub, nodeId: string, datasets: DatasetInfo[]): Promise<TaskBody> {
  const task = await hub.nextTask(hello(nodeId), { signal: never, waitMs: DEADLINE_MS });
  assert.ok(task, `node ${nodeId} got no task`);
  hub.deliver({ taskId: task.taskId, nodeId, body: { kind: "datasets", datasets } });
  return task.body;
}

describe("discover()", () => {
  it("asks every node for datasets with the tags; each takes part with its oldest, one without any does not", async () => {
    const hub = createHub();
    const lines: string[] = [];
    hub.register(hello("early")); // online before discovery starts: asked too
    const federation = discover(hub, { tags: ["heart"], timeoutMs: DEADLINE_MS, log: (l) => lines.push(l) });
    const enough = federation.until(() => federation.participants().length >= 2, DEADLINE_MS);
    assert.deepEqual(await answer(hub, "early", [dataset("new", "2026-02-01"), dataset("old", "2026-01-01")]), {
      kind: "search",
      tags: ["heart"],
    });
    hub.register(hello("empty"));
    await answer(hub, "empty", []);
    hub.register(hello("late"));
    await answer(hub, "late", [dataset("only", "2026-03-01")]);
    await enough;
    assert.deepEqual(
      federation.participants().map((p) => [p.name, p.dataset.id]),
      [
        ["early", "old"],
        ["late", "only"],
      ],
    );
    assert.deepEqual(
      federation.answers().map((a) => [a.name, a.datasets.length]),
      [
        ["early", 2],
        ["empty", 0],
        ["late", 1],
      ],
    );
    assert.deepEqual(lines, ['Node early holds 2 datasets tagged [heart]; using "old" (old)']);
    assert.equal(federation.pending(), 0);
    federation.close();
    hub.close();
  });

  it("asks for every dataset (a list task) without tags, and until() ends at its deadline when never enough", async () => {
    const hub = createHub();
    const federation = discover(hub, { timeoutMs: DEADLINE_MS });
    hub.register(hello("a"));
    assert.deepEqual(await answer(hub, "a", [dataset("x", "2026-01-01")]), { kind: "list" });
    await federation.settled();
    const started = Date.now();
    await federation.until(() => federation.answers().length >= 2, 50);
    assert.ok(Date.now() - started >= 40, "until() waited for its deadline");
    assert.deepEqual(
      federation.answers().map((a) => a.name),
      ["a"],
    );
    federation.close();
    hub.close();
  });
});

describe("discover() at scale", () => {
  it("counts participants without copying node records (hub.node): a roster counts them every 20 ms while thousands register", async () => {
    const hub = createHub();
    const federation = discover(hub, { tags: ["heart"], timeoutMs: DEADLINE_MS });
    after(() => {
      federation.close();
      hub.close();
    });
    for (const id of ["a", "b", "c"]) {
      hub.register(hello(id));
      await answer(hub, id, [dataset(`d-${id}`, "2026-01-01")]);
    }
    let copies = 0;
    const node = hub.node.bind(hub);
    hub.node = (nodeId) => {
      copies++;
      return node(nodeId);
    };
    assert.deepEqual(
      federation.participants().map((p) => p.node),
      ["a", "b", "c"],
    );
    assert.equal(copies, 0);
    assert.equal(hub.isOnline("a"), true);
    assert.equal(hub.isOnline("nobody"), false);
  });
});

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it, type TestContext } from "node:test";
import { createHub, type Hub, type HubOptions } from "../../../src/researcher/server/hub.js";
import { HubError, TaskFailure } from "../../../src/researcher/server/hub-error.js";
import { createMailbox } from "../../../src/researcher/server/mailbox.js";
import type { ReplyBody } from "../../../src/wire/index.js";
import { DEADLINE_MS } from "../../support/wait.js";

/** The hub without any transport: presence (register, sweep, lost) and the task mailbox (send, next, deliver, requeue). */

const hello = (nodeId: string, sessionId = "s1") => ({ nodeId, name: nodeId, sessionId, version: "t" });
const ping = { kind: "ping" as const };
const pong: ReplyBody = { kind: "ping", version: "t", backend: "cpu" };
const never = new AbortController().signal;

/**
 * A hub on a clock the test sets, its presence sweeps run by mocked timers: `sweepAt(ms)` sets the clock
 * to `ms` and runs a second of timers (sweeps included); `setClock(ms)` sets it alone.
 */
function hubOnTestClock(
  t: TestContext,
  options: Omit<HubOptions, "now">,
): { hub: Hub; setClock: (ms: number) => void; sweepAt: (ms: number) => void } {
  t.mock.timers.enable({ apis: ["setInterval", "setTimeout"] });
  let clock = 0;
  const hub = createHub({ ...options, now: () => clock });
  const setClock = (ms: number) => {
    clock = ms;
  };
  return {
    hub,
    setClock,
    sweepAt: (ms) => {
      setClock(ms);
      t.mock.timers.tick(1_000);
    },
  };
}

/** Polls once for `nodeId` and answers the task it gets with `pong`; returns the task id. */
async function answerOnce(hub: Hub, nodeId: string): Promise<string> {
  const task = await hub.nextTask(hello(nodeId), { signal: never, waitMs: DEADLINE_MS });
  assert.ok(task, `node ${nodeId} got no task`);
  hub.deliver({ taskId: task.taskId, nodeId, body: pong });
  return task.taskId;
}

describe("hub: node presence", () => {
  it("warns once when a node id keeps opening new sessions within the window, naming it and the count", () => {
    let clock = 0;
    const lines: string[] = [];
    const hub = createHub({ now: () => clock, log: (l) => lines.push(l), restartLoop: { count: 3, windowMs: 60_000 } });
    try {
      hub.register(hello("a", "s0"), { proven: true });
      hub.register(hello("a", "s0"), { proven: true }); // the same session again: no restart
      for (let i = 1; i <= 2; i++) hub.register(hello("a", `s${i}`), { proven: true });
      assert.deepEqual(lines, [], "two restarts are not a loop");
      for (let i = 3; i <= 8; i++) hub.register(hello("a", `s${i}`), { proven: true });
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(lines[0], /^Warning: node a \(a\) opened 3 new sessions within 1 min, each retiring/);
      clock = 61_000; // a new window: a loop there is said again
      for (let i = 9; i <= 11; i++) hub.register(hello("a", `s${i}`), { proven: true });
      assert.equal(lines.length, 2);
    } finally {
      hub.close();
    }
  });

  it("announces a node once when it first registers, and keeps one record per id", () => {
    const hub = createHub();
    const seen: string[] = [];
    hub.on("node", (e) => seen.push(`${e.state} ${e.node.nodeId}`));
    hub.register(hello("a"));
    hub.register(hello("a"));
    hub.register(hello("b"));
    assert.deepEqual(seen, ["connected a", "connected b"]);
    assert.equal(hub.nodes().length, 2);
    assert.equal(hub.node("a")?.online, true);
    assert.equal(hub.node("nobody"), undefined);
    hub.close();
  });

  it("hands out copies: changing a returned record changes nothing in the hub", () => {
    const hub = createHub();
    hub.register(hello("a"));
    const copy = hub.node("a");
    assert.ok(copy);
    copy.online = false;
    assert.equal(hub.node("a")?.online, true);
    hub.close();
  });

  it("refuses a second live session on an id unless the caller is proven, which retires the old session's tasks", async () => {
    const hub = createHub();
    hub.register(hello("a", "first"));
    assert.throws(
      () => hub.register(hello("a", "second")),
      (e) => e instanceof HubError && e.reason === "identity_in_use",
    );
    const pending = hub.send("a", ping);
    hub.register(hello("a", "second"), { proven: true });
    await assert.rejects(
      pending,
      (e) => e instanceof TaskFailure && e.reason === "node_lost" && /restarted/.test(e.message),
    );
    assert.equal(hub.node("a")?.sessionId, "second");
    hub.close();
  });

  it("marks a silent node lost and fails its outstanding tasks, but not another node's", async () => {
    let clock = 0;
    const hub = createHub({ pollWindowMs: 50, lostAfterMs: 200, now: () => clock });
    const lost: string[] = [];
    hub.on("node", (e) => e.state === "lost" && lost.push(e.node.nodeId));
    hub.register(hello("quiet"));
    hub.register(hello("busy"));
    const quietTask = hub.send("quiet", ping);
    const busyTask = hub.send("busy", ping);
    clock = 150;
    hub.feedback({ nodeId: "busy", taskId: "x", body: { kind: "heartbeat" } });
    clock = 300; // quiet has been silent 300 ms, busy 150 ms
    await assert.rejects(quietTask, (e) => e instanceof TaskFailure && e.reason === "node_lost");
    assert.deepEqual(lost, ["quiet"]);
    assert.equal(hub.node("quiet")?.online, false);
    const answered = answerOnce(hub, "busy");
    assert.deepEqual(await busyTask, pong);
    await answered;
    hub.close();
  });

  it("does not count a node waiting in a long poll as silent", async (t) => {
    const { hub, sweepAt } = hubOnTestClock(t, { pollWindowMs: DEADLINE_MS, lostAfterMs: 100 });
    const stop = new AbortController();
    const poll = hub.nextTask(hello("waiting"), { signal: stop.signal });
    hub.register(hello("silent"));
    sweepAt(10_000); // twenty sweeps, all while the poll is held
    assert.equal(hub.node("waiting")?.online, true);
    assert.equal(hub.node("silent")?.online, false);
    stop.abort();
    assert.equal(await poll, undefined);
    hub.close();
  });
});

describe("hub: a node whose connection closed", () => {
  /** A stand-in for an HTTP/2 session: only its close matters to presence. */
  const connection = () => Object.assign(new EventEmitter(), { closed: false });
  /** Silence counts after a minute; a closed connection after 5 s of grace. */
  const withGrace = { pollWindowMs: DEADLINE_MS, lostAfterMs: 60_000, closedGraceMs: 5_000 };

  it("is lost after the grace, not after the silence window, and its task fails", async (t) => {
    const { hub, sweepAt } = hubOnTestClock(t, withGrace);
    hub.register(hello("killed"));
    hub.register(hello("alive"));
    const killedOn = connection();
    const aliveOn = connection();
    hub.connectedBy("killed", killedOn);
    hub.connectedBy("alive", aliveOn);
    const task = hub.send("killed", ping);
    killedOn.closed = true;
    killedOn.emit("close");
    sweepAt(4_000);
    assert.equal(hub.node("killed")?.online, true, "still within the grace");
    sweepAt(6_000);
    assert.equal(hub.node("killed")?.online, false);
    assert.equal(hub.node("alive")?.online, true, "its connection is open: only silence counts");
    await assert.rejects(task, (e) => e instanceof TaskFailure && e.reason === "node_lost");
    hub.close();
  });

  it("is not lost when it calls again on a new connection within the grace", (t) => {
    const { hub, setClock, sweepAt } = hubOnTestClock(t, withGrace);
    hub.register(hello("blip"));
    const first = connection();
    hub.connectedBy("blip", first);
    first.closed = true;
    first.emit("close");
    setClock(3_000);
    hub.feedback({ nodeId: "blip", taskId: "x", body: { kind: "heartbeat" } });
    hub.connectedBy("blip", connection());
    sweepAt(30_000);
    assert.equal(hub.node("blip")?.online, true);
    hub.close();
  });

  it("ignores the close of a connection the node no longer calls on", (t) => {
    const { hub, sweepAt } = hubOnTestClock(t, withGrace);
    hub.register(hello("moved"));
    const old = connection();
    hub.connectedBy("moved", old);
    hub.connectedBy("moved", connection());
    old.closed = true;
    old.emit("close");
    sweepAt(30_000);
    assert.equal(hub.node("moved")?.online, true);
    hub.close();
  });
});

describe("hub: presence while streaming", () => {
  it("does not count a node as silent while a stream of its own runs, and does once it ends", (t) => {
    const { hub, sweepAt } = hubOnTestClock(t, { pollWindowMs: 50, lostAfterMs: 100 });
    hub.register(hello("uploading"));
    const done = hub.streaming("uploading");
    sweepAt(10_000);
    assert.equal(hub.node("uploading")?.online, true);
    done();
    sweepAt(20_000);
    assert.equal(hub.node("uploading")?.online, false);
    hub.close();
  });
});

describe("hub: task mailbox", () => {
  it("hands a task to a waiting poll at once, and queues it for a node not polling", async () => {
    const hub = createHub();
    hub.register(hello("a"));
    const poll = hub.nextTask(hello("a"), { signal: never, waitMs: DEADLINE_MS });
    const first = hub.send("a", ping);
    const task = await poll;
    assert.equal(task?.body.kind, "ping");
    hub.deliver({ taskId: task!.taskId, nodeId: "a", body: pong });
    assert.deepEqual(await first, pong);
    const queued = hub.send("a", { kind: "list" });
    const next = await hub.nextTask(hello("a"), { signal: never, waitMs: 1 });
    assert.equal(next?.body.kind, "list");
    hub.deliver({ taskId: next!.taskId, nodeId: "a", body: pong });
    await queued;
    hub.close();
  });

  it("puts a task whose sending broke back at the front of the queue, unless it is settled", async () => {
    const hub = createHub();
    hub.register(hello("a"));
    const one = hub.send("a", ping);
    const two = hub.send("a", { kind: "list" });
    const first = await hub.nextTask(hello("a"), { signal: never, waitMs: 1 });
    hub.requeue("a", first!);
    const again = await hub.nextTask(hello("a"), { signal: never, waitMs: 1 });
    assert.equal(again?.taskId, first?.taskId);
    hub.deliver({ taskId: again!.taskId, nodeId: "a", body: pong });
    hub.requeue("a", again!); // answered: must not come back
    const second = await hub.nextTask(hello("a"), { signal: never, waitMs: 1 });
    assert.equal(second?.body.kind, "list");
    hub.deliver({ taskId: second!.taskId, nodeId: "a", body: pong });
    assert.equal(await hub.nextTask(hello("a"), { signal: never, waitMs: 1 }), undefined);
    await Promise.all([one, two]);
    hub.close();
  });

  it("hands a requeued task to a poll of the node already waiting (a session ended as it took the task)", async () => {
    const hub = createHub();
    hub.register(hello("a"));
    const reply = hub.send("a", ping);
    const taken = await hub.nextTask(hello("a"), { signal: never, waitMs: 1 });
    // The node's next session waits; the old one gives the task back as it ends.
    const waiting = hub.nextTask(hello("a"), { signal: never, waitMs: DEADLINE_MS });
    hub.requeue("a", taken!);
    const again = await waiting;
    assert.equal(again?.taskId, taken?.taskId);
    hub.deliver({ taskId: again!.taskId, nodeId: "a", body: pong });
    assert.deepEqual(await reply, pong);
    hub.close();
  });

  it("tells a duplicate reply from an unknown task and from another node's task", async () => {
    const hub = createHub();
    hub.register(hello("a"));
    const pending = hub.send("a", ping);
    const task = await hub.nextTask(hello("a"), { signal: never, waitMs: 1 });
    assert.throws(
      () => hub.deliver({ taskId: task!.taskId, nodeId: "b", body: pong }),
      (e) => e instanceof HubError && e.reason === "wrong_node",
    );
    hub.deliver({ taskId: task!.taskId, nodeId: "a", body: pong });
    await pending;
    assert.throws(
      () => hub.deliver({ taskId: task!.taskId, nodeId: "a", body: pong }),
      (e) => e instanceof HubError && e.reason === "duplicate_reply",
    );
    assert.throws(
      () => hub.deliver({ taskId: "made-up", nodeId: "a", body: pong }),
      (e) => e instanceof HubError && e.reason === "unknown_task",
    );
    hub.close();
  });

  it("times a task out and forgets it: a late reply is refused, the queue is empty", async () => {
    const hub = createHub();
    hub.register(hello("a"));
    await assert.rejects(
      hub.send("a", ping, { timeoutMs: 20 }),
      (e) => e instanceof TaskFailure && e.reason === "timeout",
    );
    assert.equal(await hub.nextTask(hello("a"), { signal: never, waitMs: 1 }), undefined);
    hub.close();
  });

  it("calls a task's settled watchers when it is answered (not those undone), and at once for unknown tasks", async () => {
    const hub = createHub();
    hub.register(hello("a"));
    const pending = hub.send("a", ping);
    const task = await hub.nextTask(hello("a"), { signal: never, waitMs: 1 });
    const calls: string[] = [];
    hub.onSettled(task!.taskId, () => calls.push("sending"));
    const undo = hub.onSettled(task!.taskId, () => calls.push("undone"));
    hub.onSettled(task!.taskId, () => calls.push("receiving"));
    undo();
    assert.equal(calls.length, 0);
    hub.deliver({ taskId: task!.taskId, nodeId: "a", body: pong });
    await pending;
    assert.deepEqual(calls, ["sending", "receiving"]);
    hub.onSettled(task!.taskId, () => calls.push("settled already"));
    hub.onSettled("made-up", () => calls.push("unknown"));
    assert.deepEqual(calls, ["sending", "receiving", "settled already", "unknown"]);
    hub.close();
  });

  it("rejects every outstanding task when closed, and refuses new polls", async () => {
    const hub = createHub();
    hub.register(hello("a"));
    const pending = hub.send("a", ping);
    hub.close();
    await assert.rejects(pending, (e) => e instanceof TaskFailure && e.reason === "aborted");
    await assert.rejects(
      hub.nextTask(hello("a"), { signal: never }),
      (e) => e instanceof HubError && e.reason === "closed",
    );
  });
});

describe("hub: bounds at scale", () => {
  it("runs a round of 5,000 nodes with bookkeeping that ends empty", async () => {
    const hub = createHub({ pollWindowMs: DEADLINE_MS, lostAfterMs: DEADLINE_MS });
    const ids = Array.from({ length: 5000 }, (_, i) => `n${i}`);
    for (const id of ids) hub.register(hello(id));
    const replies = ids.map((id) => hub.send(id, ping));
    await Promise.all(ids.map((id) => answerOnce(hub, id)));
    assert.equal((await Promise.all(replies)).length, 5000);
    for (const id of ids) assert.equal(await hub.nextTask(hello(id), { signal: never, waitMs: 0 }), undefined);
    hub.close();
  });

  it("remembers a bounded number of answered tasks; an older duplicate reads as unknown", async () => {
    const mailbox = createMailbox({ answeredMemory: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const reply = mailbox.send("a", ping, { timeoutMessage: "" });
      const task = await mailbox.next("a", { signal: never, waitMs: 0 });
      ids.push(task!.taskId);
      mailbox.settle(task!.taskId, { reply: pong });
      await reply;
    }
    assert.deepEqual(mailbox.size(), { outstanding: 0, answered: 3 });
    assert.throws(
      () => mailbox.answerable({ taskId: ids[4], nodeId: "a" }),
      (e) => e instanceof HubError && e.reason === "duplicate_reply",
    );
    assert.throws(
      () => mailbox.answerable({ taskId: ids[0], nodeId: "a" }),
      (e) => e instanceof HubError && e.reason === "unknown_task",
    );
  });

  it("fails a lost node's tasks without touching the other nodes' outstanding tasks", async () => {
    const mailbox = createMailbox();
    const theirs = Array.from({ length: 100 }, (_, i) => mailbox.send(`other${i}`, ping, { timeoutMessage: "" }));
    const mine = [
      mailbox.send("lost", ping, { timeoutMessage: "" }),
      mailbox.send("lost", ping, { timeoutMessage: "" }),
    ];
    mailbox.dropNode("lost", () => new TaskFailure("node_lost", "gone"));
    for (const p of mine) await assert.rejects(p, (e) => e instanceof TaskFailure && e.reason === "node_lost");
    assert.equal(mailbox.size().outstanding, 100);
    mailbox.close(() => new TaskFailure("aborted", "end"));
    await Promise.allSettled(theirs);
    assert.equal(mailbox.size().outstanding, 0);
  });
});

describe("hub: telling a node to cancel a task nobody awaits", () => {
  it("a feedback is answered as outstanding until its task is interrupted, timed out or answered", async () => {
    const hub = createHub();
    try {
      hub.register(hello("a"));
      const heartbeat = (taskId: string, nodeId = "a") => hub.feedback({ nodeId, taskId, body: { kind: "heartbeat" } });
      // Interrupted (the run's signal, as on Ctrl-C): outstanding until then.
      const run = new AbortController();
      const interrupted = hub.send("a", ping, { signal: run.signal }).catch((e: unknown) => e);
      const first = await hub.nextTask(hello("a"), { signal: never, waitMs: DEADLINE_MS });
      assert.ok(first);
      assert.equal(heartbeat(first.taskId), true);
      assert.equal(heartbeat(first.taskId, "b"), false, "another node's feedback for it");
      run.abort();
      assert.ok((await interrupted) instanceof TaskFailure);
      assert.equal(heartbeat(first.taskId), false);
      // Timed out: the round no longer takes its reply.
      const timedOut = hub.send("a", ping, { timeoutMs: 20 }).catch((e: unknown) => e);
      const second = await hub.nextTask(hello("a"), { signal: never, waitMs: DEADLINE_MS });
      assert.ok(second);
      assert.equal(heartbeat(second.taskId), true);
      assert.equal(((await timedOut) as TaskFailure).reason, "timeout");
      assert.equal(heartbeat(second.taskId), false);
      // A task this researcher never sent (one of a researcher process before it).
      assert.equal(heartbeat("from-another-process"), false);
    } finally {
      hub.close();
    }
  });
});

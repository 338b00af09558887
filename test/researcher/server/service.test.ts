import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { PollLoopOptions, TaskExecutor } from "../../../src/node/serve/poll-loop.js";
import { createHub } from "../../../src/researcher/server/hub.js";
import { TaskFailure } from "../../../src/researcher/server/hub-error.js";
import { type ResearcherServer, type ServerOptions, startServer } from "../../../src/researcher/server/server.js";
import { createResearcherService } from "../../../src/researcher/server/service.js";
import { createTransferBudget } from "../../../src/researcher/server/transfer-budget.js";
import {
  createResearcherClient,
  encodeTask,
  pollAccepted,
  type ReplyBody,
  type ResearcherClient,
  ResearcherService,
  taskEnd,
} from "../../../src/wire/index.js";
import { pollAsN1 as pollAs } from "../../support/poll-node.js";
import { bareTrainTask, vectorTensor } from "../../support/train-task.js";
import { DEADLINE_MS, until } from "../../support/wait.js";

/** A poll that lasts as long as the hub lets it (its poll window), so a task sent meanwhile is never missed. */
const hello = (nodeId: string, sessionId = "s1") => ({
  nodeId,
  name: nodeId,
  sessionId,
  version: "t",
  waitSeconds: DEADLINE_MS / 1000,
});

function memoryClient(hub: ReturnType<typeof createHub>) {
  const transport = createRouterTransport(({ service }) => service(ResearcherService, createResearcherService(hub)));
  return createResearcherClient(transport);
}

const echo: TaskExecutor = async (task) => {
  if (task.body.kind === "train") {
    return {
      kind: "train",
      result: {
        params: task.body.params.map((p) => ({ ...p, data: (p.data as Float32Array).map((v) => v * 2) })),
        sampleCount: 10,
        trainLoss: 0.1,
        seconds: 0,
      },
    };
  }
  return { kind: "ping", version: "t", backend: "cpu" };
};

const trainBody = (batchSize: number, values = 4) =>
  bareTrainTask([vectorTensor(new Float32Array(values))], { batchSize });

/**
 * Node n1's poll loop (version "t", echoing tasks, a silent log, 1 s waits) through `client` until `signal`
 * aborts; `options` replace any of these.
 */
/** The shared poll loop as n1 (test/support/poll-node.ts), answering with `echo` unless told otherwise. */
function pollAsN1(
  client: ResearcherClient,
  researcherUrl: string,
  signal: AbortSignal,
  options: Partial<PollLoopOptions> = {},
): Promise<void> {
  return pollAs(client, researcherUrl, signal, { execute: echo, ...options });
}

describe("researcher service (in-memory transport)", () => {
  it("hands a queued task to the polling node and resolves with its reply", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const client = memoryClient(hub);
    const stop = new AbortController();
    const loop = pollAsN1(client, "mem", stop.signal);
    await until(() => hub.nodes().some((n) => n.nodeId === "n1" && n.online), "n1 to poll");
    const reply = await hub.send("n1", { kind: "ping" }, { timeoutMs: DEADLINE_MS });
    assert.deepEqual(reply, { kind: "ping", version: "t", backend: "cpu" });
    stop.abort();
    await loop;
    hub.close();
  });

  it("fails a task that cannot be encoded (batch size beyond uint32) at once instead of resending it", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const client = memoryClient(hub);
    const stop = new AbortController();
    let executed = 0;
    const lines: string[] = [];
    const loop = pollAsN1(client, "mem", stop.signal, {
      log: (l) => lines.push(l),
      backoff: { initialMs: 5, maxMs: 10 },
      execute: async (t, c) => {
        executed++;
        return echo(t, c);
      },
    });
    await until(() => hub.nodes().some((n) => n.nodeId === "n1" && n.online), "n1 to poll");
    await assert.rejects(
      hub.send("n1", trainBody(1e15), { timeoutMs: DEADLINE_MS }),
      (e) => e instanceof TaskFailure && e.reason === "unsendable_task" && /batch_size.*invalid uint32/.test(e.message),
    );
    assert.deepEqual(await hub.send("n1", { kind: "ping" }, { timeoutMs: DEADLINE_MS }), {
      kind: "ping",
      version: "t",
      backend: "cpu",
    });
    assert.equal(executed, 1, "only the ping ran");
    assert.ok(lines.filter((l) => l.includes("not reachable")).length <= 1, lines.join("\n"));
    stop.abort();
    await loop;
    hub.close();
  });

  it("carries task after task to a polling node in one kept-open call (nodes without sessions)", async () => {
    const hub = createHub({ pollWindowMs: DEADLINE_MS });
    const service = createResearcherService(hub);
    let calls = 0;
    const counted: typeof service = {
      ...service,
      getTask: (req, ctx) => {
        calls++;
        return service.getTask(req, ctx);
      },
    };
    const client = createResearcherClient(
      createRouterTransport(({ service: route }) => route(ResearcherService, counted)),
    );
    const stop = new AbortController();
    const loop = pollAsN1(client, "mem", stop.signal, {
      waitSeconds: DEADLINE_MS / 1000,
      sessions: false,
    });
    try {
      await until(() => hub.nodes().some((n) => n.nodeId === "n1" && n.online), "n1 to poll");
      for (let i = 0; i < 5; i++) {
        // Queued back to back, within the window: each goes down the same call.
        const reply = await hub.send("n1", trainBody(8, i + 1), { timeoutMs: DEADLINE_MS });
        assert.equal(reply.kind === "train" && reply.result.params[0].data.length, i + 1);
      }
      assert.equal(calls, 1, "five tasks, one call");
      // A task of more than 1 MiB of parameters ends the call: the node polls again for the next one.
      for (let i = 0; i < 2; i++) {
        const reply = await hub.send("n1", trainBody(8, 300_000), { timeoutMs: DEADLINE_MS });
        assert.equal(reply.kind, "train");
      }
      await until(() => calls === 3, "the node to poll again after the second large task ended its call");
    } finally {
      stop.abort();
      await loop;
      hub.close();
    }
  });

  it("gives up on a kept-open call when the researcher stops sending while the node waits", async () => {
    const silent = createRouterTransport(({ service }) =>
      service(ResearcherService, {
        async *getTask(_req, ctx) {
          yield pollAccepted();
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve)); // then nothing
        },
      }),
    );
    const tasks = createResearcherClient(silent).tasks(hello("n1"), { silentMs: 200 });
    await assert.rejects(tasks.next(), /sent nothing for 0.2 s/);
  });

  it("counts only the node's waits as silence: chunks steadily under the limit and a slow reader keep the call", async () => {
    const silentMs = 400;
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const steady = createRouterTransport(({ service }) =>
      service(ResearcherService, {
        async *getTask(_req, ctx) {
          yield pollAccepted();
          // 800 ms of keep-alives 100 ms apart: twice the limit in all, each gap a quarter of it.
          for (let i = 0; i < 8; i++) {
            await sleep(100);
            yield taskEnd();
          }
          for (const chunk of encodeTask({ taskId: "t1", experiment: "e", body: { kind: "ping" } })) yield chunk;
          for (const chunk of encodeTask({ taskId: "t2", experiment: "e", body: { kind: "ping" } })) yield chunk;
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve)); // then nothing
        },
      }),
    );
    const tasks = createResearcherClient(steady).tasks(hello("n1"), { silentMs });
    assert.equal((await tasks.next()).value?.taskId, "t1");
    await sleep(1.5 * silentMs); // the node busy with its task: not silence, and t2 is there already
    assert.equal((await tasks.next()).value?.taskId, "t2");
    const started = performance.now();
    await assert.rejects(tasks.next(), /sent nothing for 0.4 s/);
    assert.ok(performance.now() - started >= silentMs - 5, "the silence is counted from the wait's start");
  });

  it("ends an idle poll empty when the window passes", async () => {
    const hub = createHub({ pollWindowMs: 50 });
    const client = memoryClient(hub);
    assert.equal(await client.getTask(hello("n1"), {}), undefined);
    hub.close();
  });

  it("refuses a second process claiming a connected node id", async () => {
    const hub = createHub({ pollWindowMs: 200, lostAfterMs: DEADLINE_MS });
    const client = memoryClient(hub);
    const first = client.getTask(hello("n1", "a"), {});
    await assert.rejects(
      client.getTask(hello("n1", "b"), {}),
      (e) => e instanceof ConnectError && e.code === Code.AlreadyExists && /another process/.test(e.message),
    );
    await first;
    hub.close();
  });

  it("rejects replies for unknown tasks, another node's task, and duplicates", async () => {
    const hub = createHub({ pollWindowMs: DEADLINE_MS });
    const client = memoryClient(hub);
    const body: ReplyBody = { kind: "ping", version: "t", backend: "cpu" };
    await assert.rejects(
      client.reply({ taskId: "nope", nodeId: "n1", body }),
      (e) => e instanceof ConnectError && e.code === Code.NotFound,
    );

    const polled = client.getTask(hello("n1"), {});
    await until(() => hub.nodes().length === 1, "n1 to poll");
    const pending = hub.send("n1", { kind: "ping" });
    const task = await polled;
    assert.ok(task);
    await assert.rejects(
      client.reply({ taskId: task.taskId, nodeId: "n2", body }),
      (e) => e instanceof ConnectError && e.code === Code.PermissionDenied,
    );
    await client.reply({ taskId: task.taskId, nodeId: "n1", body });
    assert.deepEqual(await pending, body);
    await assert.rejects(
      client.reply({ taskId: task.taskId, nodeId: "n1", body }),
      (e) => e instanceof ConnectError && e.code === Code.AlreadyExists,
    );
    hub.close();
  });

  it("keeps a node that is busy with a long task alive through heartbeats", async () => {
    // The hub's clock moves 300 ms per heartbeat the node sends: five heartbeats make a task of 1.5 s,
    // almost four times the 400 ms after which a silent node is lost. The task ends after the fifth.
    let clock = 0;
    const hub = createHub({ pollWindowMs: 50, lostAfterMs: 400, now: () => clock });
    const client = memoryClient(hub);
    const stop = new AbortController();
    let heartbeats = 0;
    let finish = () => {};
    hub.on("feedback", (f) => {
      if (f.body.kind !== "heartbeat") return;
      clock += 300;
      if (++heartbeats === 5) finish();
    });
    const slow: TaskExecutor = async () => {
      await new Promise<void>((done) => (finish = done));
      return { kind: "ping", version: "t", backend: "cpu" };
    };
    const loop = pollAsN1(client, "mem", stop.signal, {
      execute: slow,
      heartbeatMs: 40,
    });
    try {
      await until(() => hub.nodes().some((n) => n.online), "n1 to poll");
      const lost: string[] = [];
      hub.on("node", (e) => e.state === "lost" && lost.push(e.node.nodeId));
      assert.equal((await hub.send("n1", { kind: "ping" }, { timeoutMs: DEADLINE_MS })).kind, "ping");
      assert.ok(clock >= 1500, `the task took ${clock} ms of the hub's time`);
      assert.deepEqual(lost, []);
    } finally {
      stop.abort();
      hub.close();
      await loop;
    }
  });

  it("answers the feedback of a task the researcher stopped awaiting with cancel, and the node stops it", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const client = memoryClient(hub);
    const stop = new AbortController();
    const lines: string[] = [];
    let started = () => {};
    const running = new Promise<void>((done) => (started = done));
    // Runs until its signal aborts, as the training loop does.
    const endless: TaskExecutor = async (_task, context) => {
      started();
      await new Promise((done) => context.signal.addEventListener("abort", done, { once: true }));
      return { kind: "error", code: "task_cancelled", message: String(context.signal.reason) };
    };
    const loop = pollAsN1(client, "mem", stop.signal, {
      execute: endless,
      log: (line) => lines.push(line),
      heartbeatMs: 20,
    });
    try {
      await until(() => hub.nodes().some((n) => n.online), "n1 to poll");
      const run = new AbortController();
      const sent = hub.send("n1", { kind: "ping" }, { signal: run.signal }).catch((e: unknown) => e);
      await running;
      run.abort(); // the researcher's Ctrl-C
      assert.ok((await sent) instanceof TaskFailure);
      await until(() => lines.some((l) => l.includes("cancelled by the researcher")), "the node to cancel the task");
      assert.deepEqual(
        lines.filter((l) => /cancel|failed|Could not/.test(l)).map((l) => l.replace(/^Task \S+/, "Task ID")),
        ["Task ID (ping) cancelled by the researcher; polling for the next task"],
      );
    } finally {
      stop.abort();
      hub.close();
      await loop;
    }
  });

  it("fails a node's outstanding task as soon as the node is lost", async () => {
    const hub = createHub({ pollWindowMs: 20, lostAfterMs: 100 });
    const client = memoryClient(hub);
    const polled = client.getTask(hello("n1"), {});
    await until(() => hub.nodes().length === 1, "n1 to poll");
    const pending = hub.send("n1", { kind: "ping" });
    await polled; // the node took the task and then went silent
    await assert.rejects(pending, (e) => e instanceof TaskFailure && e.reason === "node_lost");
    assert.equal(hub.nodes()[0].online, false);
    hub.close();
  });
});

describe("researcher server (real HTTP/2 on port 0)", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** A server for `hub` on a free loopback port, closed after the tests, and a client of it. */
  async function serve(
    hub: ServerOptions["hub"],
    options: Partial<ServerOptions> = {},
  ): Promise<{ server: ResearcherServer; client: ResearcherClient }> {
    const server = await startServer({ listen: "127.0.0.1:0", hub, allowUnsignedNodes: true, ...options });
    cleanups.push(() => server.close());
    return { server, client: createResearcherClient(createGrpcTransport({ baseUrl: server.url })) };
  }

  it("a node that cannot read a task (parameters over its limit) answers it with an error reply", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const { client } = await serve(hub);
    const stop = new AbortController();
    let executed = 0;
    const loop = pollAsN1(client, "mem", stop.signal, {
      maxParamBytes: 64,
      execute: async (t, c) => {
        executed++;
        return echo(t, c);
      },
    });
    await until(() => hub.nodes().some((n) => n.nodeId === "n1" && n.online), "n1 to poll");
    const reply = await hub.send("n1", trainBody(8, 1000), { timeoutMs: DEADLINE_MS });
    assert.equal(reply.kind, "error");
    if (reply.kind === "error") {
      assert.equal(reply.code, "invalid_input");
      assert.match(
        reply.message,
        /^Cannot read the task: Parameters of 4000 bytes exceed the limit of 64 bytes \(.*fbm-node config set max_params N/,
      );
    }
    assert.equal(executed, 0);
    stop.abort();
    await loop;
    hub.close();
  });

  it("streams a multi-chunk train task out and the node's parameters back", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const { server, client } = await serve(hub);
    const stop = new AbortController();
    const loop = pollAsN1(client, server.url, stop.signal);
    await until(() => hub.nodes().some((n) => n.online), "n1 to poll");
    const big = new Float32Array(700_000).map((_, i) => i % 1000);
    const reply = await hub.send(
      "n1",
      { ...trainBody(1), params: [{ name: "w", shape: [700, 1000], dtype: "float32", data: big }] },
      { timeoutMs: DEADLINE_MS },
    );
    assert.equal(reply.kind, "train");
    if (reply.kind !== "train") return;
    const back = reply.result.params[0].data;
    assert.equal(back.length, big.length);
    assert.equal(back[123_456], (123_456 % 1000) * 2);
    stop.abort();
    await loop;
  });

  it("stops a Session reply waiting for room when its task times out, and serves the node on", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const transfers = createTransferBudget(1024);
    const { server, client } = await serve(hub, { transfers });
    const stop = new AbortController();
    const loop = pollAsN1(client, server.url, stop.signal);
    await until(() => hub.nodes().some((n) => n.online), "n1 to poll");
    const held = await transfers.acquire(1024); // no room: the reply (4,000 bytes) waits
    const timedOut = hub.send("n1", trainBody(1, 1000), { timeoutMs: 1500 });
    await until(() => transfers.waiting === 1, "the reply to wait for room");
    await assert.rejects(timedOut, (e: unknown) => e instanceof TaskFailure && e.reason === "timeout");
    await until(() => transfers.waiting === 0, "the settled task's reply to stop waiting");
    held();
    assert.equal(transfers.inFlight, 0);
    // The node's session was cancelled with its task; it reconnects and answers the next one.
    assert.deepEqual(await hub.send("n1", { kind: "ping" }, { timeoutMs: DEADLINE_MS }), {
      kind: "ping",
      version: "t",
      backend: "cpu",
    });
    stop.abort();
    await loop;
  });

  it("lets a node that started first connect once the researcher is up, logging the outage once", async () => {
    // A poll window longer than the test's deadline: "Connected" must come when the poll opens, not when it ends.
    const hub = createHub({ pollWindowMs: 10 * DEADLINE_MS });
    // Reserve a free port, then release it so the node sees "connection refused" first.
    const probe = await startServer({ listen: "127.0.0.1:0", hub: createHub() });
    const port = probe.port;
    await probe.close();
    const url = `http://127.0.0.1:${port}`;
    const lines: string[] = [];
    const stop = new AbortController();
    const client = createResearcherClient(createGrpcTransport({ baseUrl: url }));
    const loop = pollAsN1(client, url, stop.signal, {
      log: (l) => lines.push(l),
      waitSeconds: (10 * DEADLINE_MS) / 1000,
      backoff: { initialMs: 20, maxMs: 80 },
    });
    await until(() => lines.some((l) => l.includes("not reachable")), "the node to find the researcher unreachable");
    const server = await startServer({ listen: `127.0.0.1:${port}`, hub, allowUnsignedNodes: true });
    cleanups.push(() => server.close());
    await until(() => hub.nodes().some((n) => n.online), "n1 to poll");
    await until(() => lines.some((l) => l.startsWith("Connected")), "the node to say it connected");
    stop.abort();
    await loop;
    assert.equal(lines.filter((l) => l.includes("not reachable")).length, 1, lines.join("\n"));
    assert.equal(lines.filter((l) => l.startsWith("Connected")).length, 1);
  });
});

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createHub } from "../../../src/researcher/server/hub.js";
import { createResearcherService } from "../../../src/researcher/server/service.js";
import { startServer } from "../../../src/researcher/server/server.js";
import { TaskFailure } from "../../../src/researcher/server/hub-error.js";
import { runPollLoop, type TaskExecutor } from "../../../src/node/poll-loop.js";
import { createResearcherClient, ResearcherService, type ReplyBody } from "../../../src/wire/index.js";

const hello = (nodeId: string, sessionId = "s1") => ({ nodeId, name: nodeId, sessionId, version: "t", waitSeconds: 5 });

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
        sampleCount: 10, trainLoss: 0.1, seconds: 0,
      },
    };
  }
  return { kind: "ping", version: "t", backend: "cpu" };
};

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("researcher service (in-memory transport)", () => {
  it("hands a queued task to the polling node and resolves with its reply", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const client = memoryClient(hub);
    const stop = new AbortController();
    const loop = runPollLoop({ client, researcherUrl: "mem", nodeId: "n1", name: "n1", version: "t", execute: echo, signal: stop.signal, log: () => {} , waitSeconds: 1 });
    await until(() => hub.nodes().some((n) => n.nodeId === "n1" && n.online));
    const reply = await hub.send("n1", { kind: "ping" }, { timeoutMs: 5000 });
    assert.deepEqual(reply, { kind: "ping", version: "t", backend: "cpu" });
    stop.abort();
    await loop;
    hub.close();
  });

  it("ends an idle poll empty when the window passes", async () => {
    const hub = createHub({ pollWindowMs: 50 });
    const client = memoryClient(hub);
    assert.equal(await client.getTask(hello("n1"), {}), undefined);
    hub.close();
  });

  it("refuses a second process claiming a connected node id", async () => {
    const hub = createHub({ pollWindowMs: 200 });
    const client = memoryClient(hub);
    const first = client.getTask(hello("n1", "a"), {});
    await assert.rejects(client.getTask(hello("n1", "b"), {}), (e) => e instanceof ConnectError && e.code === Code.AlreadyExists && /another process/.test(e.message));
    await first;
    hub.close();
  });

  it("rejects replies for unknown tasks, another node's task, and duplicates", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const client = memoryClient(hub);
    const body: ReplyBody = { kind: "ping", version: "t", backend: "cpu" };
    await assert.rejects(client.reply({ taskId: "nope", nodeId: "n1", body }), (e) => e instanceof ConnectError && e.code === Code.NotFound);

    const polled = client.getTask(hello("n1"), {});
    await until(() => hub.nodes().length === 1);
    const pending = hub.send("n1", { kind: "ping" });
    const task = await polled;
    assert.ok(task);
    await assert.rejects(client.reply({ taskId: task.taskId, nodeId: "n2", body }), (e) => e instanceof ConnectError && e.code === Code.PermissionDenied);
    await client.reply({ taskId: task.taskId, nodeId: "n1", body });
    assert.deepEqual(await pending, body);
    await assert.rejects(client.reply({ taskId: task.taskId, nodeId: "n1", body }), (e) => e instanceof ConnectError && e.code === Code.AlreadyExists);
    hub.close();
  });

  it("keeps a node that is busy with a long task alive through heartbeats", async () => {
    const hub = createHub({ pollWindowMs: 50, lostAfterMs: 400 });
    const client = memoryClient(hub);
    const stop = new AbortController();
    const slow: TaskExecutor = async () => {
      await new Promise((r) => setTimeout(r, 1500)); // almost four times the loss timeout
      return { kind: "ping", version: "t", backend: "cpu" };
    };
    const loop = runPollLoop({ client, researcherUrl: "mem", nodeId: "n1", name: "n1", version: "t", execute: slow, signal: stop.signal, log: () => {}, waitSeconds: 1, heartbeatMs: 40 });
    try {
      await until(() => hub.nodes().some((n) => n.online));
      const lost: string[] = [];
      hub.on("node", (e) => e.state === "lost" && lost.push(e.node.nodeId));
      assert.equal((await hub.send("n1", { kind: "ping" }, { timeoutMs: 5000 })).kind, "ping");
      assert.deepEqual(lost, []);
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
    await until(() => hub.nodes().length === 1);
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

  it("streams a multi-chunk train task out and the node's parameters back", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const server = await startServer({ listen: "127.0.0.1:0", hub });
    cleanups.push(() => server.close());
    const client = createResearcherClient(createGrpcTransport({ baseUrl: server.url }));
    const stop = new AbortController();
    const loop = runPollLoop({ client, researcherUrl: server.url, nodeId: "n1", name: "n1", version: "t", execute: echo, signal: stop.signal, log: () => {}, waitSeconds: 1 });
    await until(() => hub.nodes().some((n) => n.online));
    const big = new Float32Array(700_000).map((_, i) => i % 1000);
    const reply = await hub.send("n1", {
      kind: "train", datasetId: "d", planId: "p", planJson: "{}", round: 1,
      args: { epochs: 1, updates: 0, batchSize: 1, testRatio: 0, testOnGlobal: false, testOnLocal: false, metrics: [], seed: 0, fedproxMu: 0 },
      params: [{ name: "w", shape: [700, 1000], dtype: "float32", data: big }],
    }, { timeoutMs: 20_000 });
    assert.equal(reply.kind, "train");
    if (reply.kind !== "train") return;
    const back = reply.result.params[0].data;
    assert.equal(back.length, big.length);
    assert.equal(back[123_456], (123_456 % 1000) * 2);
    stop.abort();
    await loop;
  });

  it("lets a node that started first connect once the researcher is up, logging the outage once", async () => {
    const hub = createHub({ pollWindowMs: 5000 });
    // Reserve a free port, then release it so the node sees "connection refused" first.
    const probe = await startServer({ listen: "127.0.0.1:0", hub: createHub() });
    const port = probe.port;
    await probe.close();
    const url = `http://127.0.0.1:${port}`;
    const lines: string[] = [];
    const stop = new AbortController();
    const client = createResearcherClient(createGrpcTransport({ baseUrl: url }));
    const loop = runPollLoop({
      client, researcherUrl: url, nodeId: "n1", name: "n1", version: "t", execute: echo, signal: stop.signal,
      log: (l) => lines.push(l), waitSeconds: 5, backoff: { initialMs: 20, maxMs: 80 },
    });
    await new Promise((r) => setTimeout(r, 400));
    const server = await startServer({ listen: `127.0.0.1:${port}`, hub });
    cleanups.push(() => server.close());
    await until(() => hub.nodes().some((n) => n.online));
    await until(() => lines.some((l) => l.startsWith("Connected")), 4500); // before the 5 s poll window ends
    stop.abort();
    await loop;
    assert.equal(lines.filter((l) => l.includes("not reachable")).length, 1, lines.join("\n"));
    assert.equal(lines.filter((l) => l.startsWith("Connected")).length, 1);
  });
});

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Code, ConnectError, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { generateKeyPair } from "../../../src/common/certificates.js";
import { ResearcherService } from "../../../src/gen/fbm/v1/researcher_pb.js";
import { runPollLoop, type TaskExecutor } from "../../../src/node/serve/poll-loop.js";
import { createHub, type Hub } from "../../../src/researcher/server/hub.js";
import { startServer } from "../../../src/researcher/server/server.js";
import { createResearcherService } from "../../../src/researcher/server/service.js";
import { createResearcherClient, type ResearcherClient, signingInterceptor } from "../../../src/wire/index.js";
import { bareTrainTask, vectorTensor } from "../../support/train-task.js";
import { DEADLINE_MS, until } from "../../support/wait.js";

/**
 * Issue 29: a node's tasks and replies on one Session call. Real HTTP/2 on port 0, signed calls (the
 * interceptor fbm-node uses), the real poll loop. Calls are counted on the node's side, as sent.
 */

/** Counts the calls a client makes, by method name. */
function counting(calls: Map<string, number>): Interceptor {
  return (next) => async (req) => {
    calls.set(req.method.name, (calls.get(req.method.name) ?? 0) + 1);
    return next(req);
  };
}

/** Sends back the parameters it got, each value + 1 (so the reply is the node's, not the task echoed). */
const plusOne: TaskExecutor = async (task) => {
  if (task.body.kind !== "train") return { kind: "ping", version: "t", backend: "cpu" };
  return {
    kind: "train",
    result: {
      params: task.body.params.map((p) => ({ ...p, data: (p.data as Float32Array).map((v) => v + 1) })),
      sampleCount: 10,
      trainLoss: 0.1,
      seconds: 0,
    },
  };
};

const trainBody = (values: number, round: number) =>
  bareTrainTask([vectorTensor(new Float32Array(values).fill(round))], { round, batchSize: 8 });

describe("Session: replies on the node's kept-open call", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** A signed node on its own transport; `sessions` as the poll loop takes it. */
  async function signedNode(url: string, nodeId: string, sessions: boolean, lines: string[] = []) {
    const pair = await generateKeyPair({ commonName: nodeId });
    const sessionId = `${nodeId}-session`;
    const calls = new Map<string, number>();
    const signer = signingInterceptor({ nodeId, sessionId, certPem: pair.cert, keyPem: pair.key });
    const client = createResearcherClient(
      createGrpcTransport({ baseUrl: url, interceptors: [signer, counting(calls)] }),
    );
    startLoop(client, url, nodeId, sessionId, sessions, lines);
    return calls;
  }

  function startLoop(
    client: ResearcherClient,
    url: string,
    nodeId: string,
    sessionId: string,
    sessions: boolean,
    lines: string[],
  ) {
    const stop = new AbortController();
    const loop = runPollLoop({
      client,
      researcherUrl: url,
      nodeId,
      name: nodeId,
      version: "t",
      sessionId,
      signal: stop.signal,
      log: (line) => lines.push(line),
      waitSeconds: 1,
      sessions,
      execute: plusOne,
    });
    cleanups.push(async () => {
      stop.abort();
      await loop;
    });
  }

  async function online(hub: Hub, ...ids: string[]) {
    await until(() => ids.every((id) => hub.node(id)?.online), `${ids.join(", ")} to connect`);
  }

  it("serves a node with a Session and one with GetTask/ReplyTask in the same rounds, signed", async () => {
    // A poll window of 200 ms: the session must outlive many windows (its keep-alive chunks).
    const hub = createHub({ pollWindowMs: 200 });
    const server = await startServer({ listen: "127.0.0.1:0", hub });
    cleanups.push(() => server.close());
    const fresh = await signedNode(server.url, "new-node", true);
    const old = await signedNode(server.url, "old-node", false);
    await online(hub, "new-node", "old-node");
    // Multi-chunk tasks (2 MiB of parameters) and small ones, rounds apart by more than a poll window.
    for (const [round, values] of [
      [1, 16],
      [2, 600_000],
      [3, 16],
    ]) {
      const replies = await Promise.all(
        ["new-node", "old-node"].map((id) => hub.send(id, trainBody(values, round), { timeoutMs: DEADLINE_MS })),
      );
      for (const reply of replies) {
        assert.equal(reply.kind, "train");
        if (reply.kind !== "train") return;
        const data = reply.result.params[0].data as Float32Array;
        assert.equal(data.length, values);
        assert.equal(data[0], round + 1);
        assert.equal(data[values - 1], round + 1);
      }
      await new Promise((resolve) => setTimeout(resolve, 300).unref());
    }
    assert.equal(fresh.get("Session"), 1, "the new node: one Session for three rounds");
    assert.equal(fresh.get("ReplyTask") ?? 0, 0, "the new node: no reply calls");
    assert.equal(fresh.get("GetTask") ?? 0, 0);
    assert.equal(old.get("Session") ?? 0, 0, "the old node never opens a Session");
    assert.equal(old.get("ReplyTask"), 3, "the old node: one reply call per task");
  });

  it("falls back to GetTask/ReplyTask when the researcher does not serve Session", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    cleanups.push(() => hub.close());
    // A researcher of before Session: Connect answers its calls with Unimplemented.
    const { session: _, ...older } = createResearcherService(hub);
    const calls = new Map<string, number>();
    const client = createResearcherClient(
      createRouterTransport(({ service }) => service(ResearcherService, older), {
        transport: { interceptors: [counting(calls)] },
      }),
    );
    const lines: string[] = [];
    startLoop(client, "mem", "n1", "s1", true, lines);
    await online(hub, "n1");
    const reply = await hub.send("n1", trainBody(4, 1), { timeoutMs: DEADLINE_MS });
    assert.equal(reply.kind, "train");
    assert.equal(calls.get("Session"), 1);
    assert.equal(calls.get("ReplyTask"), 1);
    assert.ok(
      lines.some((l) => l.includes("does not serve sessions")),
      lines.join("\n"),
    );
  });

  it("refuses a Session whose hello is not signed by its node, and one replayed with captured headers", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const server = await startServer({ listen: "127.0.0.1:0", hub });
    cleanups.push(() => server.close());
    // Unsigned: refused on a researcher that requires signatures.
    const unsigned = createClient(ResearcherService, createGrpcTransport({ baseUrl: server.url }));
    const hello = { part: { case: "hello" as const, value: { nodeId: "n9", sessionId: "s9", version: "t" } } };
    await assert.rejects(
      async () => {
        for await (const _ of unsigned.session(
          (async function* () {
            yield hello;
          })(),
        )) {
          /* no task may come */
        }
      },
      (error: unknown) => error instanceof ConnectError && error.code === Code.Unauthenticated,
    );
    // Signed, then replayed with the same headers: the nonce was used.
    const pair = await generateKeyPair({ commonName: "n9" });
    const signer = signingInterceptor({ nodeId: "n9", sessionId: "s9", certPem: pair.cert, keyPem: pair.key });
    const captured = new Headers();
    const capture: Interceptor = (next) => async (req) => {
      req.header.forEach((value, name) => {
        captured.set(name, value);
      });
      return next(req);
    };
    const signed = createClient(
      ResearcherService,
      createGrpcTransport({ baseUrl: server.url, interceptors: [signer, capture] }),
    );
    const first = new AbortController();
    for await (const chunk of signed.session(
      (async function* () {
        yield hello;
      })(),
      { signal: first.signal },
    )) {
      assert.equal(chunk.part.case, undefined, "the session opens with an empty chunk");
      break;
    }
    first.abort();
    const replaying: Interceptor = (next) => async (req) => {
      captured.forEach((value, name) => {
        if (name.startsWith("fbm-")) req.header.set(name, value);
      });
      return next(req);
    };
    const attacker = createClient(
      ResearcherService,
      createGrpcTransport({ baseUrl: server.url, interceptors: [replaying] }),
    );
    await assert.rejects(
      async () => {
        for await (const _ of attacker.session(
          (async function* () {
            yield hello;
          })(),
        )) {
          /* nothing may come */
        }
      },
      (error: unknown) => error instanceof ConnectError && /nonce was already used/.test(error.rawMessage),
    );
  });
});

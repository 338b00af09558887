import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { generateKeyPair } from "../../../src/common/certificates.js";
import { DatasetInfoSchema, type ReplyChunkSchema, ResearcherService } from "../../../src/gen/fbm/v1/researcher_pb.js";
import { runPollLoop } from "../../../src/node/serve/poll-loop.js";
import { createHub } from "../../../src/researcher/server/hub.js";
import { startServer } from "../../../src/researcher/server/server.js";
import { createResearcherClient, type ReplyBody, signingInterceptor } from "../../../src/wire/index.js";
import { until } from "../../support/wait.js";

/**
 * The attacker of issue 26: it sees a node's cleartext calls (headers and bodies) and replays or
 * re-points them without the node's key. Real HTTP/2 server on port 0; the node's calls are signed by
 * the same interceptor fbm-node uses, and a capture interceptor after it records what went on the wire.
 */

interface Captured {
  procedure: string;
  header: Headers;
  messages: unknown[];
}

/** Records each call's headers and request messages as sent (after signing), passing them on. */
function capturing(calls: Captured[]): Interceptor {
  return (next) => async (req) => {
    const record: Captured = { procedure: req.method.name, header: new Headers(req.header), messages: [] };
    calls.push(record);
    if (!req.stream) {
      record.messages.push(req.message);
      return next(req);
    }
    const source = req.message;
    return next({
      ...req,
      message: (async function* () {
        for await (const m of source) {
          record.messages.push(m);
          yield m;
        }
      })(),
    });
  };
}

/** A keyless client that sends the captured headers verbatim. */
function replaying(header: Headers): Interceptor {
  return (next) => async (req) => {
    header.forEach((value, name) => {
      if (name.startsWith("fbm-")) req.header.set(name, value);
    });
    return next(req);
  };
}

async function* streamOf<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

describe("signed calls cannot be replayed or re-pointed (cleartext)", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function federation() {
    const hub = createHub({ pollWindowMs: 1000 });
    const server = await startServer({ listen: "127.0.0.1:0", hub });
    cleanups.push(() => server.close());
    cleanups.push(() => hub.close());
    const pair = await generateKeyPair({ commonName: "site-a" });
    const calls: Captured[] = [];
    const signer = signingInterceptor({ nodeId: "n1", sessionId: "s1", certPem: pair.cert, keyPem: pair.key });
    const client = createResearcherClient(
      createGrpcTransport({ baseUrl: server.url, interceptors: [signer, capturing(calls)] }),
    );
    const stop = new AbortController();
    const loop = runPollLoop({
      client,
      researcherUrl: server.url,
      nodeId: "n1",
      name: "site-a",
      version: "t",
      sessionId: "s1",
      signal: stop.signal,
      log: () => {},
      waitSeconds: 1,
      sessions: false, // these captures are of GetTask and ReplyTask calls (session.test.ts: of a Session)
      execute: async (): Promise<ReplyBody> => ({ kind: "datasets", datasets: [] }),
    });
    cleanups.push(async () => {
      stop.abort();
      await loop;
    });
    await until(() => hub.nodes().some((n) => n.nodeId === "n1" && n.online), "the node to poll");
    return { hub, server, calls };
  }

  it("refuses a poll replayed with a node's captured headers and request", async () => {
    const { server, calls } = await federation();
    const poll = calls.find((c) => c.procedure === "GetTask");
    assert.ok(poll, "a poll was captured");
    const attacker = createClient(
      ResearcherService,
      createGrpcTransport({ baseUrl: server.url, interceptors: [replaying(poll.header)] }),
    );
    await assert.rejects(
      async () => {
        for await (const _ of attacker.getTask(poll.messages[0] as never)) {
          // an accepted replay would stream here
        }
      },
      (e) => e instanceof ConnectError && e.code === Code.Unauthenticated && /nonce was already used/.test(e.message),
    );
  });

  it("refuses a reply forged under a captured ReplyTask's headers, and a re-pointed body under a live call's seal", async () => {
    const { hub, server, calls } = await federation();
    assert.deepEqual(await hub.send("n1", { kind: "search", tags: [] }, { timeoutMs: 60_000 }), {
      kind: "datasets",
      datasets: [],
    });
    const reply = calls.find((c) => c.procedure === "ReplyTask");
    assert.ok(reply, "a reply was captured");
    const [head, ...rest] = reply.messages as ReturnType<typeof create<typeof ReplyChunkSchema>>[];
    assert.equal(head.part.case, "reply");
    assert.equal(rest.at(-1)?.part.case, "seal", "the node sealed its reply");

    // A second task is pending: the forged reply names it and injects a dataset.
    const pending = hub.send("n1", { kind: "search", tags: [] }, { timeoutMs: 60_000 });
    await until(() => calls.filter((c) => c.procedure === "ReplyTask").length === 2, "the second reply");
    await pending;
    const forgedHead = structuredClone(head);
    if (forgedHead.part.case === "reply") forgedHead.part.value.taskId = "task-injected";
    const attacker = createClient(
      ResearcherService,
      createGrpcTransport({ baseUrl: server.url, interceptors: [replaying(reply.header)] }),
    );
    await assert.rejects(
      attacker.replyTask(streamOf([forgedHead, ...rest])),
      (e) => e instanceof ConnectError && e.code === Code.Unauthenticated && /nonce was already used/.test(e.message),
    );

    // A live call whose body is swapped on the way (fresh nonce, the node's seal kept): the seal fails.
    const tampering: Interceptor = (next) => async (req) => {
      if (req.method.name !== "ReplyTask" || !req.stream) return next(req);
      const source = req.message as AsyncIterable<ReturnType<typeof create<typeof ReplyChunkSchema>>>;
      return next({
        ...req,
        message: (async function* () {
          for await (const chunk of source) {
            if (chunk.part.case === "reply" && chunk.part.value.kind.case === "datasets") {
              chunk.part.value.kind.value.datasets.push(create(DatasetInfoSchema, { id: "ds_x", name: "INJECTED" }));
            }
            yield chunk;
          }
        })(),
      });
    };
    const pair = await generateKeyPair({ commonName: "site-b" });
    const signer = signingInterceptor({ nodeId: "n2", sessionId: "s2", certPem: pair.cert, keyPem: pair.key });
    const tampered = createResearcherClient(
      createGrpcTransport({ baseUrl: server.url, interceptors: [signer, tampering] }),
    );
    const stop = new AbortController();
    const loop = runPollLoop({
      client: tampered,
      researcherUrl: server.url,
      nodeId: "n2",
      name: "site-b",
      version: "t",
      sessionId: "s2",
      signal: stop.signal,
      log: () => {},
      waitSeconds: 1,
      sessions: false, // these captures are of GetTask and ReplyTask calls (session.test.ts: of a Session)
      execute: async (): Promise<ReplyBody> => ({ kind: "datasets", datasets: [] }),
    });
    cleanups.push(async () => {
      stop.abort();
      await loop;
    });
    await until(() => hub.nodes().some((n) => n.nodeId === "n2" && n.online), "the second node to poll");
    await assert.rejects(hub.send("n2", { kind: "search", tags: [] }, { timeoutMs: 60_000 }), (e: Error) =>
      /seal does not sign what it carried/.test(e.message),
    );
  });
});

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ReplyChunkSchema } from "../../src/gen/fbm/v1/researcher_pb.js";
import { createNodeTransport } from "../../src/node/serve/transport.js";
import { createHub, type Hub } from "../../src/researcher/server/hub.js";
import { type ResearcherServer, startServer } from "../../src/researcher/server/server.js";
import {
  createResearcherClient,
  type ReplyBody,
  type ResearcherClient,
  replyChunkFrame,
  type TaskBody,
} from "../../src/wire/index.js";
import { bareTrainTask, vectorTensor } from "../support/train-task.js";
import { DEADLINE_MS } from "../support/wait.js";

/**
 * The node's reply upload (wire/reply-upload.ts) against a real researcher over h2c on loopback, through
 * the node's own transport: signed calls, the seal over every chunk checked by the researcher.
 */

const root = mkdtempSync(join(tmpdir(), "fbm-reply-upload-"));
let hub: Hub;
let server: ResearcherServer;
let node: ResearcherClient;
const nodeId = "node_up";
const hello = { nodeId, name: nodeId, sessionId: "s-up", version: "t", waitSeconds: DEADLINE_MS / 1000 };

const tensor = (n: number, seed: number) => new Float32Array(n).map((_, i) => ((i * 7919 + seed) % 1000) / 7);
const task = (params: Float32Array): TaskBody => bareTrainTask([vectorTensor(params)]);

/** Sends a task to the node and hands the node's received copy to `answer`; resolves with the hub's reply. */
async function roundTrip(params: Float32Array, answer: (taskId: string, params: Float32Array) => Promise<void>) {
  const replied = hub.send(nodeId, task(params), { timeoutMs: DEADLINE_MS });
  const received = await node.getTask(hello, {});
  assert.ok(received && received.body.kind === "train");
  await answer(received.taskId, received.body.params[0].data as Float32Array);
  return replied;
}

const train = (params: Float32Array): ReplyBody => ({
  kind: "train",
  result: {
    params: [{ name: "w", shape: [params.length], dtype: "float32", data: params }],
    sampleCount: 3,
    trainLoss: 0.5,
    seconds: 0,
  },
});

before(async () => {
  hub = createHub({ pollWindowMs: DEADLINE_MS });
  server = await startServer({ listen: "127.0.0.1:0", hub }); // cleartext: signed calls required
  const transport = await createNodeTransport({
    url: server.url,
    homeDir: root,
    sessionId: hello.sessionId,
    config: { node_id: nodeId },
    log: () => {},
  });
  node = createResearcherClient(transport);
  // The first poll registers the node; it ends with the window (nothing is sent yet).
  await node.getTask({ ...hello, waitSeconds: 1 }, {});
});
after(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("the node's reply upload", () => {
  it("writes a data chunk as header bytes plus the chunk's own bytes, exactly the generated code's frame", () => {
    for (const size of [0, 127, 128, (1 << 20) - 64]) {
      const data = new Uint8Array(size).map((_, i) => i % 253);
      const chunk = create(ReplyChunkSchema, { part: { case: "data", value: data } });
      const frame = replyChunkFrame(chunk);
      assert.equal(frame.at(-1), data);
      const message = toBinary(ReplyChunkSchema, chunk);
      const joined = Buffer.concat(frame);
      assert.equal(joined.readUInt32BE(1), message.byteLength);
      assert.ok(joined.subarray(5).equals(message), `${size} bytes`);
    }
  });

  it("delivers a signed multi-chunk reply whole: the researcher checks its seal and gets every byte", async () => {
    const sent = tensor(1_300_000, 1); // ~5 MiB: several chunks, past one stream window
    const reply = await roundTrip(sent, (taskId, params) =>
      node.reply({ taskId, nodeId, body: train(params.map((v) => v * 2)) }),
    );
    assert.equal(reply.kind, "train");
    if (reply.kind !== "train") return;
    assert.equal(reply.result.sampleCount, 3);
    assert.deepEqual(
      reply.result.params[0].data,
      sent.map((v) => v * 2),
    );
  });

  it("passes the researcher's refusal on as its gRPC status", async () => {
    await assert.rejects(
      node.reply({ taskId: "no-such-task", nodeId, body: train(tensor(10, 2)) }),
      (e: unknown) => e instanceof ConnectError && e.code === Code.NotFound && /no-such-task|unknown/i.test(e.message),
    );
  });

  it("a reply aborted mid-stream fails on the node with Canceled and fails the task on the researcher", async () => {
    const abort = new AbortController();
    let upload: Promise<unknown> | undefined;
    const replied = roundTrip(tensor(8 << 20, 3), async (taskId, params) => {
      upload = node.reply({ taskId, nodeId, body: train(params) }, { signal: abort.signal }).then(
        () => undefined,
        (error: unknown) => error,
      );
      setImmediate(() => abort.abort()); // after the call started, long before 32 MiB are through
    });
    await assert.rejects(replied, /refused|cancel/i);
    const error = await upload;
    assert.ok(error instanceof ConnectError && error.code === Code.Canceled, String(error));
  });
});

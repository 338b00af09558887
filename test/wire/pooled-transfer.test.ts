import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { assembleInto, createBufferPool, createExperimentBuffers } from "../../src/wire/index.js";
import { pollAsN1, startLoopbackResearcher } from "../support/poll-node.js";
import { bareTrainTask, vectorTensor } from "../support/train-task.js";
import { DEADLINE_MS, until } from "../support/wait.js";

/**
 * Receive buffers kept between rounds (wire/buffer-pool.ts) over the real path the transfer bench
 * takes: a researcher server on port 0 in this process, a node's plain gRPC Session (the node's own
 * transport: frames parsed from the HTTP/2 stream) with the poll loop's `taskBuffers`, and replies
 * assembled with `assembleInto`. Each round's values differ everywhere, so a byte of an earlier round
 * left in a reused buffer shows.
 */
describe("pooled receive buffers over a real Session", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("reuses the node's task buffer and the researcher's reply buffer across rounds, each round with its own bytes", async () => {
    const { hub, server, client } = await startLoopbackResearcher(cleanups);
    const taskBuffers: ArrayBufferLike[] = [];
    const stop = new AbortController();
    const loop = pollAsN1(client, server.url, stop.signal, {
      sessions: true,
      taskBuffers: createExperimentBuffers(),
      // As the kernels path (and the transfer bench's echo node): the values copied into memory of its
      // own, the task's buffer given back there, the copy echoed.
      execute: async (task, context) => {
        if (task.body.kind !== "train") return { kind: "ping", version: "t", backend: "cpu" };
        taskBuffers.push(task.body.params[0].data.buffer);
        const params = task.body.params.map((p) => ({ ...p, data: p.data.slice() }));
        context.paramsCopied?.();
        return { kind: "train", result: { params, sampleCount: 1, trainLoss: 0, seconds: 0 } };
      },
    });
    cleanups.push(async () => {
      stop.abort();
      await loop;
    });
    await until(() => hub.node("n1")?.online === true, "the node to connect");

    const replies = createBufferPool();
    const values = 300_000; // 1.2 MiB: two chunks, many HTTP/2 pieces
    const replyBuffers: ArrayBufferLike[] = [];
    for (const round of [1, 2, 3]) {
      const data = new Float32Array(values);
      for (let i = 0; i < values; i++) data[i] = round * 1_000_000 + i;
      const body = bareTrainTask([vectorTensor(data)], { round });
      const reply = await hub.send("n1", body, { timeoutMs: DEADLINE_MS, receive: assembleInto(replies) });
      assert.equal(reply.kind, "train");
      if (reply.kind !== "train") return;
      const echoed = reply.result.params[0].data as Float32Array;
      assert.equal(echoed.length, values);
      for (let i = 0; i < values; i++) {
        if (echoed[i] !== data[i]) assert.fail(`round ${round}: value ${i} is ${echoed[i]}, sent ${data[i]}`);
      }
      replyBuffers.push(echoed.buffer);
      replies.release(echoed.buffer);
    }
    assert.equal(taskBuffers.length, 3);
    assert.equal(taskBuffers[1], taskBuffers[0], "the node received round 2 into round 1's buffer");
    assert.equal(taskBuffers[2], taskBuffers[0]);
    assert.equal(replyBuffers[1], replyBuffers[0], "the researcher received round 2's reply into round 1's buffer");
    assert.equal(replyBuffers[2], replyBuffers[0]);
  });
});

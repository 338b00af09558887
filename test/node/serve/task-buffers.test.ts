import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { sha256Hex } from "../../../src/common/canonical-json.js";
import { createWarmRounds } from "../../../src/ml/engine/warm-rounds.js";
import { buildModel, getParams } from "../../../src/ml/model.js";
import { parsePlan, planJson } from "../../../src/ml/plan.js";
import type { NamedTensor, TrainingArgs } from "../../../src/ml/types.js";
import { createExecutor, type NodeRuntime } from "../../../src/node/executors/index.js";
import { createPrivacyLedger } from "../../../src/node/privacy/privacy-ledger.js";
import {
  createExperimentBuffers,
  type ExperimentBuffers,
  type ReplyBody,
  type TrainTaskBody,
} from "../../../src/wire/index.js";
import { csvCatalogue, csvText, offTheWire, testRuntime } from "../../support/executor-node.js";
import { pollAsN1, startLoopbackResearcher } from "../../support/poll-node.js";
import { DEADLINE_MS, until } from "../../support/wait.js";

/**
 * `fbm-node serve`'s kept task buffers (poll loop `taskBuffers`, executors/train.ts `paramsCopied`) over
 * the real path: a researcher server on port 0 in this process, the node's own transport, the poll loop
 * and the real executor with warm rounds. Each round sends other parameters; every reply must equal,
 * bit for bit, the reply of the same executor given fresh arrays. The pool here poisons each buffer the
 * moment it is given back (every byte 0xff, a NaN in every float): a buffer given back while anything
 * still reads it (the steps, the validation, a warm tfjs network, the reply's chunks) changes the reply.
 */
const rows = Array.from({ length: 48 }, (_, i) => [(i % 7) / 7, ((i * 3) % 5) / 5, (i * 11) % 13, i % 2]);
const plan = parsePlan({
  data: { target: "label" },
  model: [{ dense: { units: 8, activation: "relu" } }, { dense: { units: 2, activation: "softmax" } }],
  loss: "sparseCategoricalCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});
const trainArgs: TrainingArgs = {
  epochs: 1,
  updates: 0,
  batchSize: 8,
  testRatio: 0.25,
  testOnGlobal: true,
  testOnLocal: true,
  metrics: [],
  seed: 3,
  fedproxMu: 0,
};

/** Round `round`'s global model: the seeded initial one, moved by a round-dependent amount everywhere. */
function roundParams(round: number): NamedTensor[] {
  const model = buildModel(plan, [3], { seed: 0 });
  const params = getParams(model);
  model.dispose();
  return params.map((p) => {
    const data = Float32Array.from(p.data, (v, i) => v + round * 0.01 * ((i % 7) - 3));
    return { ...p, shape: [...p.shape], data };
  });
}

/** Pools that overwrite a buffer as it is given back, and record it. */
function poisoning(buffers: ExperimentBuffers, given: ArrayBufferLike[]): ExperimentBuffers {
  return {
    of(experiment) {
      const pool = buffers.of(experiment);
      return {
        take: (n) => pool.take(n),
        release(buffer) {
          const back = pool.release(buffer);
          if (back) {
            new Uint8Array(buffer).fill(0xff);
            given.push(buffer);
          }
          return back;
        },
        clear: () => pool.clear(),
        get keptBytes() {
          return pool.keptBytes;
        },
      };
    },
    end: (experiment) => buffers.end(experiment),
  };
}

/**
 * The reply's parameters as bytes, and its figures that do not depend on the clock: the train loss is
 * summed from the steps' losses at each progress report (every 250 ms), so its last bits depend on when
 * they fall; it is compared to 7 digits.
 */
function comparable(reply: ReplyBody) {
  assert.equal(reply.kind, "train", JSON.stringify(reply));
  if (reply.kind !== "train") throw new Error("not a train reply");
  const { params, sampleCount, trainLoss, globalMetrics, localMetrics } = reply.result;
  return {
    params: params.map((p) => ({
      name: p.name,
      shape: p.shape,
      bytes: Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).toString("hex"),
    })),
    sampleCount,
    trainLoss: trainLoss?.toPrecision(7),
    globalMetrics,
    localMetrics,
  };
}

describe("fbm-node serve: task parameters received into kept buffers", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** Two node runtimes on one catalogue (the same dataset, so the same test split), each with warm rounds of its own. */
  async function runtimes(): Promise<{ pooled: NodeRuntime; fresh: NodeRuntime; datasetId: string }> {
    const dir = mkdtempSync(join(tmpdir(), "fbm-task-buffers-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { catalogue, entry } = await csvCatalogue(dir, "rows.csv", csvText(["a", "b", "c", "label"], rows), {
      name: "rows",
      target: "label",
    });
    cleanups.push(() => catalogue.close());
    // Never charged: no round here runs under DP.
    const ledger = await createPrivacyLedger({ path: join(dir, "privacy.json") });
    cleanups.push(() => ledger.close());
    const privacy = { ledger, maxEpsilon: "none" as const, delta: 1e-5 };
    const runtime = () => {
      const warm = createWarmRounds();
      cleanups.push(() => warm.drop());
      return testRuntime(catalogue, { warm, threads: 1, privacy });
    };
    return { pooled: runtime(), fresh: runtime(), datasetId: entry.id };
  }

  /**
   * Three rounds through the poll loop with kept buffers, and the same three through an executor of its
   * own with fresh arrays; the replies, both as the researcher decodes them; the task buffers each
   * round was received into; the buffers given back.
   */
  async function threeRounds(args: TrainingArgs) {
    const { pooled, fresh, datasetId } = await runtimes();
    const { hub, server, client } = await startLoopbackResearcher(cleanups);
    const execute = createExecutor(pooled);
    const received: ArrayBufferLike[] = [];
    const given: ArrayBufferLike[] = [];
    const stop = new AbortController();
    const loop = pollAsN1(client, server.url, stop.signal, {
      sessions: true,
      taskBuffers: poisoning(createExperimentBuffers(), given),
      execute: (task, context) => {
        if (task.body.kind === "train") received.push(task.body.params[0].data.buffer);
        return execute(task, context);
      },
    });
    cleanups.push(async () => {
      stop.abort();
      await loop;
    });
    await until(() => hub.node("n1")?.online === true, "the node to connect");
    const reference = createExecutor(fresh);
    const json = planJson(plan);
    const replies: { pooled: ReturnType<typeof comparable>; fresh: ReturnType<typeof comparable> }[] = [];
    for (const round of [1, 2, 3]) {
      const body = (params: NamedTensor[]): TrainTaskBody => ({
        kind: "train",
        datasetId,
        planId: sha256Hex(json),
        planJson: json,
        round,
        args,
        params,
      });
      const viaPool = await hub.send("n1", body(roundParams(round)), {
        experiment: "e",
        timeoutMs: DEADLINE_MS,
      });
      const direct = await reference(
        { taskId: `t${round}`, experiment: "e", body: body(roundParams(round)) },
        { signal: new AbortController().signal, feedback: () => {} },
      );
      replies.push({ pooled: comparable(viaPool), fresh: comparable(await offTheWire(direct)) });
    }
    stop.abort();
    await loop;
    return { replies, received, given };
  }

  it("kernels path: gives each round's buffer back after flatParams, and every reply is the fresh-array one", async () => {
    const { replies, received, given } = await threeRounds(trainArgs);
    for (const [i, r] of replies.entries()) assert.deepEqual(r.pooled, r.fresh, `round ${i + 1}`);
    assert.ok(replies[0].pooled.globalMetrics, "the rounds validate the received parameters");
    assert.equal(given.length, 3, "each round's buffer was given back");
    assert.equal(received[1], received[0], "round 2 was received into round 1's buffer");
    assert.equal(received[2], received[0]);
  });

  it("tfjs path: never gives a buffer back (tfjs keeps the arrays it is given), replies as with fresh arrays", async () => {
    const engine = process.env.FBM_ENGINE;
    process.env.FBM_ENGINE = "tfjs";
    try {
      const { replies, received, given } = await threeRounds(trainArgs);
      for (const [i, r] of replies.entries()) assert.deepEqual(r.pooled, r.fresh, `round ${i + 1}`);
      assert.equal(given.length, 0, "no buffer given back");
      assert.notEqual(received[1], received[0], "each round received into a fresh buffer");
    } finally {
      if (engine === undefined) delete process.env.FBM_ENGINE;
      else process.env.FBM_ENGINE = engine;
    }
  });

  it("the executor gives the buffer back on plain rounds only (not under central DP, which reads the sent model after training)", async () => {
    const { pooled } = await runtimes();
    const execute = createExecutor(pooled);
    const json = planJson(plan);
    const calls: string[] = [];
    const cases: [string, TrainingArgs][] = [
      ["plain", trainArgs],
      ["fedprox", { ...trainArgs, fedproxMu: 0.1 }],
      ["central dp", { ...trainArgs, dp: { mode: "central", noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 } }],
    ];
    for (const [name, args] of cases) {
      const body: TrainTaskBody = {
        kind: "train",
        datasetId: "",
        planId: sha256Hex(json),
        planJson: json,
        round: 1,
        args,
        params: roundParams(1),
      };
      body.datasetId = pooled.catalogue.listDatasets()[0].id;
      const reply = await execute(
        { taskId: name, experiment: "e", body },
        { signal: new AbortController().signal, feedback: () => {}, paramsCopied: () => calls.push(name) },
      );
      assert.equal(reply.kind, "train", `${name}: ${JSON.stringify(reply)}`);
    }
    assert.deepEqual(calls, ["plain", "fedprox"]);
  });

  it("a check-only round echoes the task's own tensors: never given back, echoed as sent", async () => {
    const checkOnly = { ...trainArgs, epochs: 0, testOnGlobal: false, testOnLocal: false };
    const { replies, given } = await threeRounds(checkOnly);
    for (const [i, r] of replies.entries()) assert.deepEqual(r.pooled, r.fresh, `round ${i + 1}`);
    assert.equal(given.length, 0);
  });
});

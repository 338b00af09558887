import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/ml/backend.js";
import { kernelInstancesCreated } from "../../../src/ml/engine/kernels.js";
import { createWarmRounds, type WarmRounds } from "../../../src/ml/engine/warm-rounds.js";
import { createRng } from "../../../src/ml/rng.js";
import { type LocalTrainResult, trainLocal } from "../../../src/ml/train.js";
import type { NamedTensor } from "../../../src/ml/types.js";
import { createGaussian } from "../../../src/privacy/dp/noise.js";
import { sharedStepMlp } from "../../support/engines.js";
import { logisticPlan, separableData, trainingArgs } from "../synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));

const data = separableData(120);
const plan = logisticPlan();
const args = trainingArgs({ updates: 6, testOnGlobal: true, testOnLocal: true });
/**
 * `count` rounds trained twice, cold (a network built each round) and warm (kept in `warm.rounds`), each
 * from its own previous round's parameters; `check` gets both results of a round and how many kernels
 * instances the warm one made. The warm rounds are dropped afterwards, whatever happened.
 */
async function coldAndWarmRounds(
  count: number,
  options: (round: number) => Omit<Parameters<typeof trainLocal>[0], "round" | "params" | "warm">,
  warm: { rounds: WarmRounds; experiment: string },
  check: (round: number, cold: LocalTrainResult, hot: LocalTrainResult, made: number) => void,
): Promise<void> {
  let coldParams: NamedTensor[] | undefined;
  let warmParams: NamedTensor[] | undefined;
  try {
    for (let round = 1; round <= count; round++) {
      const cold = await trainLocal({ ...options(round), round, params: coldParams });
      const before = kernelInstancesCreated();
      const hot = await trainLocal({ ...options(round), round, params: warmParams, warm });
      check(round, cold, hot, kernelInstancesCreated() - before);
      coldParams = cold.params;
      warmParams = hot.params;
    }
  } finally {
    warm.rounds.drop();
  }
}

const sameBits = (a: NamedTensor[], b: NamedTensor[]) =>
  assert.deepEqual(
    a.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("hex")),
    b.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("hex")),
  );

describe("warm rounds", () => {
  it("a second round of one experiment builds no network and trains to the very bits of a cold round", async () => {
    const rounds = createWarmRounds();
    const warm = { rounds, experiment: "e1" };
    const cold1 = await trainLocal({ plan, data, args, round: 1 });
    const cold2 = await trainLocal({ plan, data, args, round: 2, params: cold1.params });
    const first = await trainLocal({ plan, data, args, round: 1, warm });
    assert.equal(rounds.builds, 1);
    assert.ok(first.phases!.build > 0);
    const second = await trainLocal({ plan, data, args, round: 2, params: first.params, warm });
    // Round 1 starts from the seeded initial weights, round 2 from the parameters it was sent.
    const again = await trainLocal({ plan, data, args, round: 1, warm });
    assert.equal(rounds.builds, 1, "the kept network was rebuilt");
    sameBits(first.params, cold1.params);
    sameBits(second.params, cold2.params);
    sameBits(again.params, cold1.params);
    assert.deepEqual(second.globalMetrics, cold2.globalMetrics);
    assert.deepEqual(second.localMetrics, cold2.localMetrics);
    rounds.drop();
  });

  it("another experiment drops the kept network, and so does a failed round", async () => {
    const rounds = createWarmRounds();
    const tensors = tf.memory().numTensors;
    await trainLocal({ plan, data, args, warm: { rounds, experiment: "e1" } });
    await trainLocal({ plan, data, args, warm: { rounds, experiment: "e2" } });
    assert.equal(rounds.builds, 2);
    assert.match(rounds.kept ?? "", /"e2"/);
    const wrong: NamedTensor[] = [{ name: "nope", shape: [1], dtype: "float32", data: new Float32Array(1) }];
    await assert.rejects(trainLocal({ plan, data, args, params: wrong, warm: { rounds, experiment: "e2" } }));
    assert.equal(rounds.kept, undefined);
    assert.equal(tf.memory().numTensors, tensors, "a network's tensors outlived it");
  });

  it("drops the kept network once idle", async () => {
    const dropped = new Promise<string>((resolve) => {
      const rounds = createWarmRounds({ idleMs: 10, onDrop: resolve });
      void trainLocal({ plan, data, args, warm: { rounds, experiment: "idle" } });
    });
    // The idle timer does not hold the process open (a serving node has its poll for that): this test does.
    const alive = setInterval(() => {}, 1000);
    try {
      assert.match(await dropped, /"idle"/);
    } finally {
      clearInterval(alive);
    }
  });
});

describe("warm rounds on the kernels", () => {
  const mlp = sharedStepMlp();
  const wide = separableData(400, 200);
  const mlpArgs = trainingArgs({
    updates: 5,
    batchSize: 128,
    fedproxMu: 0.01,
    testOnGlobal: true,
    testOnLocal: true,
    metrics: ["accuracy", "auc"],
  });

  for (const threads of [1, 2]) {
    it(`restarts the kept runner and predictor, no kernels instance made, to a cold round's bits (${threads} thread${threads > 1 ? "s" : ""})`, async () => {
      const rounds = createWarmRounds();
      await coldAndWarmRounds(
        3,
        () => ({ plan: mlp, data: wide, args: mlpArgs, threads }),
        { rounds, experiment: `threads-${threads}` },
        (round, cold, hot, made) => {
          assert.equal(hot.engine, `kernels, ${threads} thread${threads > 1 ? "s" : ""}`);
          // Round 1 lays out the runner and the predictor (a kernels instance each on this thread); later rounds none.
          assert.equal(made, round === 1 ? 2 : 0, `round ${round}`);
          assert.equal(rounds.builds, 1, "the kept network was rebuilt");
          sameBits(hot.params, cold.params);
          assert.equal(hot.trainLoss, cold.trainLoss);
          assert.deepEqual(hot.globalMetrics, cold.globalMetrics);
          assert.deepEqual(hot.localMetrics, cold.localMetrics);
        },
      );
    });
  }

  it("restarts a kept DP-SGD runner (per-sample clipping, the round's own noise) to a cold round's bits", async () => {
    const rounds = createWarmRounds();
    const dpArgs = trainingArgs({
      epochs: 2,
      batchSize: 16,
      dp: { mode: "local", noiseMultiplier: 0.8, clipNorm: 0.5, delta: 1e-5 },
    });
    // The same seeded noise and Poisson draws for both runs of a round, different ones per round.
    const seeded = (round: number) => {
      const noise = createRng(round);
      return { gaussian: createGaussian(() => noise.next()), samplingUniform: createRng(round + 100).next };
    };
    await coldAndWarmRounds(
      2,
      (round) => ({ plan, data, args: dpArgs, ...seeded(round) }),
      { rounds, experiment: "dp" },
      (round, cold, hot, made) => {
        assert.equal(hot.engine, "kernels, 1 thread");
        if (round > 1) assert.equal(made, 0, "a warm DP round made a kernels instance");
        sameBits(hot.params, cold.params);
      },
    );
  });

  it("an epochs round after a validation-only round, and another experiment, start their own state", async () => {
    const rounds = createWarmRounds();
    const plan = logisticPlan({ optimizer: { name: "adagrad", learning_rate: 0.1 } });
    const onlyValidate = { ...args, updates: 0, epochs: 0 };
    try {
      const made = kernelInstancesCreated();
      const checked = await trainLocal({ plan, data, args: onlyValidate, warm: { rounds, experiment: "e1" } });
      assert.equal(checked.engine, "tfjs (no training steps)");
      assert.ok(checked.globalMetrics, "no validation");
      assert.equal(kernelInstancesCreated() - made, 1, "the predictor alone");
      const cold = await trainLocal({ plan, data, args });
      const first = await trainLocal({ plan, data, args, warm: { rounds, experiment: "e1" } });
      sameBits(first.params, cold.params);
      // A round that neither trains nor validates (the node's plan check) leaves the kept session alone.
      const checkOnly = { ...onlyValidate, testOnGlobal: false, testOnLocal: false };
      await trainLocal({ plan, data, args: checkOnly, params: first.params, warm: { rounds, experiment: "e1" } });
      const kept = kernelInstancesCreated();
      const second = await trainLocal({ plan, data, args, warm: { rounds, experiment: "e1" } });
      assert.equal(kernelInstancesCreated(), kept, "the plan check dropped the kept session");
      sameBits(second.params, cold.params);
      const other = kernelInstancesCreated();
      await trainLocal({ plan, data, args, warm: { rounds, experiment: "e2" } });
      assert.equal(kernelInstancesCreated() - other, 2, "another experiment reused the first one's kernels");
      assert.equal(rounds.builds, 2);
      // e1's state went with e2's arrival: it is built and laid out again.
      const again = await trainLocal({ plan, data, args, warm: { rounds, experiment: "e1" } });
      assert.equal(rounds.builds, 3);
      sameBits(again.params, cold.params);
    } finally {
      rounds.drop();
    }
  });
});

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { selectBackend } from "../../src/ml/backend.js";
import { parsePlan } from "../../src/ml/plan.js";
import { createRng } from "../../src/ml/rng.js";
import { type LocalTrainResult, trainLocal } from "../../src/ml/train.js";
import { createGaussian } from "../../src/privacy/dp/noise.js";
import { relativeDifference } from "../support/params.js";
import { separableData, trainingArgs } from "./synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));
after(() => delete process.env.FBM_ENGINE);

const plan = parsePlan({
  data: {},
  model: [{ dense: { units: 8, activation: "relu" } }, { dense: { units: 1, activation: "sigmoid" } }],
  loss: "binaryCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.5 },
});
const seeded = (seed: number) => {
  const rng = createRng(seed);
  return createGaussian(() => rng.next());
};

async function train(engine: "tfjs" | "kernels", noiseMultiplier: number, seed = 3, rows = 300): Promise<LocalTrainResult> {
  process.env.FBM_ENGINE = engine;
  try {
    return await trainLocal({
      plan,
      data: separableData(rows),
      args: trainingArgs({
        epochs: 5,
        batchSize: 32,
        testOnLocal: true,
        dp: { mode: "local", noiseMultiplier, clipNorm: 0.5, delta: 1e-5 },
      }),
      gaussian: seeded(seed),
      threads: 2,
    });
  } finally {
    delete process.env.FBM_ENGINE;
  }
}

describe("DP-SGD in local training", () => {
  it("takes the same noisy, clipped steps on the kernels (one thread) as on tfjs's per-example fallback", async () => {
    const reference = await train("tfjs", 1.1);
    const fast = await train("kernels", 1.1);
    assert.equal(fast.engine, "kernels, 1 thread");
    assert.match(reference.engine ?? "", /^tfjs/);
    assert.ok(relativeDifference(fast.params, reference.params) < 1e-4);
  });

  it("noise changes the result with its draws; a separable task still learns at σ 1.1", async () => {
    const a = await train("kernels", 1.1, 3, 2000);
    const b = await train("kernels", 1.1, 4, 2000);
    assert.ok(relativeDifference(a.params, b.params) > 1e-3);
    assert.ok(a.localMetrics!.values.accuracy > 0.9, `accuracy ${a.localMetrics!.values.accuracy}`);
  });
});

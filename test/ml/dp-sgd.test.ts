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

async function train(
  engine: "tfjs" | "kernels",
  noiseMultiplier: number,
  seed = 3,
  rows = 300,
): Promise<LocalTrainResult> {
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
      // Batches are secret Poisson samples from node:crypto; a seeded source lets both engines see the same.
      samplingUniform: createRng(seed + 100).next,
      threads: 2,
    });
  } finally {
    delete process.env.FBM_ENGINE;
  }
}

/** One update of DP-SGD on either engine, with the batch sampling's uniform draws given. */
async function oneUpdate(engine: "tfjs" | "kernels", uniform: () => number, noiseMultiplier: number) {
  process.env.FBM_ENGINE = engine;
  try {
    return await trainLocal({
      plan,
      data: separableData(50),
      args: trainingArgs({
        updates: 1,
        batchSize: 4,
        testRatio: 0,
        dp: { mode: "local", noiseMultiplier, clipNorm: 0.5, delta: 1e-5 },
      }),
      gaussian: seeded(9),
      samplingUniform: uniform,
    });
  } finally {
    delete process.env.FBM_ENGINE;
  }
}

describe("DP-SGD in local training", () => {
  it("an empty Poisson batch is a step of noise alone, the same on both engines", async () => {
    // Draws near 0 make every gap to the next chosen row longer than the data: the batch is empty.
    const never = () => 1e-300;
    const initial = await oneUpdate("kernels", never, 0);
    const start = await trainLocal({
      plan,
      data: separableData(50),
      args: trainingArgs({ epochs: 0, updates: 0, testRatio: 0 }),
    });
    assert.equal(relativeDifference(initial.params, start.params), 0, "σ 0: nothing moves");
    const fast = await oneUpdate("kernels", never, 1);
    const reference = await oneUpdate("tfjs", never, 1);
    assert.ok(relativeDifference(fast.params, start.params) > 1e-3, "σ 1: the noise moves the weights");
    assert.ok(relativeDifference(fast.params, reference.params) < 1e-5);
  });

  it("a Poisson batch larger than the kernels' buffers is taken in parts, with the same result as tfjs", async () => {
    // Draws near 1 choose every row: a batch of 50 where the buffers hold 4 + 4·2 + 1 = 13 rows.
    const always = () => 1 - 1e-12;
    const fast = await oneUpdate("kernels", always, 1.1);
    const reference = await oneUpdate("tfjs", always, 1.1);
    assert.equal(fast.engine, "kernels, 1 thread");
    assert.ok(relativeDifference(fast.params, reference.params) < 1e-4);
  });

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

  it("refuses a model with state computed from rows (batch normalization), whoever calls it", async () => {
    const withStatistics = parsePlan({ ...plan, model: [{ batchNormalization: {} }, ...plan.model] });
    await assert.rejects(
      trainLocal({
        plan: withStatistics,
        data: separableData(20),
        args: trainingArgs({ dp: { mode: "local", noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 } }),
      }),
      /Cannot train under dp: layer 0 \(batchNormalization\) keeps moving statistics.*use layerNormalization/,
    );
  });
});

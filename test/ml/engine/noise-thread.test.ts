import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { selectBackend } from "../../../src/ml/backend.js";
import { startNoiseThread } from "../../../src/ml/engine/noise-thread.js";
import { parsePlan } from "../../../src/ml/plan.js";
import { createRng } from "../../../src/ml/rng.js";
import { trainLocal } from "../../../src/ml/train.js";
import { createGaussian } from "../../../src/privacy/dp/noise.js";
import { printedByExitingChild } from "../../support/engines.js";
import { separableData, trainingArgs } from "../synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));

/** DP-SGD's noise drawn on two threads (noise-thread.ts): the same N(0, σ²) as on one. */

function moments(values: Float32Array) {
  let sum = 0;
  let squares = 0;
  for (const v of values) {
    sum += v;
    squares += v * v;
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(squares / values.length - mean * mean) };
}

describe("noise on a second thread", () => {
  it("adds N(0, σ²) then scales, fresh every step, from both threads' draws (200 000 values, 4 steps)", () => {
    const n = 200_000;
    const std = 1.1 * 0.5;
    const noise = startNoiseThread(n, createGaussian());
    try {
      const previous = new Float32Array(n);
      for (let step = 0; step < 4; step++) {
        // values 2, scale 0.5: the result is (2 + σ·z)/2, mean 1, std σ/2.
        const values = new Float32Array(n).fill(2);
        noise.addTo(values, std, 0.5);
        for (let i = 0; i < n; i++) values[i] = (values[i] - 1) * 2;
        const m = moments(values);
        assert.ok(Math.abs(m.mean) < (5 * std) / Math.sqrt(n), `step ${step}: mean ${m.mean}`);
        assert.ok(Math.abs(m.std - std) < (5 * std) / Math.sqrt(2 * n), `step ${step}: std ${m.std}`);
        const beyond = values.filter((v) => Math.abs(v) > 2 * std).length / n;
        assert.ok(Math.abs(beyond - 0.0455) < 5 * 0.00047, `step ${step}: beyond 2σ ${beyond}`);
        const deciles = [-1.2816, -0.8416, -0.5244, -0.2533, 0, 0.2533, 0.5244, 0.8416, 1.2816];
        for (const [i, edge] of deciles.entries()) {
          const share = values.filter((v) => v < edge * std).length / n;
          // Five standard errors of this decile's own binomial share, √(p(1−p)/n): 0.0034 at the outer
          // deciles, 0.0056 at the median (one bound for all, the outer deciles', was 3σ at the median).
          const p = (i + 1) / 10;
          const bound = 5 * Math.sqrt((p * (1 - p)) / n);
          assert.ok(Math.abs(share - p) < bound, `step ${step}: below decile ${i + 1}: ${share}`);
        }
        // Every value is a new draw: no chunk repeats the previous step's (its slot was refilled).
        let same = 0;
        for (let i = 0; i < n; i++) if (values[i] === previous[i]) same++;
        assert.ok(same < 100, `step ${step}: ${same} values repeat the previous step`);
        previous.set(values);
      }
    } finally {
      noise.close();
    }
  });

  it("refuses a vector of another size", () => {
    const noise = startNoiseThread(10, createGaussian());
    try {
      assert.throws(() => noise.addTo(new Float32Array(11), 1, 1), /noise for 10 values, got 11/);
    } finally {
      noise.close();
    }
  });

  it("is how DP-SGD trains a model of ≥ 10 000 parameters when two threads are allowed, and it learns", async () => {
    const plan = parsePlan({
      data: {},
      model: [{ dense: { units: 2500, activation: "relu" } }, { dense: { units: 1, activation: "sigmoid" } }],
      loss: "binaryCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.5 },
    });
    const data = separableData(2000); // 4 features, 2500 hidden units: 15 001 parameters
    const args = trainingArgs({
      epochs: 3,
      batchSize: 256,
      testOnLocal: true,
      dp: { mode: "local", noiseMultiplier: 1.1, clipNorm: 0.5, delta: 1e-5 },
    });
    const two = await trainLocal({ plan, data, args, threads: 2 });
    assert.equal(two.engine, "kernels, 2 threads");
    assert.ok(two.localMetrics!.values.accuracy > 0.9, `accuracy ${two.localMetrics!.values.accuracy}`);
    // A seeded source stays on the step's thread (reproducible), and says so.
    const rng = createRng(1);
    const seeded = await trainLocal({ plan, data, args, threads: 2, gaussian: createGaussian(() => rng.next()) });
    assert.equal(seeded.engine, "kernels, 1 thread");
    const one = await trainLocal({ plan, data, args, threads: 1 });
    assert.equal(one.engine, "kernels, 1 thread");
    assert.ok(one.localMetrics!.values.accuracy > 0.9, `accuracy ${one.localMetrics!.values.accuracy}`);
  });

  it("lets the process exit after DP-SGD on 2 threads: the helper goes back to the sleeping pool", async () => {
    const engine = await printedByExitingChild(`
      const plan = parsePlan({ data: {}, model: [{ dense: { units: 2500, activation: "relu" } }, { dense: { units: 1, activation: "sigmoid" } }], loss: "binaryCrossentropy", optimizer: { name: "sgd", learning_rate: 0.5 } });
      const dp = { mode: "local", noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };
      const result = await trainLocal({ plan, data: separableData(300), args: trainingArgs({ epochs: 1, batchSize: 64, dp }), threads: 2 });
      console.log(result.engine);`);
    assert.equal(engine, "kernels, 2 threads");
  });
});

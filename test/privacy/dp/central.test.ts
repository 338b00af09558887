import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "../../../src/ml/rng.js";
import type { NamedTensor } from "../../../src/ml/types.js";
import { addNoiseShare, clipUpdate, noiseShareStd, noisyMean } from "../../../src/privacy/dp/central.js";
import { createGaussian } from "../../../src/privacy/dp/noise.js";

const tensor = (name: string, values: number[]): NamedTensor => ({
  name,
  shape: [values.length],
  dtype: "float32",
  data: Float32Array.from(values),
});
const seeded = (seed: number) => {
  const rng = createRng(seed);
  return createGaussian(() => rng.next());
};

describe("central DP", () => {
  it("clipUpdate() scales the update (over all tensors) to the clip norm and leaves small ones alone", () => {
    const global = [tensor("w", [1, 1]), tensor("b", [0])];
    const trained = [tensor("w", [4, 1]), tensor("b", [4])]; // Δ = (3, 0, 4): norm 5
    const clipped = clipUpdate(global, trained, 1);
    assert.ok(Math.abs(clipped[0].data[0] - 1.6) < 1e-6);
    assert.equal(clipped[0].data[1], 1);
    assert.ok(Math.abs(clipped[1].data[0] - 0.8) < 1e-6);
    assert.equal(clipUpdate(global, trained, 6), trained);
  });

  it("noisyMean() without noise is the mean of the clipped updates; one node moves it by at most C/n", () => {
    const global = [Float32Array.of(0, 0)];
    const updates = [[Float32Array.of(30, 40)], [Float32Array.of(0.3, 0.4)]];
    const mean = noisyMean(global, updates, { noiseMultiplier: 0, clipNorm: 1, gaussian: seeded(1) });
    assert.ok(Math.abs(mean[0][0] - (0.6 + 0.3) / 2) < 1e-6);
    assert.ok(Math.abs(mean[0][1] - (0.8 + 0.4) / 2) < 1e-6);
  });

  it("noisyMean() adds noise of std σ·C/n to the mean (seeded, 20 000 coordinates)", () => {
    const size = 20_000;
    const global = [new Float32Array(size)];
    const updates = [[new Float32Array(size)], [new Float32Array(size)]];
    const mean = noisyMean(global, updates, { noiseMultiplier: 1.5, clipNorm: 0.4, gaussian: seeded(9) });
    const std = Math.sqrt(mean[0].reduce((s, v) => s + v * v, 0) / size);
    const expected = (1.5 * 0.4) / 2;
    assert.ok(Math.abs(std - expected) < (5 * expected) / Math.sqrt(2 * size), `std ${std}`);
  });

  it("n nodes' noise shares of std σ·C/√n sum to noise of std σ·C (secure aggregation's distributed noise)", () => {
    assert.equal(noiseShareStd(1, 2, 4), 1);
    assert.throws(() => noiseShareStd(1, 1, 0), /positive integer/);
    const nodes = 5;
    const size = 20_000;
    const sum = new Float32Array(size);
    for (let k = 0; k < nodes; k++) {
      const share = [
        tensor(
          "w",
          Array.from({ length: size }, () => 0),
        ),
      ];
      addNoiseShare(share, { noiseMultiplier: 1.2, clipNorm: 0.5, nodes, gaussian: seeded(100 + k) });
      for (let i = 0; i < size; i++) sum[i] += share[0].data[i];
    }
    const std = Math.sqrt(sum.reduce((s, v) => s + v * v, 0) / size);
    assert.ok(Math.abs(std - 0.6) < (5 * 0.6) / Math.sqrt(2 * size), `std ${std}`);
  });
});

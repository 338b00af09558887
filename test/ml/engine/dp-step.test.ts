import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clipFactor, noiseAndAverage } from "../../../src/ml/engine/dp-step.js";
import { createRng } from "../../../src/ml/rng.js";
import { createGaussian } from "../../../src/privacy/dp/noise.js";

const seeded = (seed: number) => {
  const rng = createRng(seed);
  return createGaussian(() => rng.next());
};

describe("DP-SGD's step (dp-step.ts)", () => {
  it("noiseAndAverage() adds σ·C noise to the clipped sum and divides by the expected batch", () => {
    const sum = Float32Array.from({ length: 20_000 }, () => 8);
    noiseAndAverage(sum, { noiseMultiplier: 1.5, clipNorm: 2, gaussian: seeded(3), expectedBatch: 4 });
    const mean = sum.reduce((a, b) => a + b, 0) / sum.length;
    const std = Math.sqrt(sum.reduce((a, b) => a + (b - mean) ** 2, 0) / sum.length);
    assert.ok(Math.abs(mean - 2) < 0.02, `mean ${mean}`);
    // (1.5 · 2) / 4 = 0.75
    assert.ok(Math.abs(std - 0.75) < 0.02, `std ${std}`);
  });

  it("draws one weight's noise after another, so a flat vector gets the draws of its tensors in order", () => {
    const flat = new Float32Array(30).fill(1);
    const parts = [new Float32Array(10).fill(1), new Float32Array(20).fill(1)];
    const dp = { noiseMultiplier: 1, clipNorm: 1, expectedBatch: 3 };
    noiseAndAverage(flat, { ...dp, gaussian: seeded(7) });
    const gaussian = seeded(7);
    for (const p of parts) noiseAndAverage(p, { ...dp, gaussian });
    assert.deepEqual(flat, Float32Array.from([...parts[0], ...parts[1]]));
  });

  it("clipFactor() scales a gradient down to the bound and never up", () => {
    assert.equal(clipFactor(4, 2), 0.5);
    assert.equal(clipFactor(1, 2), 1);
    assert.equal(clipFactor(0, 2), 1);
  });
});

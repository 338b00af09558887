import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "../../../src/ml/rng.js";
import { addGaussianNoise, createGaussian } from "../../../src/privacy/dp/noise.js";

function moments(values: ArrayLike<number>) {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    squares += values[i] * values[i];
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(squares / values.length - mean * mean) };
}

describe("Gaussian noise", () => {
  it("has the requested std and mean 0 (seeded, 200 000 draws, within 5 standard errors)", () => {
    const n = 200_000;
    const std = 1.1 * 0.5; // noise multiplier × clip norm
    const values = new Float32Array(n);
    const rng = createRng(42);
    addGaussianNoise(
      values,
      std,
      createGaussian(() => rng.next()),
    );
    const m = moments(values);
    // Standard errors: of the mean σ/√n, of the standard deviation σ/√(2n).
    assert.ok(Math.abs(m.mean) < (5 * std) / Math.sqrt(n), `mean ${m.mean}`);
    assert.ok(Math.abs(m.std - std) < (5 * std) / Math.sqrt(2 * n), `std ${m.std}`);
    // Tails of a normal: about 4.55% beyond 2σ (binomial standard error 0.047% at this n).
    const beyond = values.filter((v) => Math.abs(v) > 2 * std).length / n;
    assert.ok(Math.abs(beyond - 0.0455) < 5 * 0.00047, `beyond 2σ: ${beyond}`);
    // The ziggurat's tail path: |x| > r = 3.4426 has probability 5.76e-4 (115 ± 11 of 200 000), and
    // beyond 4σ 6.33e-5 (13 ± 3.6).
    const tail = values.filter((v) => Math.abs(v) > 3.442619855899 * std).length;
    assert.ok(Math.abs(tail - 115.2) < 5 * 10.7, `beyond r: ${tail}`);
    const far = values.filter((v) => Math.abs(v) > 4 * std).length;
    assert.ok(Math.abs(far - 12.7) < 5 * 3.6, `beyond 4σ: ${far}`);
    // Each decile of the standard normal holds a tenth of the draws (binomial standard error 0.067%).
    const deciles = [-1.2816, -0.8416, -0.5244, -0.2533, 0, 0.2533, 0.5244, 0.8416, 1.2816];
    for (const [i, edge] of deciles.entries()) {
      const share = values.filter((v) => v < edge * std).length / n;
      assert.ok(Math.abs(share - (i + 1) / 10) < 5 * 0.00067, `below decile ${i + 1}: ${share}`);
    }
  });

  it("draws from node:crypto by default: two sources never repeat each other", () => {
    const a = createGaussian();
    const b = createGaussian();
    const xs = Array.from({ length: 8 }, () => a());
    const ys = Array.from({ length: 8 }, () => b());
    assert.notDeepEqual(xs, ys);
    const m = moments(Array.from({ length: 50_000 }, () => a()));
    assert.ok(Math.abs(m.std - 1) < 0.03, `std ${m.std}`);
  });

  it("adds, in bulk, exactly the draws one-at-a-time calls give from the same words (slow paths included)", () => {
    const n = 50_000; // ~1% of draws take the slow path (wedges, the tail), and the word buffer refills
    const one = createRng(9);
    const bulk = createRng(9);
    const single = createGaussian(() => one.next());
    const expected = new Float32Array(n);
    for (let i = 0; i < n; i++) expected[i] = (0.25 + 0.7 * single()) * 0.5;
    const values = new Float32Array(n).fill(0.25);
    createGaussian(() => bulk.next()).addTo(values, 0.7, 0.5);
    assert.deepEqual(values, expected);
    // And the state carries over: the next draws agree too.
    const fresh = createRng(3);
    const gaussian = createGaussian(() => fresh.next());
    const again = createRng(3);
    const reference = createGaussian(() => again.next());
    const first = new Float32Array(3);
    gaussian.addTo(first, 1, 1);
    for (let i = 0; i < 3; i++) assert.equal(first[i], Math.fround(reference()));
    assert.equal(gaussian(), reference());
  });

  it("adds nothing at std 0", () => {
    const values = Float32Array.of(1, 2, 3);
    addGaussianNoise(values, 0, createGaussian());
    assert.deepEqual(Array.from(values), [1, 2, 3]);
  });
});

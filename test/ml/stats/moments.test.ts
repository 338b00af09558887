import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "../../../src/ml/rng.js";
import { addValue, combineMoments, emptyMoments, type Moments, sampleVariance } from "../../../src/ml/stats/moments.js";

function momentsOf(values: number[]): Moments {
  const m = emptyMoments();
  for (const v of values) addValue(m, v);
  return m;
}

/** Two-pass reference, as pandas: mean, then the sum of squared deviations, n − 1. */
function reference(values: number[]) {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const m2 = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, variance: m2 / (values.length - 1) };
}

const close = (got: number, want: number, what: string) =>
  assert.ok(Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);

describe("moments", () => {
  it("pooled over uneven parts equal those of the concatenated data (to 1e-9 relative)", () => {
    const rng = createRng(5);
    for (const sizes of [
      [1, 1],
      [3, 500, 17],
      [1000, 2, 250, 60],
    ]) {
      // Parts on different scales and centres, as hospitals differ.
      const parts = sizes.map((n, i) => Array.from({ length: n }, () => 1e4 * i + (rng.next() - 0.5) * 10 ** (i + 1)));
      const pooled = parts.map(momentsOf).reduce(combineMoments, emptyMoments());
      const all = parts.flat();
      const want = reference(all);
      assert.equal(pooled.count, all.length);
      close(pooled.mean, want.mean, "mean");
      close(
        pooled.sum,
        all.reduce((a, b) => a + b, 0),
        "sum",
      );
      close(sampleVariance(pooled)!, want.variance, "variance");
      assert.equal(pooled.min, Math.min(...all));
      assert.equal(pooled.max, Math.max(...all));
    }
  });

  it("has no variance below 2 values, and combining with nothing changes nothing", () => {
    assert.equal(sampleVariance(momentsOf([4])), undefined);
    assert.deepEqual(combineMoments(emptyMoments(), momentsOf([1, 2])), momentsOf([1, 2]));
    assert.equal(sampleVariance(momentsOf([1, 2, 3, 4])), 5 / 3);
  });
});

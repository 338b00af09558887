import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createPoissonSampler, poissonBatchBound } from "../../../src/privacy/dp/poisson-sampling.js";

const rows = Int32Array.from({ length: 200 }, (_, i) => 1000 + i);

describe("Poisson sampling of DP-SGD batches", () => {
  it("takes each row independently with probability q: per-row frequencies and batch sizes fit the binomial law", () => {
    const q = 0.05;
    const sampler = createPoissonSampler({ rows, rate: q });
    const draws = 4000;
    const counts = new Map<number, number>();
    const sizes: number[] = [];
    for (let d = 0; d < draws; d++) {
      const batch = sampler.next();
      sizes.push(batch.length);
      for (let i = 1; i < batch.length; i++) assert.ok(batch[i] > batch[i - 1], "rows in increasing order, no repeats");
      for (const row of batch) counts.set(row, (counts.get(row) ?? 0) + 1);
    }
    // Every row of the set, and no other, is chosen; each about q·draws = 200 times.
    assert.deepEqual(
      [...counts.keys()].sort((a, b) => a - b),
      [...rows],
    );
    const expected = q * draws;
    const chiSquare = [...counts.values()].reduce((s, c) => s + (c - expected) ** 2 / (expected * (1 - q)), 0);
    // 200 rows: χ² with ~200 degrees of freedom has mean 200 and sd 20.
    assert.ok(chiSquare < 200 + 6 * 20, `χ² ${chiSquare}`);
    const mean = sizes.reduce((a, b) => a + b, 0) / draws;
    const variance = sizes.reduce((s, n) => s + (n - mean) ** 2, 0) / (draws - 1);
    assert.ok(Math.abs(mean - q * rows.length) < 0.2, `mean batch ${mean}`);
    assert.ok(Math.abs(variance / (q * (1 - q) * rows.length) - 1) < 0.15, `variance ${variance}`);
  });

  it("draws from node:crypto by default: two samplers at the same rate give different batches", () => {
    const a = createPoissonSampler({ rows, rate: 0.1 });
    const b = createPoissonSampler({ rows, rate: 0.1 });
    const differ = Array.from({ length: 20 }, () => a.next().join() !== b.next().join()).filter(Boolean).length;
    assert.ok(differ >= 19, `${differ} of 20 differ`);
  });

  it("rate 1 takes every row, rate 0 none; a rate outside [0, 1] is refused", () => {
    assert.deepEqual([...createPoissonSampler({ rows, rate: 1 }).next()], [...rows]);
    assert.equal(createPoissonSampler({ rows, rate: 0 }).next().length, 0);
    assert.throws(() => createPoissonSampler({ rows, rate: 1.5 }), /Sampling rate 1.5/);
  });

  it("sizes the engines' buffers at the expected batch plus 4 standard deviations, at most every row", () => {
    assert.equal(poissonBatchBound(64, 10_000), 64 + 32 + 1);
    assert.equal(poissonBatchBound(64, 80), 80);
  });
});

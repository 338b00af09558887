import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAggregator } from "../../../src/researcher/aggregators/index.js";
import { createRunningMean, reuseRunningMean } from "../../../src/researcher/aggregators/running-mean.js";

const f = (...v: number[]) => Float32Array.from(v);

describe("createRunningMean", () => {
  const global = [f(0, 0, 0), f(1)];
  const updates = [
    { nodeId: "a", samples: 10, params: [f(1, 2, 3), f(4)] },
    { nodeId: "b", samples: 30, params: [f(5, -2, 7), f(0)] },
    { nodeId: "c", samples: 60, params: [f(0.5, 0.25, -1), f(2)] },
  ];

  it("folds updates into their sample-weighted mean (hand-computed)", () => {
    const mean = createRunningMean([3, 1]);
    for (const u of updates) mean.add(u.params, u.samples);
    const r = mean.result();
    assert.equal(r.samples, 100);
    assert.equal(mean.count, 3);
    // (10·1 + 30·5 + 60·0.5)/100 = 1.9; (20 − 60 + 15)/100 = −0.25; (30 + 210 − 60)/100 = 1.8; (40 + 0 + 120)/100 = 1.6
    assert.deepEqual([...r.params[0]], [1.9, -0.25, 1.8].map(Math.fround));
    assert.deepEqual([...r.params[1]], [Math.fround(1.6)]);
  });

  it("divides a large sum without a model-sized JS array (the mean of 1M × 2 parameters stays out of the heap)", () => {
    // TypedArray.from(sum, mapFn) first lists every value as a JS number: ~35 MiB of heap per million
    // parameters at a round's end (and seconds of CPU), where the mean itself is 4 MiB of ArrayBuffer.
    const mean = createRunningMean([1_000_000, 1_000_000]);
    mean.addRun(0, 0, new Float32Array(1_000_000).fill(3), 2);
    mean.addRun(1, 999_999, f(5), 2);
    mean.commit(2);
    const before = process.memoryUsage().heapUsed;
    const r = mean.result();
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(grown < 8 * 2 ** 20, `result() grew the heap by ${(grown / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(r.params[0][999_999], 3);
    assert.equal(r.params[1][999_999], 5);
    assert.equal(r.params[1][0], 0);
  });

  for (const name of ["fedavg", "fedavgm", "fedadam", "fedyogi", "fedadagrad"] as const) {
    it(`gives ${name} the same result as the full list of updates (it is foldable)`, () => {
      const aggregator = createAggregator(
        name === "fedavg"
          ? { name }
          : name === "fedavgm"
            ? { name, serverLr: 1, momentum: 0.9 }
            : name === "fedadagrad"
              ? { name, serverLr: 0.1, beta1: 0, tau: 1e-3 }
              : { name, serverLr: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
      );
      assert.equal(aggregator.foldable, true);
      const mean = createRunningMean([3, 1]);
      for (const u of updates) mean.add(u.params, u.samples);
      const full = aggregator.aggregate({ round: 1, global, updates, state: {} });
      const folded = aggregator.aggregate({ round: 1, global, updates: [mean.result()], state: {} });
      full.params.forEach((t, i) => {
        t.forEach((v, k) => {
          assert.ok(Math.abs(v - folded.params[i][k]) < 1e-6);
        });
      });
    });
  }

  it("is not used by aggregators that need every update", () => {
    for (const config of [
      { name: "fedmedian" },
      { name: "krum", f: 0 },
      { name: "trimmed_mean", beta: 0.1 },
      { name: "scaffold", serverLr: 1 },
    ] as const) {
      assert.notEqual(createAggregator(config).foldable, true, config.name);
    }
  });
});

describe("reuseRunningMean", () => {
  it("resets the previous round's mean of the same shape: nothing of its updates is left", () => {
    const first = createRunningMean([3, 1]);
    first.add([f(1, 2, 3), f(4)], 10);
    first.addRun(0, 1, f(100), 5); // a part never committed
    const kept = first.result().params;
    const next = reuseRunningMean(first, [3, 1]);
    assert.equal(next, first, "the same sums, zeroed");
    assert.equal(next.count, 0);
    next.add([f(2, 4, 6), f(8)], 2);
    assert.deepEqual(
      next.result().params.map((p) => [...p]),
      [[2, 4, 6], [8]],
    );
    assert.equal(next.result().samples, 2);
    assert.deepEqual([...kept[0]], [1, 2 + 50, 3], "an earlier result is its own copy");
  });

  it("makes a new one for another shape", () => {
    const first = createRunningMean([3, 1]);
    assert.notEqual(reuseRunningMean(first, [3, 2]), first);
    assert.notEqual(reuseRunningMean(first, [3]), first);
    assert.deepEqual(reuseRunningMean(undefined, [2]).lengths, [2]);
  });
});

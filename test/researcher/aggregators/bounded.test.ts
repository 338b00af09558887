import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cappedWeights } from "../../../src/researcher/aggregators/bounded.js";
import { createAggregator, parseAggregatorConfig, type Update } from "../../../src/researcher/aggregators/index.js";
import { assertTensors, f32, update } from "./helpers.js";

/** A seeded uniform [0, 1) (mulberry32), so the data below is the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Logistic regression on two features, labels from the line x0 − x1 > 0; three honest nodes.
const rand = random(7);
const rows = (n: number) =>
  Array.from({ length: n }, () => {
    const x = [rand() * 2 - 1, rand() * 2 - 1];
    return { x, y: x[0] - x[1] > 0 ? 1 : 0 };
  });
const nodes = [rows(60), rows(60), rows(60)];
const test = rows(400);
const predict = (w: Float32Array, x: number[]) => 1 / (1 + Math.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])));
const accuracy = (w: Float32Array) =>
  test.filter(({ x, y }) => (predict(w, x) > 0.5 ? 1 : 0) === y).length / test.length;

/** Five steps of gradient descent on a node's rows, from the global model. */
function localTrain(global: Float32Array, data: { x: number[]; y: number }[]): Float32Array {
  const w = Float32Array.from(global);
  for (let step = 0; step < 5; step++) {
    const g = [0, 0, 0];
    for (const { x, y } of data) {
      const e = predict(w, x) - y;
      g[0] += e * x[0];
      g[1] += e * x[1];
      g[2] += e;
    }
    for (let k = 0; k < 3; k++) w[k] -= (1 * g[k]) / data.length;
  }
  return w;
}

/** Twenty rounds with a fourth node that always sends global + 1e30 (finite in float32). */
function federate(settings: Record<string, unknown>): number {
  const aggregator = createAggregator(parseAggregatorConfig(settings));
  let global: Float32Array = new Float32Array(3);
  let state = {};
  for (let round = 1; round <= 20; round++) {
    const updates: Update[] = nodes.map((data, i) => ({
      nodeId: `honest${i}`,
      samples: data.length,
      params: [localTrain(global, data)],
    }));
    updates.push({ nodeId: "liar", samples: 60, params: [global.map((v) => v + 1e30)] });
    const out = aggregator.aggregate({ round, global: [global], updates, state });
    global = out.params[0];
    state = out.state;
  }
  return accuracy(global);
}

describe("bounded FedAvg-family aggregators (aggregator: {clip_norm, max_weight_fraction})", () => {
  it("a node sending a 1e30 update wrecks plain fedavg but not fedavg with clip_norm", () => {
    const plain = federate({ name: "fedavg" });
    const clipped = federate({ name: "fedavg", clip_norm: 1 });
    assert.ok(!(plain > 0.6), `plain fedavg reached accuracy ${plain}`);
    assert.ok(clipped >= 0.9, `clipped fedavg reached accuracy ${clipped}`);
  });

  it("clip_norm bounds each update's move from the global model to norm C, the direction kept", () => {
    const global = f32([1, 1]);
    const out = createAggregator(parseAggregatorConfig({ name: "fedavg", clip_norm: 5 })).aggregate({
      round: 1,
      global,
      updates: [update("a", 1, [[1 + 30, 1 + 40]]), update("b", 1, [[2, 1]])],
      state: {},
    });
    // a's Δ (30, 40) has norm 50: scaled to (3, 4); b's Δ (1, 0) is within the bound and unchanged.
    assertTensors(out.params, [[1 + (3 + 1) / 2, 1 + (4 + 0) / 2]]);
  });

  it("works for fedprox, fedavgm and the FedOpt family too, and is refused where it does not apply", () => {
    for (const name of ["fedprox", "fedavgm", "fedadam", "fedyogi", "fedadagrad"]) {
      assert.deepEqual(parseAggregatorConfig({ name, clip_norm: 2 }).name, name);
      assert.ok(federate({ name, clip_norm: 1 }) > 0.6, name);
    }
    for (const name of ["fedmedian", "scaffold", "krum"]) {
      assert.throws(() => parseAggregatorConfig({ name, f: 0, clip_norm: 2 }), /clip_norm/);
    }
    assert.throws(() => parseAggregatorConfig({ name: "fedavg", clip_norm: 0 }), /clip_norm/);
    assert.throws(() => parseAggregatorConfig({ name: "fedavg", max_weight_fraction: 1.5 }), /max_weight_fraction/);
  });

  it("max_weight_fraction: a node announcing 4e9 rows holds at most that share of the round's weight", () => {
    assert.deepEqual(cappedWeights([4e9, 1000, 1000], 0.5), [2000, 1000, 1000]);
    const weights = cappedWeights([4e9, 3e9, 1000, 500, 500], 0.25);
    const total = weights.reduce((s, w) => s + w, 0);
    for (const w of weights) assert.ok(w <= 0.25 * total + 1e-9, `${w} of ${total}`);
    // Counts already within the bound are left alone; below 1/n every update weighs alike.
    assert.deepEqual(cappedWeights([10, 20, 30], 0.6), [10, 20, 30]);
    assert.deepEqual(cappedWeights([10, 20, 30], 0.2), [1, 1, 1]);
    const out = createAggregator(parseAggregatorConfig({ name: "fedavg", max_weight_fraction: 0.5 })).aggregate({
      round: 1,
      global: f32([0]),
      updates: [update("liar", 4e9, [[100]]), update("a", 1000, [[0]]), update("b", 1000, [[0]])],
      state: {},
    });
    assertTensors(out.params, [[50]]);
  });
});

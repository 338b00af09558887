import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/ml/backend.js";
import { evaluateParams, predict, predictWithModel } from "../../src/ml/evaluate.js";
import { buildModel, getParams } from "../../src/ml/model.js";
import { parsePlan } from "../../src/ml/plan.js";
import type { NamedTensor } from "../../src/ml/types.js";
import { logisticPlan, separableData } from "./synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));

/** Weights that make the logistic plan compute sigmoid(x0 − x1) (hidden relu units pass ±x0 and ±x1 through). */
function handWeights(): NamedTensor[] {
  const kernel = new Float32Array(4 * 8);
  // hidden 0 = relu(x0), 1 = relu(−x0), 2 = relu(x1), 3 = relu(−x1)
  kernel[0 * 8 + 0] = 1;
  kernel[0 * 8 + 1] = -1;
  kernel[1 * 8 + 2] = 1;
  kernel[1 * 8 + 3] = -1;
  const out = Float32Array.from([1, -1, -1, 1, 0, 0, 0, 0]);
  return [
    { name: "0.dense.kernel", shape: [4, 8], dtype: "float32", data: kernel },
    { name: "0.dense.bias", shape: [8], dtype: "float32", data: new Float32Array(8) },
    { name: "1.dense.kernel", shape: [8, 1], dtype: "float32", data: out },
    { name: "1.dense.bias", shape: [1], dtype: "float32", data: new Float32Array(1) },
  ];
}

const rows = {
  x: Float32Array.from([2, 0, 0, 0, /**/ 0, 1, 0, 0, /**/ -1, 1, 5, 5]),
  y: Float32Array.from([1, 0, 1]),
  rows: 3,
  sampleShape: [4],
  features: ["f0", "f1", "f2", "f3"],
};
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

describe("predict", () => {
  it("returns one probability per row from the given parameters", async () => {
    const result = await predict({ plan: logisticPlan(), data: rows, params: handWeights() });
    assert.equal(result.rows, 3);
    assert.equal(result.outputs, 1);
    [2, -1, -2].forEach((z, i) => {
      assert.ok(Math.abs(result.values[i] - sigmoid(z)) < 1e-6);
    });
  });

  it("applies the normalization to rows first", async () => {
    const normalization = {
      method: "standard" as const,
      columns: rows.features,
      shift: [1, 0, 0, 0],
      scale: [1, 1, 1, 1],
    };
    const result = await predict({ plan: logisticPlan(), data: rows, params: handWeights(), normalization });
    [1, -2, -3].forEach((z, i) => {
      assert.ok(Math.abs(result.values[i] - sigmoid(z)) < 1e-6);
    });
  });

  it("predicts in batches: many rows give the same values as a model called on all at once", async () => {
    const data = separableData(600);
    const model = buildModel(logisticPlan(), [4], { seed: 4 });
    const result = await predictWithModel(model, data);
    const direct = tf.tidy(() => (model.predict(tf.tensor2d(data.x, [600, 4])) as tf.Tensor).dataSync());
    assert.deepEqual(result.values, direct);
    model.dispose();
  });
});

describe("evaluateParams", () => {
  it("computes the named metrics and the loss over all rows", async () => {
    const result = await evaluateParams({
      plan: logisticPlan(),
      data: rows,
      params: handWeights(),
      metrics: ["accuracy", "auc", "loss"],
    });
    assert.equal(result.samples, 3);
    // probabilities .88, .27, .12 for labels 1, 0, 1: rows 1 and 2 right, row 3 wrong.
    assert.ok(Math.abs(result.values.accuracy - 2 / 3) < 1e-9);
    assert.equal(result.values.auc, 0.5);
    const loss = -(Math.log(sigmoid(2)) + Math.log(1 - sigmoid(-1)) + Math.log(sigmoid(-2))) / 3;
    assert.ok(Math.abs(result.values.loss - loss) < 1e-5);
  });

  it("leaves no tensors behind", async () => {
    const model = buildModel(logisticPlan(), [4], { seed: 4 });
    const params = getParams(model);
    model.dispose();
    const before = tf.memory().numTensors;
    await evaluateParams({ plan: logisticPlan(), data: separableData(300), params, metrics: ["accuracy", "loss"] });
    await predict({ plan: logisticPlan(), data: separableData(300), params });
    assert.equal(tf.memory().numTensors, before);
  });

  it("rejects metrics that do not fit the plan", async () => {
    await assert.rejects(
      evaluateParams({ plan: parsePlan({ ...logisticPlan() }), data: rows, params: handWeights(), metrics: ["mae"] }),
      /metric "mae"/,
    );
  });
});

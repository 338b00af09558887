import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/common/errors.js";
import { selectBackend } from "../../src/ml/backend.js";
import { buildModel, getParams, outputUnits, paramCount, paramNames, setParams } from "../../src/ml/model.js";
import { parsePlan } from "../../src/ml/plan.js";
import { logisticPlan } from "./synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));

const cnnPlan = parsePlan({
  data: {},
  model: [
    { conv2d: { filters: 2, kernelSize: 3, activation: "relu", padding: "same" } },
    { batchNormalization: { momentum: 0.9 } },
    { maxPooling2d: { poolSize: 2 } },
    { averagePooling2d: { poolSize: 1 } },
    { dropout: { rate: 0.25 } },
    { conv2d: { filters: 3, kernelSize: [2, 2], kernelInitializer: "heNormal" } },
    { globalAveragePooling2d: null },
    { dense: { units: 4, activation: "softmax" } },
  ],
  loss: "sparseCategoricalCrossentropy",
  optimizer: { name: "adam", learning_rate: 0.01 },
});

describe("buildModel", () => {
  it("gives identical initial weights for the same seed and different ones for another seed", () => {
    const a = buildModel(logisticPlan(), [4], { seed: 1 });
    const b = buildModel(logisticPlan(), [4], { seed: 1 });
    const c = buildModel(logisticPlan(), [4], { seed: 2 });
    assert.deepEqual(getParams(a), getParams(b));
    assert.notDeepEqual(getParams(a)[0].data, getParams(c)[0].data);
    for (const m of [a, b, c]) m.dispose();
  });

  it("builds every allowed layer, images in and one row of class scores out", () => {
    const model = buildModel(cnnPlan, [6, 6, 1], { seed: 3 });
    assert.equal(outputUnits(model), 4);
    assert.deepEqual(
      model.layers.map((l) => l.name),
      [
        "0.conv2d",
        "1.batchNormalization",
        "2.maxPooling2d",
        "3.averagePooling2d",
        "4.dropout",
        "5.conv2d",
        "6.globalAveragePooling2d",
        "7.dense",
      ],
    );
    const out = model.predict(tf.zeros([2, 6, 6, 1])) as tf.Tensor;
    assert.deepEqual(out.shape, [2, 4]);
    out.dispose();
    model.dispose();
    const flat = buildModel(parsePlan({ ...cnnPlan, model: [{ flatten: {} }, { dense: { units: 2 } }] }), [3, 3, 1], {
      seed: 1,
    });
    assert.deepEqual(paramNames(flat), ["1.dense.kernel", "1.dense.bias"]);
    flat.dispose();
  });

  it("rejects a model whose output is not one vector per sample", () => {
    const plan = parsePlan({ ...cnnPlan, model: [{ conv2d: { filters: 2, kernelSize: 3 } }] });
    assert.throws(
      () => buildModel(plan, [6, 6, 1], { seed: 1 }),
      (e) => e instanceof InputError && /output has shape \[4, 4, 2\] per sample/.test(e.message),
    );
  });

  it("rejects layers that do not fit their input", () => {
    assert.throws(
      () => buildModel(cnnPlan, [4], { seed: 1 }),
      (e) =>
        e instanceof InputError &&
        /layer "conv2d#1" \(conv2d\) needs \[height, width, channels\] inputs, gets \[4\] per sample/.test(e.message),
    );
  });
});

describe("getParams / setParams", () => {
  it("names all weights, trainable and not, by layer position and kind", () => {
    const model = buildModel(cnnPlan, [6, 6, 1], { seed: 3 });
    const params = getParams(model);
    assert.deepEqual(
      params.map((p) => p.name),
      [
        "0.conv2d.kernel",
        "0.conv2d.bias",
        "1.batchNormalization.gamma",
        "1.batchNormalization.beta",
        "1.batchNormalization.moving_mean",
        "1.batchNormalization.moving_variance",
        "5.conv2d.kernel",
        "5.conv2d.bias",
        "7.dense.kernel",
        "7.dense.bias",
      ],
    );
    assert.deepEqual(params[0].shape, [3, 3, 1, 2]);
    assert.equal(params[0].dtype, "float32");
    assert.equal(paramCount(params), 18 + 2 + 2 * 4 + 24 + 3 + 12 + 4);
    model.dispose();
  });

  it("round-trips parameters between models, including batch-norm moving statistics", () => {
    const source = buildModel(cnnPlan, [6, 6, 1], { seed: 3 });
    const params = getParams(source).map((p) => ({ ...p, data: p.data.map((_, i) => (i % 7) / 10 + 0.5) }));
    const target = buildModel(cnnPlan, [6, 6, 1], { seed: 99 });
    setParams(target, params);
    assert.deepEqual(getParams(target), params);
    source.dispose();
    target.dispose();
  });

  it("returns copies that do not alias the model's memory", () => {
    const model = buildModel(logisticPlan(), [4], { seed: 1 });
    const first = getParams(model);
    first[0].data.fill(42);
    assert.notEqual(getParams(model)[0].data[0], 42);
    model.dispose();
  });

  it("throws InputError naming missing, unexpected and mis-shaped tensors", () => {
    const model = buildModel(logisticPlan(), [4], { seed: 1 });
    const params = getParams(model);
    assert.throws(
      () => setParams(model, params.slice(1)),
      (e) => e instanceof InputError && /missing "0.dense.kernel"/.test(e.message),
    );
    assert.throws(
      () => setParams(model, [...params, { ...params[0], name: "9.dense.kernel" }]),
      /unexpected "9.dense.kernel"/,
    );
    const bad = params.map((p, i) => (i === 0 ? { ...p, shape: [8, 4], data: new Float32Array(32) } : p));
    assert.throws(
      () => setParams(model, bad),
      /"0.dense.kernel" has shape \[8, 4\] \(32 values\), the model expects \[4, 8\]/,
    );
    model.dispose();
  });

  it("does not leak tensors", () => {
    const before = tf.memory().numTensors;
    const model = buildModel(logisticPlan(), [4], { seed: 1 });
    setParams(model, getParams(model));
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});

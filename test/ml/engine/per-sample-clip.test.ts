import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/ml/backend.js";
import { describeNetwork } from "../../../src/ml/engine/network.js";
import { createNetworkTrainer, optimizerSpec } from "../../../src/ml/engine/trainer.js";
import { computeLoss, labelTensor } from "../../../src/ml/losses.js";
import { buildModel, outputUnits } from "../../../src/ml/model.js";
import { parsePlan } from "../../../src/ml/plan.js";
import type { Dataset } from "../../../src/ml/types.js";
import { imageData, separableData, threeClassData } from "../synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));

const cases: { name: string; plan: Record<string, unknown>; data: Dataset }[] = [
  {
    name: "an MLP (relu, sigmoid, binary cross-entropy)",
    data: separableData(12),
    plan: {
      data: {},
      model: [{ dense: { units: 6, activation: "relu" } }, { dense: { units: 1, activation: "sigmoid" } }],
      loss: "binaryCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.1 },
    },
  },
  {
    name: "an MLP without biases, softmax",
    data: threeClassData(10),
    plan: {
      data: {},
      model: [
        { dense: { units: 5, activation: "tanh", useBias: false } },
        { dense: { units: 3, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.1 },
    },
  },
  {
    name: "a CNN (same conv, max pool, strided conv, dense softmax)",
    data: imageData(9),
    plan: {
      data: { input: { height: 6, width: 6, channels: 1 } },
      model: [
        { conv2d: { filters: 3, kernelSize: 3, activation: "relu", padding: "same" } },
        { maxPooling2d: { poolSize: 2 } },
        { conv2d: { filters: 4, kernelSize: 2, strides: 2, activation: "relu" } },
        { flatten: {} },
        { dense: { units: 2, activation: "softmax" } },
      ],
      loss: "categoricalCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.1 },
    },
  },
];

/** Each sample's gradient, one sample at a time on tfjs's cpu backend (the reference). */
function perExampleGradients(
  model: tf.LayersModel,
  plan: ReturnType<typeof parsePlan>,
  data: Dataset,
  shape: number[],
) {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const size = shape.reduce((a, b) => a * b, 1);
  const out: Float32Array[] = [];
  for (let r = 0; r < data.rows; r++) {
    const x = tf.tensor((data.x as Float32Array).subarray(r * size, (r + 1) * size), [1, ...shape]);
    const y = labelTensor(plan.loss, data.y.subarray(r, r + 1), outputUnits(model));
    const { value, grads } = tf.variableGrads(
      () => computeLoss(plan.loss, y, model.apply(x, { training: true }) as tf.Tensor),
      variables,
    );
    out.push(Float32Array.from(variables.flatMap((v) => Array.from(grads[v.name].dataSync()))));
    tf.dispose([x, y, value, ...Object.values(grads)]);
  }
  return out;
}

const norm = (g: Float32Array) => Math.sqrt(g.reduce((s, v) => s + v * v, 0));

describe("per-sample clipping on the kernels (book-keeping, no per-sample backward pass)", () => {
  for (const c of cases) {
    it(`Σ clipped gradients of ${c.name} equal per-example gradients clipped by hand`, () => {
      const plan = parsePlan(c.plan);
      const model = buildModel(plan, c.data.sampleShape, { seed: 5 });
      const spec = describeNetwork(model, plan.loss);
      assert.ok(!("unsupported" in spec), JSON.stringify(spec));
      const rows = c.data.rows;
      const trainer = createNetworkTrainer(spec, {
        maxRows: rows,
        optimizer: optimizerSpec(plan.optimizer),
        fedproxMu: 0,
        correction: false,
        clipping: true,
      });
      trainer.params.set(model.trainableWeights.flatMap((w) => Array.from(w.read().dataSync() as Float32Array)));
      const reference = perExampleGradients(model, plan, c.data, c.data.sampleShape);
      const norms = reference.map(norm).sort((a, b) => a - b);
      // The median norm: about half the samples are clipped, half pass unchanged.
      const clipNorm = norms[Math.floor(rows / 2)];
      assert.ok(norms[0] < clipNorm && clipNorm < norms[rows - 1], "the case must clip some samples and not others");
      const expected = new Float64Array(trainer.grads.length);
      for (const g of reference) {
        const factor = Math.min(1, clipNorm / norm(g));
        for (let i = 0; i < g.length; i++) expected[i] += factor * g[i];
      }

      trainer.x.set(c.data.x as Float32Array);
      trainer.labels.set(c.data.y);
      trainer.computeClippedGradients(rows, clipNorm);
      const scale = Math.max(...expected.map(Math.abs));
      for (let i = 0; i < expected.length; i++) {
        assert.ok(
          Math.abs(trainer.grads[i] - expected[i]) <= 1e-5 * scale,
          `grad[${i}]: ${trainer.grads[i]} vs ${expected[i]}`,
        );
      }
      // With a bound above every norm, clipping changes nothing: the plain (undivided) batch gradient.
      trainer.computeClippedGradients(rows, norms[rows - 1] * 2);
      const clipped = Float32Array.from(trainer.grads);
      trainer.computeGradients(rows, 1);
      for (let i = 0; i < clipped.length; i++) assert.ok(Math.abs(clipped[i] - trainer.grads[i]) <= 1e-5 * scale);
      model.dispose();
    });
  }
});

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/ml/backend.js";
import { describeNetwork, type NetworkSpec } from "../../src/ml/engine/network.js";
import { GroupNormalization } from "../../src/ml/group-normalization.js";
import { buildModel, paramNames } from "../../src/ml/model.js";
import { type Plan, parsePlan } from "../../src/ml/plan.js";
import { checkPlanShapes, planCost } from "../../src/ml/plan-size.js";
import { createRng } from "../../src/ml/rng.js";
import { assertTfjsGradients, trainOnBothEngines } from "../support/engines.js";
import { imageData, threeClassData, trainingArgs } from "./synthetic.js";

/**
 * Group normalization (issue 28): fbm's tfjs layer against Keras 3's formula, saved and loaded by name; the
 * kernels' forward pass and gradients against tfjs's autograd through that layer; whole trainings on both
 * engines (1 and 2 threads: per sample, nothing exchanged); `groups` that do not divide the channels refused.
 */

before(() => selectBackend({ prefer: "cpu" }));
after(() => delete process.env.FBM_ENGINE);

const sgd = { name: "sgd" as const, learning_rate: 0.1 };
const imagePlan = (norm: Record<string, unknown>) =>
  parsePlan({
    data: {},
    model: [
      { conv2d: { filters: 6, kernelSize: 3, padding: "same", activation: "relu" } },
      { groupNormalization: norm },
      { conv2d: { filters: 4, kernelSize: 2 } },
      { groupNormalization: { groups: 1 } },
      { flatten: {} },
      { dense: { units: 2, activation: "softmax" } },
    ],
    loss: "sparseCategoricalCrossentropy",
    optimizer: sgd,
  });

function specOf(model: tf.LayersModel, plan: Plan): NetworkSpec {
  const spec = describeNetwork(model, plan.loss);
  assert.ok(!("unsupported" in spec), JSON.stringify(spec));
  return spec;
}

/** Keras 3's GroupNormalization on one [samples, positions, channels] array, written out. */
function reference(
  x: Float32Array,
  samples: number,
  channels: number,
  groups: number,
  eps: number,
  gamma: number[],
  beta: number[],
) {
  const positions = x.length / samples / channels;
  const per = channels / groups;
  const y = new Float32Array(x.length);
  for (let s = 0; s < samples; s++) {
    for (let g = 0; g < groups; g++) {
      const at = (p: number, c: number) => (s * positions + p) * channels + g * per + c;
      let sum = 0;
      for (let p = 0; p < positions; p++) for (let c = 0; c < per; c++) sum += x[at(p, c)];
      const mean = sum / (positions * per);
      let squares = 0;
      for (let p = 0; p < positions; p++) for (let c = 0; c < per; c++) squares += (x[at(p, c)] - mean) ** 2;
      const inv = 1 / Math.sqrt(squares / (positions * per) + eps);
      for (let p = 0; p < positions; p++)
        for (let c = 0; c < per; c++) y[at(p, c)] = (x[at(p, c)] - mean) * inv * gamma[g * per + c] + beta[g * per + c];
    }
  }
  return y;
}

describe("GroupNormalization (tfjs layer)", () => {
  it("normalizes each sample's group of channels over its positions, then γ·x̂ + β per channel, as Keras 3", () => {
    const layer = new GroupNormalization({ groups: 2, epsilon: 0.01 });
    const rng = createRng(5);
    const x = Float32Array.from({ length: 3 * 4 * 5 * 6 }, () => rng.next() * 4 - 1);
    layer.build([null, 4, 5, 6]);
    const gamma = [1.5, -0.5, 2, 0.25, 1, 3];
    const beta = [0.1, 0.2, -0.3, 0.4, 0, -1];
    layer.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta)]);
    const y = (layer.apply(tf.tensor(x, [3, 4, 5, 6])) as tf.Tensor).dataSync();
    const expected = reference(x, 3, 6, 2, 0.01, gamma, beta);
    for (let i = 0; i < y.length; i++)
      assert.ok(Math.abs(y[i] - expected[i]) < 1e-5, `${i}: ${y[i]} vs ${expected[i]}`);
    assert.deepEqual(
      layer.weights.map((w) => w.originalName.split("/").pop()),
      ["gamma", "beta"],
    );
  });

  it("is saved and loaded by its class name with its options and weights; names its weights from the plan", async () => {
    const plan = imagePlan({ groups: 3, epsilon: 0.02, center: false });
    const model = buildModel(plan, [5, 5, 1], { seed: 2 });
    assert.deepEqual(
      paramNames(model).filter((n) => n.includes("group")),
      ["1.groupNormalization.gamma", "3.groupNormalization.gamma", "3.groupNormalization.beta"],
    );
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    const layer = loaded.layers.find((l) => l.getClassName() === "GroupNormalization") as GroupNormalization;
    assert.deepEqual([layer.groups, layer.epsilon, layer.center, layer.scale], [3, 0.02, false, true]);
    const x = tf.tensor(imageData(4, 5).x as Float32Array, [4, 5, 5, 1]);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6);
    // Variables are named from the plan: free them for the models of the next tests.
    model.dispose();
    loaded.dispose();
    x.dispose();
  });

  it("refuses groups that do not divide the channels in one line naming the layer, before any tfjs work", () => {
    const plan = imagePlan({ groups: 4 });
    const message =
      'layer "groupNormalization#2" (groupNormalization) has groups: 4, which does not divide its 6 channels (input [5, 5, 6]): choose a divisor of 6';
    assert.throws(
      () => checkPlanShapes(plan, [5, 5, 1]),
      (e: Error) => e.message === `Cannot build the model: ${message}` && !e.message.includes("\n"),
    );
    assert.throws(
      () => buildModel(plan, [5, 5, 1], { seed: 1 }),
      (e: Error) => e.message === `Cannot build the model: ${message}`,
    );
    // Keras's default of 32 groups does not divide 6 channels either.
    assert.throws(
      () => checkPlanShapes(imagePlan({}), [5, 5, 1]),
      /has groups: 32, which does not divide its 6 channels/,
    );
    assert.equal(planCost(imagePlan({ groups: 6 }), [5, 5, 1]).params, 6 * 10 + 2 * 6 + 4 * 25 + 2 * 4 + 2 * 64 + 2);
  });
});

describe("group normalization on the kernels", () => {
  for (const [name, plan, shape] of [
    ["on images, γ and β, then groups of 4 channels", imagePlan({ groups: 3, epsilon: 0.01 }), [5, 5, 1]],
    ["on images without γ or β", imagePlan({ groups: 2, center: false, scale: false }), [5, 5, 1]],
    [
      "on volumes",
      parsePlan({
        data: {},
        model: [
          { conv3d: { filters: 4, kernelSize: 2, activation: "relu" } },
          { groupNormalization: { groups: 2 } },
          { flatten: {} },
          { dense: { units: 2, activation: "softmax" } },
        ],
        loss: "sparseCategoricalCrossentropy",
        optimizer: sgd,
      }),
      [4, 4, 3, 1],
    ],
    [
      "on dense layers, and on the input batch itself",
      parsePlan({
        data: {},
        model: [
          { groupNormalization: { groups: 2 } },
          { dense: { units: 6, activation: "tanh" } },
          { groupNormalization: { groups: 3 } },
          { dense: { units: 3, activation: "softmax" } },
        ],
        loss: "sparseCategoricalCrossentropy",
        optimizer: sgd,
      }),
      [4],
    ],
  ] as const) {
    it(`loss and every gradient equal tfjs's autograd: ${name}`, () => {
      const model = buildModel(plan, [...shape], { seed: 4 });
      // Weights away from their initial ones and zeros, so a γ or β in the wrong place shows.
      const rng = createRng(9);
      for (const w of model.trainableWeights) {
        const shift = tf.tensor(
          Float32Array.from({ length: w.read().size }, () => rng.next() - 0.5),
          w.read().shape,
        );
        w.write(tf.add(w.read(), shift));
      }
      const spec = specOf(model, plan);
      assert.ok(spec.layers.some((op) => op.kind === "groupNorm"));
      const classes = shape.length === 1 ? 3 : 2;
      try {
        assertTfjsGradients(model, spec, { labels: [0, 1, 1, 0, 1, classes - 1], classes, seed: 11 });
      } finally {
        model.dispose();
      }
    });
  }

  for (const threads of [1, 2]) {
    it(`trains to tfjs's parameters on ${threads} thread${threads === 1 ? "" : "s"}`, async () => {
      const plan = parsePlan({
        data: {},
        model: [
          // 16×16 images at batch 32: enough arithmetic a step for choose-engine to share it between threads.
          { conv2d: { filters: 16, kernelSize: 3, padding: "same", activation: "relu" } },
          { groupNormalization: { groups: 4 } },
          { maxPooling2d: { poolSize: 2 } },
          { conv2d: { filters: 8, kernelSize: 3 } },
          { groupNormalization: { groups: 2, epsilon: 0.01 } },
          { maxPooling2d: { poolSize: 2 } },
          { flatten: {} },
          { dense: { units: 2, activation: "softmax" } },
        ],
        loss: "sparseCategoricalCrossentropy",
        optimizer: { name: "adam", learning_rate: 0.01 },
      });
      const args = trainingArgs({ epochs: 2, batchSize: 32, testOnLocal: true, metrics: ["loss", "accuracy"] });
      const { fast } = await trainOnBothEngines(
        { plan, data: imageData(96, 16), args },
        { threads, engine: `kernels, ${threads} thread${threads === 1 ? "" : "s"}` },
      );
      assert.ok(fast.params.some((p) => p.name === "1.groupNormalization.beta" && p.data.some((v) => v !== 0)));
    });
  }

  it("an MLP with group normalization trains on the kernels to tfjs's parameters (sgd momentum)", async () => {
    const plan = parsePlan({
      data: {},
      model: [
        { dense: { units: 12, activation: "relu" } },
        { groupNormalization: { groups: 3 } },
        { dense: { units: 3, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.1, momentum: 0.9 },
    });
    await trainOnBothEngines({ plan, data: threeClassData(120), args: trainingArgs({ epochs: 3, batchSize: 8 }) });
  });
});

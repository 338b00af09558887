import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/ml/backend.js";
import { createRowSource } from "../../../src/ml/batches.js";
import { chooseEngine } from "../../../src/ml/engine/choose-engine.js";
import { createLocalRunner, createParallelRunner } from "../../../src/ml/engine/kernel-runner.js";
import { describeNetwork } from "../../../src/ml/engine/network.js";
import { optimizerSpec } from "../../../src/ml/engine/trainer.js";
import { buildModel } from "../../../src/ml/model.js";
import { parsePlan } from "../../../src/ml/plan.js";
import { createRng } from "../../../src/ml/rng.js";
import type { Dataset } from "../../../src/ml/types.js";
import { assertTfjsGradients, sgdTrainer, trainOnBothEngines, trainSteps, trainWith } from "../../support/engines.js";
import { relativeDifference } from "../../support/params.js";
import { imageData, trainingArgs } from "../synthetic.js";

/**
 * Volumes, transposed convolutions and upsampling on the kernels engine against tfjs's general path:
 * same data, batches and seeds, so the trained parameters must agree up to float rounding.
 */

before(() => selectBackend({ prefer: "cpu" }));
after(() => delete process.env.FBM_ENGINE);

/** Tiny volumes [d, h, w, 1]: class 1 has a bright left half in every slice, class 0 a bright right half. */
function volumeData(rows: number, [d, h, w]: number[], seed = 13): Dataset {
  const rng = createRng(seed);
  const size = d * h * w;
  const x = new Float32Array(rows * size);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    y[r] = r % 2;
    for (let i = 0; i < size; i++) {
      const bright = i % w < w / 2 === (y[r] === 1);
      x[r * size + i] = (bright ? 0.8 : 0.1) + rng.next() * 0.1;
    }
  }
  return { x, y, rows, sampleShape: [d, h, w, 1], classes: ["right", "left"] };
}

const cases: { name: string; plan: Record<string, unknown>; data: Dataset }[] = [
  {
    name: "3-D CNN: same conv3d, max pooling 3d, strided valid conv3d, categorical cross-entropy, adam",
    data: volumeData(48, [4, 6, 6]),
    plan: {
      data: {},
      model: [
        { conv3d: { filters: 3, kernelSize: 3, activation: "relu", padding: "same" } },
        { maxPooling3d: { poolSize: 2 } },
        { conv3d: { filters: 4, kernelSize: [1, 2, 2], strides: [1, 2, 1], activation: "elu" } },
        { flatten: {} },
        { dense: { units: 2, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 0.01 },
    },
  },
  {
    name: "3-D CNN: valid conv3d, average pooling 3d, same-padded overlapping max pooling 3d, sgd",
    data: volumeData(40, [5, 5, 6]),
    plan: {
      data: {},
      model: [
        { conv3d: { filters: 2, kernelSize: 2, activation: "tanh" } },
        { averagePooling3d: { poolSize: 2, strides: 1 } },
        { maxPooling3d: { poolSize: 3, strides: 2, padding: "same" } },
        { flatten: {} },
        { dense: { units: 1, activation: "sigmoid" } },
      ],
      loss: "binaryCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.2 },
    },
  },
  {
    name: "encoder-decoder: conv2d, max pooling, conv2dTranspose (same and valid), rmsprop",
    data: imageData(48, 6),
    plan: {
      data: {},
      model: [
        { conv2d: { filters: 3, kernelSize: 3, activation: "relu", padding: "same" } },
        { maxPooling2d: { poolSize: 2 } },
        { conv2dTranspose: { filters: 4, kernelSize: 2, strides: 2, padding: "same", activation: "relu" } },
        { conv2dTranspose: { filters: 2, kernelSize: 3, strides: 2, activation: "sigmoid" } },
        { flatten: {} },
        { dense: { units: 2, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "rmsprop", learning_rate: 0.01 },
    },
  },
  {
    // Batch 16: fbm replaces tfjs-backend-cpu's resizeNearestNeighbor gradient, wrong past a batch's first sample.
    name: "upsampling: conv2d, upSampling2d by (2, 3), strided conv2d, sgd momentum",
    data: imageData(48, 6),
    plan: {
      data: {},
      model: [
        { conv2d: { filters: 2, kernelSize: 3, activation: "relu" } },
        { upSampling2d: { size: [2, 3] } },
        { conv2d: { filters: 3, kernelSize: 3, strides: 2, activation: "relu" } },
        { flatten: {} },
        { dense: { units: 2, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.05, momentum: 0.9 },
    },
  },
  {
    name: "3-D upsampling: conv3d, upSampling3d by (1, 2, 2) and by 2, strided conv3d, adam",
    data: volumeData(40, [2, 4, 4]),
    plan: {
      data: {},
      model: [
        { conv3d: { filters: 2, kernelSize: 2, activation: "relu", padding: "same" } },
        { upSampling3d: { size: [1, 2, 2] } },
        { upSampling3d: {} },
        { conv3d: { filters: 3, kernelSize: 3, strides: 2, activation: "relu" } },
        { flatten: {} },
        { dense: { units: 2, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 0.01 },
    },
  },
];

describe("the kernels engine trains volumes, transposed convolutions and upsampling like tfjs", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const plan = parsePlan(c.plan);
      const args = trainingArgs({ epochs: 2 });
      const { fast } = await trainOnBothEngines({ plan, data: c.data, args });
      const initial = buildModel(plan, c.data.sampleShape, { seed: args.seed });
      const start = initial.getWeights().map((w) => w.dataSync());
      initial.dispose();
      const moved = fast.params.some((t, i) => t.data.some((v, j) => v !== start[i][j]));
      assert.ok(moved, "training left the parameters where they started");
    });
  }

  it("runs these layers on two threads to the one-thread parameters, up to float rounding", async () => {
    const plan = parsePlan(cases[0].plan);
    const args = trainingArgs({ epochs: 1 });
    const one = await trainWith("kernels", { plan, data: cases[0].data, args, threads: 1 });
    const two = await trainWith("kernels", { plan, data: cases[0].data, args, threads: 2 });
    assert.ok(relativeDifference(two.params, one.params) < 1e-4);
  });

  it("leaves DP-SGD with a conv3d on tfjs (per-sample clipping covers dense and conv2d)", () => {
    const plan = parsePlan(cases[0].plan);
    const model = buildModel(plan, [4, 6, 6, 1], { seed: 1 });
    try {
      const choice = chooseEngine({ model, plan, backend: "cpu", batchSize: 8, perSampleClipping: true, env: {} });
      assert.equal(choice.engine, "tfjs");
      assert.match(choice.reason ?? "", /per-sample clipping/);
      assert.equal(chooseEngine({ model, plan, backend: "cpu", batchSize: 8, env: {} }).engine, "kernels");
    } finally {
      model.dispose();
      tf.disposeVariables();
    }
  });
});

describe("conv3dTranspose on the kernels (tfjs has no gradient for it)", () => {
  it("the trainer's loss matches tfjs's forward pass and its gradient matches central differences", () => {
    const rows = 3;
    const model = tf.sequential({
      layers: [
        tf.layers.conv3dTranspose({
          filters: 2,
          kernelSize: 2,
          strides: 2,
          padding: "same",
          activation: "tanh",
          inputShape: [2, 3, 2, 2],
          biasInitializer: "glorotUniform",
        }),
        tf.layers.conv3dTranspose({ filters: 2, kernelSize: [2, 1, 2], strides: [1, 2, 1], activation: "tanh" }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: "softmax" }),
      ],
    });
    try {
      const spec = describeNetwork(model, "sparseCategoricalCrossentropy");
      assert.ok(!("unsupported" in spec), JSON.stringify(spec));
      assert.deepEqual(
        spec.layers.map((op) => op.kind),
        ["convTranspose", "convTranspose", "dense"],
      );
      const trainer = sgdTrainer(spec, rows);
      const params = model.getWeights().flatMap((w) => Array.from(w.dataSync()));
      trainer.params.set(params);
      const rng = createRng(3);
      const x = Float32Array.from({ length: rows * spec.inputSize }, () => rng.next() * 2 - 1);
      trainer.x.set(x);
      trainer.labels.set([0, 2, 1]);
      const sum = trainer.computeGradients(rows, rows);
      const grads = Float64Array.from(trainer.grads);
      const reference = tf.tidy(() => {
        const p = model.predict(tf.tensor(x, [rows, 2, 3, 2, 2])) as tf.Tensor;
        const labels = tf.oneHot(tf.tensor1d([0, 2, 1], "int32"), 3);
        return tf.sum(tf.mul(labels, tf.log(p)).neg()).dataSync()[0];
      });
      assert.ok(Math.abs(sum - reference) < 1e-4 * Math.max(1, reference), `loss ${sum} vs tfjs ${reference}`);
      const eps = 1e-2;
      let worst = 0;
      for (let i = 0; i < params.length; i += 3) {
        const at = (delta: number) => {
          trainer.params.set(params);
          trainer.params[i] = params[i] + delta;
          return trainer.computeGradients(rows, rows);
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps * rows);
        worst = Math.max(worst, Math.abs(numeric - grads[i]));
      }
      assert.ok(worst < 1e-4, `gradient differs from central differences by ${worst}`);
    } finally {
      model.dispose();
    }
  });
});

describe("graphs on the kernels: skip connections through concatenate and add", () => {
  /** A small U-Net-like graph with a residual add whose input also feeds a concatenation (two consumers). */
  function unet(): tf.LayersModel {
    const input = tf.input({ shape: [6, 6, 2] });
    const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
      layer.apply(x) as tf.SymbolicTensor;
    const c1 = apply(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: "same", activation: "relu" }), input);
    const down = apply(tf.layers.maxPooling2d({ poolSize: 2 }), c1);
    const c2 = apply(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", activation: "elu" }), down);
    const up = apply(tf.layers.upSampling2d({ size: [2, 2] }), c2);
    const t = apply(tf.layers.conv2dTranspose({ filters: 2, kernelSize: 2, strides: 2, padding: "same" }), c2);
    const cat = apply(tf.layers.concatenate(), [up, c1]);
    const cat2 = apply(tf.layers.concatenate(), [cat, input]);
    const c3 = apply(tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: "same", activation: "tanh" }), cat2);
    const sum = apply(tf.layers.add(), [c3, t]);
    const flat = apply(tf.layers.flatten(), sum);
    const output = apply(tf.layers.dense({ units: 3, activation: "softmax" }), flat);
    return tf.model({ inputs: input, outputs: output });
  }

  it("describes the wiring and computes tfjs's gradients of every weight", () => {
    const model = unet();
    try {
      const spec = describeNetwork(model, "sparseCategoricalCrossentropy");
      assert.ok(!("unsupported" in spec), JSON.stringify(spec));
      assert.deepEqual(
        spec.layers.map((op) => op.kind),
        ["conv2d", "maxPool", "conv2d", "upSample", "concat", "concat", "conv2d", "convTranspose", "add", "dense"],
      );
      // tfjs orders a graph's layers by depth; c1 (0) feeds the pooling and a concatenation, c2 (2) two branches.
      assert.deepEqual(spec.inputs, [[-1], [0], [1], [2], [3, 0], [4, -1], [5], [2], [6, 7], [8]]);
      const rows = 4;
      const { trainer, x } = assertTfjsGradients(model, spec, { labels: [0, 2, 1, 2], classes: 3, seed: 5 });
      const predicted = trainer.predict(rows);
      const expected = tf.tidy(() => (model.predict(tf.tensor(x, [rows, 6, 6, 2])) as tf.Tensor).dataSync());
      for (const [i, v] of expected.entries()) assert.ok(Math.abs(predicted[i] - v) < 1e-5, `prediction ${i}`);
    } finally {
      model.dispose();
    }
  });
});

describe("a graph on worker threads", () => {
  it("trains the U-Net-like graph on two threads to one thread's parameters", async () => {
    const input = tf.input({ shape: [4, 4, 1] });
    const c1 = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: "same", activation: "relu" }).apply(input);
    const down = tf.layers.maxPooling2d({ poolSize: 2 }).apply(c1);
    const up = tf.layers.upSampling2d({ size: [2, 2] }).apply(down);
    const cat = tf.layers.concatenate().apply([up as tf.SymbolicTensor, c1 as tf.SymbolicTensor]);
    const c2 = tf.layers.conv2d({ filters: 3, kernelSize: 1, activation: "tanh" }).apply(cat);
    const sum = tf.layers.add().apply([c2 as tf.SymbolicTensor, c1 as tf.SymbolicTensor]);
    const out = tf.layers
      .dense({ units: 2, activation: "softmax" })
      .apply(tf.layers.flatten().apply(sum)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    try {
      const spec = describeNetwork(model, "sparseCategoricalCrossentropy");
      assert.ok(!("unsupported" in spec) && spec.inputs, JSON.stringify(spec));
      const data = imageData(64, 4);
      const init = {
        spec,
        source: createRowSource(data),
        params: Float32Array.from(model.getWeights().flatMap((w) => Array.from(w.dataSync()))),
        options: {
          maxRows: 32,
          optimizer: optimizerSpec({ name: "adam", learning_rate: 0.01 }),
          fedproxMu: 0,
          correction: false,
        },
      };
      const one = await trainSteps(createLocalRunner(init), 6, data.rows);
      const two = await trainSteps(createParallelRunner(init, 2), 6, data.rows);
      let worst = 0;
      for (let i = 0; i < one.length; i++) worst = Math.max(worst, Math.abs(one[i] - two[i]));
      assert.ok(worst < 1e-5, `parameters differ by ${worst}`);
      assert.ok(
        one.some((v, i) => v !== init.params[i]),
        "training left the parameters where they started",
      );
    } finally {
      model.dispose();
    }
  });
});

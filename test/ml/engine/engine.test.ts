import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { currentBackend, selectBackend } from "../../../src/ml/backend.js";
import { createRowSource } from "../../../src/ml/batches.js";
import { chooseEngine } from "../../../src/ml/engine/choose-engine.js";
import { createKernelPredictor, kernelPredictor } from "../../../src/ml/engine/kernels-predictor.js";
import { describeNetwork, type NetworkSpec } from "../../../src/ml/engine/network.js";
import {
  byFullConvolution,
  createNetworkTrainer,
  directConvolution,
  directFullConvolution,
  optimizerSpec,
  transposedFilterGradient,
} from "../../../src/ml/engine/trainer.js";
import { computeLoss, labelTensor } from "../../../src/ml/losses.js";
import { taskKind } from "../../../src/ml/metrics.js";
import { buildModel } from "../../../src/ml/model.js";
import { parsePlan } from "../../../src/ml/plan.js";
import type { Dataset } from "../../../src/ml/types.js";
import { trainOnBothEngines, trainWith } from "../../support/engines.js";
import { relativeDifference } from "../../support/params.js";
import { imageData, linearData, separableData, threeClassData, trainingArgs } from "../synthetic.js";

/**
 * The kernels engine against tfjs's general path (the reference): same data, same batches, same seeds,
 * so the trained parameters must agree up to float rounding.
 */

before(() => selectBackend({ prefer: "cpu" }));
after(() => delete process.env.FBM_ENGINE);

const dense = (units: number, activation?: string) => ({ dense: { units, ...(activation ? { activation } : {}) } });
const image = { input: { height: 6, width: 6, channels: 1 } };
/** A plan: `model` trained with `loss` and `optimizer`; `data` its data section (images declare their input). */
const planOf = (model: unknown[], loss: string, optimizer: Record<string, unknown>, data = {}) => ({
  data,
  model,
  loss,
  optimizer,
});
const cases: { name: string; plan: Record<string, unknown>; data: Dataset; extra?: Record<string, number> }[] = [
  {
    name: "relu/sigmoid, binary cross-entropy, sgd",
    data: separableData(200),
    plan: planOf([dense(8, "relu"), dense(1, "sigmoid")], "binaryCrossentropy", { name: "sgd", learning_rate: 0.1 }),
  },
  {
    name: "tanh/softmax, sparse categorical cross-entropy, adam",
    data: threeClassData(200),
    plan: planOf([dense(8, "tanh"), dense(3, "softmax")], "sparseCategoricalCrossentropy", {
      name: "adam",
      learning_rate: 0.01,
    }),
  },
  {
    name: "elu/linear, mean squared error, sgd momentum, FedProx",
    data: linearData(200),
    extra: { fedproxMu: 0.1 },
    plan: planOf([dense(4, "elu"), dense(1)], "meanSquaredError", { name: "sgd", learning_rate: 0.05, momentum: 0.9 }),
  },
  {
    name: "sigmoid/linear, huber, rmsprop",
    data: linearData(200),
    plan: planOf([dense(4, "sigmoid"), dense(1)], "huberLoss", { name: "rmsprop", learning_rate: 0.01 }),
  },
  {
    name: "relu6/linear, mean absolute error, adagrad",
    data: linearData(200),
    plan: planOf([dense(4, "relu6"), dense(1)], "meanAbsoluteError", { name: "adagrad", learning_rate: 0.1 }),
  },
  {
    name: "no bias, sgd with L2 weight decay",
    data: separableData(200),
    plan: planOf(
      [{ dense: { units: 6, activation: "relu", useBias: false } }, dense(1, "sigmoid")],
      "binaryCrossentropy",
      { name: "sgd", learning_rate: 0.1, weight_decay: 0.01 },
    ),
  },
  {
    name: "CNN: conv same + max pool + strided conv, categorical cross-entropy, adamw",
    data: imageData(60),
    plan: planOf(
      [
        { conv2d: { filters: 3, kernelSize: 3, activation: "relu", padding: "same" } },
        { maxPooling2d: { poolSize: 2 } },
        { conv2d: { filters: 4, kernelSize: 2, strides: 2, activation: "relu" } },
        { flatten: {} },
        dense(2, "softmax"),
      ],
      "categoricalCrossentropy",
      { name: "adamw", learning_rate: 0.01 },
      image,
    ),
  },
  {
    name: "CNN: valid conv, overlapping same-padded pooling (window 3, stride 2), sgd",
    data: imageData(40, 7),
    plan: planOf(
      [
        { conv2d: { filters: 2, kernelSize: 2, activation: "tanh" } },
        { maxPooling2d: { poolSize: 3, strides: 2, padding: "same" } },
        { flatten: {} },
        dense(2, "softmax"),
      ],
      "sparseCategoricalCrossentropy",
      { name: "sgd", learning_rate: 0.2 },
      { input: { height: 7, width: 7, channels: 1 } },
    ),
  },
  {
    name: "CNN: average pooling and global average pooling, rmsprop",
    data: imageData(40, 8),
    plan: planOf(
      [
        { conv2d: { filters: 4, kernelSize: 3, activation: "relu" } },
        { averagePooling2d: { poolSize: 2 } },
        { conv2d: { filters: 5, kernelSize: 2, activation: "elu" } },
        { globalAveragePooling2d: {} },
        dense(2, "softmax"),
      ],
      "sparseCategoricalCrossentropy",
      { name: "rmsprop", learning_rate: 0.01 },
      { input: { height: 8, width: 8, channels: 1 } },
    ),
  },
];

describe("the kernels engine trains to the parameters of tfjs's path", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const plan = parsePlan(c.plan);
      const args = trainingArgs({ epochs: 3, ...c.extra });
      await trainOnBothEngines({ plan, data: c.data, args });
    });
  }

  it("applies SCAFFOLD's gradient correction like the tfjs path", async () => {
    const plan = parsePlan(cases[0].plan);
    const model = buildModel(plan, [4], { seed: 1 });
    const correction = model.trainableWeights.map((w, i) => ({
      name: ["0.dense.kernel", "0.dense.bias", "1.dense.kernel", "1.dense.bias"][i],
      shape: w.shape as number[],
      dtype: "float32" as const,
      data: Float32Array.from(
        { length: (w.shape as number[]).reduce((a, b) => a * b, 1) },
        (_, j) => ((j % 5) - 2) * 0.01,
      ),
    }));
    model.dispose();
    const args = trainingArgs({ epochs: 2 });
    const reference = await trainWith("tfjs", { plan, data: separableData(200), args, gradientCorrection: correction });
    const fast = await trainWith("kernels", {
      plan,
      data: separableData(200),
      args,
      gradientCorrection: correction,
      threads: 1,
    });
    assert.ok(relativeDifference(fast.params, reference.params) < 1e-5);
    const uncorrected = await trainWith("kernels", { plan, data: separableData(200), args, threads: 1 });
    assert.ok(relativeDifference(uncorrected.params, reference.params) > 1e-3, "the correction changed nothing");
  });
});

describe("validation during a round runs on the kernels with tfjs's figures", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const plan = parsePlan(c.plan);
      const metrics = taskKind(plan) === "regression" ? ["loss", "mae", "mse"] : ["loss", "accuracy", "auc"];
      const args = trainingArgs({ epochs: 2, testOnGlobal: true, testOnLocal: true, metrics, ...c.extra });
      const reference = await trainWith("tfjs", { plan, data: c.data, args });
      const fast = await trainWith("kernels", { plan, data: c.data, args, threads: 1 });
      for (const when of ["globalMetrics", "localMetrics"] as const) {
        const [a, b] = [fast[when]!, reference[when]!];
        assert.equal(a.samples, b.samples);
        assert.deepEqual(Object.keys(a.values).sort(), Object.keys(b.values).sort());
        for (const name of Object.keys(b.values)) {
          assert.ok(
            Math.abs(a.values[name] - b.values[name]) < 1e-4,
            `${when} ${name}: ${a.values[name]} vs ${b.values[name]}`,
          );
        }
      }
    });
  }

  it("is chosen where training would run on the kernels, and not under FBM_ENGINE=tfjs", () => {
    const plan = parsePlan(cases[0].plan);
    const data = separableData(40);
    const model = buildModel(plan, data.sampleShape, { seed: 1 });
    try {
      const choice = () => chooseEngine({ model, plan, backend: currentBackend(), batchSize: 16 });
      assert.ok(kernelPredictor(choice(), 16), "validation left the kernels");
      process.env.FBM_ENGINE = "tfjs";
      assert.equal(kernelPredictor(choice(), 16), undefined);
    } finally {
      delete process.env.FBM_ENGINE;
      model.dispose();
    }
  });

  it("passes dropout through at inference, as tfjs's predict does", () => {
    const plan = parsePlan(
      planOf([dense(16, "relu"), { dropout: { rate: 0.5 } }, dense(3, "softmax")], "sparseCategoricalCrossentropy", {
        name: "sgd",
        learning_rate: 0.1,
      }),
    );
    const data = threeClassData(50);
    const model = buildModel(plan, data.sampleShape, { seed: 3 });
    try {
      const spec = describeNetwork(model, plan.loss);
      assert.ok(!("unsupported" in spec));
      const params = Float32Array.from(model.trainableWeights.flatMap((w) => Array.from(w.read().dataSync())));
      const rows = Int32Array.from({ length: data.rows }, (_, i) => i);
      const source = createRowSource(data);
      // Batches of 16: the last one is partial.
      const fast = createKernelPredictor(spec, 16).predict(params, rows, source);
      const reference = tf.tidy(() => (model.predict(source.x(rows)) as tf.Tensor).dataSync());
      assert.equal(fast.length, reference.length);
      const worst = Math.max(...Array.from(fast, (v, i) => Math.abs(v - reference[i])));
      assert.ok(worst < 1e-5, `outputs differ by ${worst}`);
    } finally {
      model.dispose();
    }
  });
});

describe("dropout on the kernels", () => {
  const withDropout = (rate: number) =>
    parsePlan(
      planOf([dense(16, "relu"), { dropout: { rate } }, dense(1, "sigmoid")], "binaryCrossentropy", {
        name: "sgd",
        learning_rate: 0.2,
      }),
    );

  it("at rate 0 trains exactly like tfjs's path (same batches, identity masks)", async () => {
    const args = trainingArgs({ epochs: 3 });
    const reference = await trainWith("tfjs", { plan: withDropout(0), data: separableData(200), args });
    const fast = await trainWith("kernels", { plan: withDropout(0), data: separableData(200), args, threads: 1 });
    assert.equal(fast.engine, "kernels, 1 thread");
    assert.ok(relativeDifference(fast.params, reference.params) < 1e-5);
  });

  it("at rate 0.5 is deterministic for a seed, differs from no dropout, and still learns", async () => {
    const args = trainingArgs({ epochs: 20, testOnLocal: true });
    const a = await trainWith("kernels", { plan: withDropout(0.5), data: separableData(400), args, threads: 1 });
    const b = await trainWith("kernels", { plan: withDropout(0.5), data: separableData(400), args, threads: 1 });
    const none = await trainWith("kernels", { plan: withDropout(0), data: separableData(400), args, threads: 1 });
    assert.deepEqual(a.params, b.params);
    assert.ok(relativeDifference(a.params, none.params) > 1e-3);
    assert.ok(a.localMetrics!.values.accuracy > 0.9, `accuracy ${a.localMetrics!.values.accuracy}`);
  });
});

/**
 * Asserts that the kernels' loss and gradient of every trainable weight equal tfjs's (cpu) on `data`;
 * `keepUpTo` 0 makes every convolution rebuild its patches or padded input in the backward pass.
 */
function assertGradientsMatchTfjs(planJson: Record<string, unknown>, data: Dataset, keepUpTo?: number): void {
  const plan = parsePlan(planJson);
  const model = buildModel(plan, data.sampleShape, { seed: 3 });
  const spec = describeNetwork(model, plan.loss);
  assert.ok(!("unsupported" in spec));
  const trainer = createNetworkTrainer(spec, {
    maxRows: data.rows,
    optimizer: optimizerSpec(plan.optimizer),
    fedproxMu: 0,
    correction: false,
    keepUpTo,
  });
  let at = 0;
  for (const w of model.trainableWeights) {
    const values = w.read().dataSync() as Float32Array;
    trainer.params.set(values, at);
    at += values.length;
  }
  trainer.x.set(data.x as Float32Array);
  trainer.labels.set(data.y);
  const lossSum = trainer.computeGradients(data.rows, data.rows);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => {
    const y = labelTensor(plan.loss, data.y, 2);
    const x = tf.tensor(data.x, [data.rows, ...data.sampleShape]);
    return computeLoss(plan.loss, y, model.apply(x, { training: true }) as tf.Tensor);
  }, variables);
  assert.ok(Math.abs(lossSum / data.rows - value.dataSync()[0]) < 1e-5);
  at = 0;
  for (const v of variables) {
    const expected = grads[v.name].dataSync();
    const actual = trainer.grads.subarray(at, at + expected.length);
    for (let i = 0; i < expected.length; i++)
      assert.ok(Math.abs(actual[i] - expected[i]) < 1e-5, `${v.name}[${i}]: ${actual[i]} vs ${expected[i]}`);
    at += expected.length;
  }
  tf.dispose([value, ...Object.values(grads)]);
  model.dispose();
}

describe("a CNN's gradients", () => {
  /** A plan of `model` on 7×7×1 images (sgd, sparse categorical cross-entropy) and its layers as the engine describes them. */
  function cnnOf7x7(model: Record<string, unknown>[]): {
    plan: ReturnType<typeof planOf>;
    layers: NetworkSpec["layers"];
  } {
    const plan = planOf(model, "sparseCategoricalCrossentropy", { name: "sgd", learning_rate: 0.1 });
    const spec = describeNetwork(buildModel(parsePlan(plan), [7, 7, 1], { seed: 3 }), "sparseCategoricalCrossentropy");
    assert.ok(!("unsupported" in spec));
    return { plan, layers: spec.layers };
  }

  it("equal tfjs's (cpu) for every trainable weight", () => {
    assertGradientsMatchTfjs(cases[6].plan, imageData(5));
  });

  it("equal tfjs's through convolutions with few filters (input gradient by full convolution, filter gradient transposed)", () => {
    // Non-square windows, same and valid padding: a wrongly turned filter or pad shows in the first layer's gradient.
    const { plan, layers } = cnnOf7x7([
      { conv2d: { filters: 8, kernelSize: 3, padding: "same", activation: "relu" } },
      { conv2d: { filters: 4, kernelSize: [3, 2], padding: "same", activation: "relu" } },
      { conv2d: { filters: 2, kernelSize: [2, 3], padding: "valid", activation: "tanh" } },
      { flatten: {} },
      { dense: { units: 2, activation: "softmax" } },
    ]);
    assert.deepEqual(
      layers.map((op) => op.kind === "conv2d" && [byFullConvolution(op), transposedFilterGradient(op)]),
      [[false, false], [true, true], [true, true], false],
    );
    assertGradientsMatchTfjs(plan, imageData(4, 7));
    assertGradientsMatchTfjs(plan, imageData(4, 7), 0);
  });

  it("equal tfjs's through direct convolutions (8 or 16 filters: no patches, forward, filter and input gradients)", () => {
    // Same and valid padding, non-square windows, a stride of 2 (a padded input cut short of the image),
    // rows of 7 outputs (a last block overlapping the one before) and of 3 (window by window).
    const { plan, layers } = cnnOf7x7([
      { conv2d: { filters: 16, kernelSize: 3, padding: "same", activation: "relu" } },
      { conv2d: { filters: 8, kernelSize: [3, 2], padding: "same", activation: "tanh" } },
      { conv2d: { filters: 8, kernelSize: [2, 3], strides: 2, padding: "valid", activation: "relu" } },
      { conv2d: { filters: 8, kernelSize: 3, padding: "valid", activation: "elu" } },
      { flatten: {} },
      { dense: { units: 2, activation: "softmax" } },
    ]);
    assert.deepEqual(
      layers.map((op) => op.kind === "conv2d" && [directConvolution(op), directFullConvolution(op)]),
      [[true, false], [true, true], [true, false], [true, false], false],
    );
    assertGradientsMatchTfjs(plan, imageData(4, 7));
    // Padded inputs too large to keep: one shared buffer, padded again in the backward pass.
    assertGradientsMatchTfjs(plan, imageData(4, 7), 0);
  });
});

describe("chooseEngine()", () => {
  const plan = (model: unknown[], loss = "sparseCategoricalCrossentropy") =>
    parsePlan({ data: image, model, loss, optimizer: { name: "sgd", learning_rate: 0.1 } });
  const tail = [{ flatten: {} }, dense(2, "softmax")];
  const table: [string, unknown[], RegExp][] = [
    [
      "same-padded average pooling",
      [{ averagePooling2d: { poolSize: 2, padding: "same" } }, ...tail],
      /same-padded average pooling/,
    ],
    [
      "an activation the kernels lack",
      [{ conv2d: { filters: 2, kernelSize: 3, activation: "gelu" } }, ...tail],
      /activation "gelu"/,
    ],
  ];
  for (const [what, layers, reason] of table) {
    it(`leaves a model with ${what} on tfjs and says why`, () => {
      const p = plan(layers);
      const model = buildModel(p, [6, 6, 1], { seed: 1 });
      const choice = chooseEngine({ model, plan: p, backend: "wasm", batchSize: 8, env: {} });
      model.dispose();
      assert.equal(choice.engine, "tfjs");
      assert.match(choice.reason ?? "", reason);
    });
  }

  it("prefers native TensorFlow when it is the backend, and obeys FBM_ENGINE", () => {
    const p = plan([{ conv2d: { filters: 2, kernelSize: 3 } }, ...tail]);
    const model = buildModel(p, [6, 6, 1], { seed: 1 });
    assert.equal(chooseEngine({ model, plan: p, backend: "wasm", batchSize: 8, env: {} }).engine, "kernels");
    assert.equal(chooseEngine({ model, plan: p, backend: "tensorflow", batchSize: 8, env: {} }).engine, "tfjs");
    assert.equal(
      chooseEngine({ model, plan: p, backend: "tensorflow", batchSize: 8, env: { FBM_ENGINE: "kernels" } }).engine,
      "kernels",
    );
    assert.equal(
      chooseEngine({ model, plan: p, backend: "wasm", batchSize: 8, env: { FBM_ENGINE: "tfjs" } }).engine,
      "tfjs",
    );
    assert.throws(
      () => chooseEngine({ model, plan: p, backend: "wasm", batchSize: 8, env: { FBM_ENGINE: "fast" } }),
      /Unknown training engine "fast"/,
    );
    model.dispose();
  });

  it("uses more threads only when a step has enough arithmetic to share, per step and per parameter", () => {
    const small = parsePlan(planOf([dense(1, "sigmoid")], "binaryCrossentropy", { name: "sgd", learning_rate: 0.1 }));
    const mlp = parsePlan(
      planOf([dense(256, "relu"), dense(10, "softmax")], "sparseCategoricalCrossentropy", {
        name: "sgd",
        learning_rate: 0.1,
      }),
    );
    const threadsFor = (p: typeof small, inputs: number, batchSize: number, threads: number, dp = false) => {
      const model = buildModel(p, [inputs], { seed: 1 });
      const choice = chooseEngine({
        model,
        plan: p,
        backend: "wasm",
        batchSize,
        threads,
        env: {},
        perSampleClipping: dp,
      });
      model.dispose();
      return choice.engine === "kernels" ? choice.threads : 0;
    };
    assert.equal(threadsFor(small, 30, 64, 8), 1, "a few thousand FLOP per step");
    assert.equal(threadsFor(mlp, 784, 64, 4), 4, "about 260 FLOP per parameter: a second thread pays");
    assert.equal(threadsFor(mlp, 784, 32, 4), 4, "about 130 FLOP per parameter: shared, no gradient is copied");
    assert.equal(threadsFor(mlp, 784, 16, 4), 1, "about 65 FLOP per parameter: the threads' meeting would cost more");
    assert.equal(threadsFor(mlp, 784, 256, 4), 4);
    assert.equal(threadsFor(mlp, 784, 256, 1), 1);
    // DP-SGD: its steps on one thread, its noise on a second, for models with enough parameters.
    assert.equal(threadsFor(mlp, 784, 64, 4, true), 2);
    assert.equal(threadsFor(mlp, 784, 64, 1, true), 1);
    assert.equal(threadsFor(small, 30, 64, 8, true), 1, "31 parameters: the noise is cheaper than a hand-over");
  });
});

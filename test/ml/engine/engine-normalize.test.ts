import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/ml/backend.js";
import { createRowSource } from "../../../src/ml/batches.js";
import { chooseEngine } from "../../../src/ml/engine/choose-engine.js";
import { createLocalRunner, createParallelRunner } from "../../../src/ml/engine/kernel-runner.js";
import { createKernelPredictor } from "../../../src/ml/engine/kernels-predictor.js";
import { describeNetwork, type NetworkSpec } from "../../../src/ml/engine/network.js";
import { createNetworkTrainer, optimizerSpec } from "../../../src/ml/engine/trainer.js";
import { computeLoss, labelTensor } from "../../../src/ml/losses.js";
import { buildModel } from "../../../src/ml/model.js";
import { getParams, paramNames, setParams } from "../../../src/ml/params.js";
import { type Plan, parsePlan } from "../../../src/ml/plan.js";
import { trainLocal } from "../../../src/ml/train.js";
import { createFedAvg } from "../../../src/researcher/aggregators/fedavg.js";
import { assertClose, sgdTrainer, trainOnBothEngines, trainWith } from "../../support/engines.js";
import { relativeDifference } from "../../support/params.js";
import { imageData, threeClassData, trainingArgs } from "../synthetic.js";

/**
 * Batch and layer normalization on the kernels against tfjs's layers: gradients and moving statistics of
 * a step, whole trainings (trainable and moving weights), validation, parameters that go out to tfjs and
 * come back, and threads (batch statistics exchanged between them, so they are the whole batch's).
 */

before(() => selectBackend({ prefer: "cpu" }));
after(() => delete process.env.FBM_ENGINE);

const cnnPlan = parsePlan({
  data: { input: { height: 8, width: 8, channels: 1 } },
  model: [
    // No bias before batch normalization (as usual): its gradient would be ~0, float noise that Adam's
    // first steps scale up to ±lr on either engine alike.
    { conv2d: { filters: 4, kernelSize: 3, activation: "relu", useBias: false } },
    { batchNormalization: { momentum: 0.8 } },
    { maxPooling2d: { poolSize: 2 } },
    { conv2d: { filters: 6, kernelSize: 2, padding: "same" } },
    { layerNormalization: { epsilon: 0.01 } },
    { flatten: {} },
    { dense: { units: 2, activation: "softmax" } },
  ],
  loss: "sparseCategoricalCrossentropy",
  optimizer: { name: "adam", learning_rate: 0.01 },
});
const mlpPlan = parsePlan({
  data: {},
  model: [
    { dense: { units: 12 } },
    { batchNormalization: { momentum: 0.9, epsilon: 0.01 } },
    { dense: { units: 8, activation: "tanh" } },
    { layerNormalization: {} },
    { dense: { units: 3, activation: "softmax" } },
  ],
  loss: "sparseCategoricalCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1, momentum: 0.9 },
});
const cnnData = imageData(64, 8);
const mlpData = threeClassData(160);

function specOf(model: tf.LayersModel, plan: Plan): NetworkSpec {
  const spec = describeNetwork(model, plan.loss);
  assert.ok(!("unsupported" in spec), JSON.stringify(spec));
  return spec;
}

const flat = (weights: tf.LayerVariable[]) =>
  Float32Array.from(weights.flatMap((w) => Array.from(w.read().dataSync())));

describe("describeNetwork()", () => {
  it("describes batch and layer normalization, with the moving statistics as non-trainable state", () => {
    const model = buildModel(cnnPlan, [8, 8, 1], { seed: 1 });
    const spec = specOf(model, cnnPlan);
    model.dispose();
    assert.deepEqual(
      spec.layers.filter((op) => op.kind === "batchNorm" || op.kind === "layerNorm"),
      [
        { kind: "batchNorm", pixels: 36, c: 4, epsilon: 1e-3, momentum: 0.8, scale: true, center: true },
        { kind: "layerNorm", pixels: 9, c: 6, epsilon: 0.01, momentum: 0, scale: true, center: true },
      ],
    );
    // conv kernel, γ, β, conv kernel, bias, γ, β, dense kernel, bias; moving mean and variance.
    assert.deepEqual(spec.tensorSizes, [36, 4, 4, 96, 6, 6, 6, 54 * 2, 2]);
    assert.deepEqual(spec.stateSizes, [4, 4]);
  });
});

describe("a step with normalization on the kernels", () => {
  for (const [name, plan, data, shape] of [
    ["CNN", cnnPlan, cnnData, [8, 8, 1]],
    ["MLP", mlpPlan, mlpData, mlpData.sampleShape],
  ] as const) {
    it(`${name}: loss, every gradient and the moving statistics after 3 steps equal tfjs's`, () => {
      const model = buildModel(plan, [...shape], { seed: 5 });
      const spec = specOf(model, plan);
      const rows = 12;
      const trainer = createNetworkTrainer(spec, {
        maxRows: rows,
        optimizer: optimizerSpec(plan.optimizer),
        fedproxMu: 0,
        correction: false,
      });
      trainer.params.set(flat(model.trainableWeights));
      trainer.state.set(flat(model.nonTrainableWeights));
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const width = data.x.length / data.rows;
      for (let step = 0; step < 3; step++) {
        const x = (data.x as Float32Array).subarray(step * rows * width, (step + 1) * rows * width);
        const y = data.y.subarray(step * rows, (step + 1) * rows);
        trainer.x.set(x);
        trainer.labels.set(y);
        const lossSum = trainer.computeGradients(rows, rows);
        const units = name === "CNN" ? 2 : 3;
        // tfjs moves its moving statistics in the training forward pass, as the kernels do.
        const { value, grads } = tf.variableGrads(() => {
          const prediction = model.apply(tf.tensor(x, [rows, ...shape]), { training: true }) as tf.Tensor;
          return computeLoss(plan.loss, labelTensor(plan.loss, y, units), prediction);
        }, variables);
        assert.ok(Math.abs(lossSum / rows - value.dataSync()[0]) < 1e-5, `step ${step} loss`);
        assertClose(
          trainer.grads,
          Float32Array.from(variables.flatMap((v) => Array.from(grads[v.name].dataSync()))),
          1e-5,
          `step ${step} gradients`,
        );
        assertClose(trainer.state, flat(model.nonTrainableWeights), 1e-5, `step ${step} moving statistics`);
        tf.dispose([value, ...Object.values(grads)]);
        // The same parameters on both sides for the next step (a step's update is tested elsewhere).
        trainer.params.set(Float32Array.from(trainer.params, (v, i) => v + 0.01 * Math.sin(i + step)));
        let at = 0;
        for (const v of variables) {
          v.assign(tf.tensor(trainer.params.slice(at, at + v.size), v.shape));
          at += v.size;
        }
      }
      const moving = trainer.state;
      assert.ok(
        moving.some((v, i) => v !== (i < moving.length / 2 ? 0 : 1)),
        "the moving statistics never moved",
      );
      model.dispose();
    });
  }

  it("predicts with the moving statistics, as tfjs's predict does", () => {
    const model = buildModel(cnnPlan, [8, 8, 1], { seed: 2 });
    const spec = specOf(model, cnnPlan);
    const state = Float32Array.from([0.1, -0.2, 0.3, 0.05, 0.5, 1.5, 0.8, 2]);
    model.layers[1].setWeights([
      ...model.layers[1].getWeights().slice(0, 2),
      tf.tensor1d(state.subarray(0, 4)),
      tf.tensor1d(state.subarray(4)),
    ]);
    const rows = Int32Array.from({ length: cnnData.rows }, (_, i) => i);
    const source = createRowSource(cnnData);
    const fast = createKernelPredictor(spec, 16).predict(flat(model.trainableWeights), rows, source, state);
    const reference = tf.tidy(() => (model.predict(source.x(rows)) as tf.Tensor).dataSync());
    assertClose(fast, reference, 1e-5, "outputs");
    model.dispose();
  });
});

describe("normalization inside a graph", () => {
  it("a residual block with batch and layer normalization: gradients, moving statistics and predictions equal tfjs's", () => {
    const input = tf.input({ shape: [6, 6, 2] });
    const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
      layer.apply(x) as tf.SymbolicTensor;
    const conv = apply(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: "same", useBias: false }), input);
    // The batch-normalized tensor feeds two layers: its gradient is the sum of both.
    const bn = apply(tf.layers.batchNormalization({ momentum: 0.7 }), conv);
    const branch = apply(tf.layers.conv2d({ filters: 3, kernelSize: 1, activation: "relu" }), bn);
    const ln = apply(tf.layers.layerNormalization({ epsilon: 0.01 }), branch);
    const sum = apply(tf.layers.add(), [ln, bn]);
    const output = apply(tf.layers.dense({ units: 3, activation: "softmax" }), apply(tf.layers.flatten(), sum));
    const model = tf.model({ inputs: input, outputs: output });
    const rows = 5;
    try {
      const spec = describeNetwork(model, "sparseCategoricalCrossentropy");
      assert.ok(!("unsupported" in spec), JSON.stringify(spec));
      assert.deepEqual(
        spec.layers.map((op) => op.kind),
        ["conv2d", "batchNorm", "conv2d", "layerNorm", "add", "dense"],
      );
      assert.deepEqual(spec.inputs, [[-1], [0], [1], [2], [3, 1], [4]]);
      const trainer = sgdTrainer(spec, rows);
      trainer.params.set(flat(model.trainableWeights));
      trainer.state.set(flat(model.nonTrainableWeights));
      const x = Float32Array.from({ length: rows * spec.inputSize }, (_, i) => Math.sin(i * 0.37) * 2 + 0.3);
      const labels = Float32Array.from([0, 2, 1, 2, 0]);
      trainer.x.set(x);
      trainer.labels.set(labels);
      const lossSum = trainer.computeGradients(rows, rows);
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => {
        const p = model.apply(tf.tensor(x, [rows, 6, 6, 2]), { training: true }) as tf.Tensor;
        return computeLoss("sparseCategoricalCrossentropy", labelTensor("sparseCategoricalCrossentropy", labels, 3), p);
      }, variables);
      assert.ok(Math.abs(lossSum / rows - value.dataSync()[0]) < 1e-5);
      const expected = Float32Array.from(variables.flatMap((v) => Array.from(grads[v.name].dataSync())));
      assertClose(trainer.grads, expected, 1e-5, "gradients");
      assertClose(trainer.state, flat(model.nonTrainableWeights), 1e-6, "moving statistics");
      tf.dispose([value, ...Object.values(grads)]);
      const predicted = trainer.predict(rows);
      const reference = tf.tidy(() => (model.predict(tf.tensor(x, [rows, 6, 6, 2])) as tf.Tensor).dataSync());
      assertClose(predicted, reference, 1e-5, "predictions with the moving statistics");
    } finally {
      model.dispose();
    }
  });
});

describe("training with normalization: kernels and tfjs reach the same weights", () => {
  for (const [name, plan, data] of [
    ["CNN with batch and layer normalization, adam", cnnPlan, cnnData],
    ["MLP with batch and layer normalization, sgd momentum", mlpPlan, mlpData],
    [
      "normalization of the input batch itself (no input gradient), rmsprop",
      parsePlan({
        data: {},
        model: [
          { batchNormalization: { momentum: 0.5 } },
          { layerNormalization: {} },
          { dense: { units: 3, activation: "softmax" } },
        ],
        loss: "sparseCategoricalCrossentropy",
        optimizer: { name: "rmsprop", learning_rate: 0.01 },
      }),
      mlpData,
    ],
  ] as const) {
    it(name, async () => {
      const metrics = ["loss", "accuracy", "auc"];
      const args = trainingArgs({ epochs: 4, batchSize: 8, testOnGlobal: true, testOnLocal: true, metrics });
      const { fast, reference } = await trainOnBothEngines({ plan, data, args });
      assert.deepEqual(
        fast.params.map((p) => p.name),
        reference.params.map((p) => p.name),
      );
      const moving = fast.params.find((p) => p.name.endsWith("moving_variance"))!;
      assert.ok(
        moving.data.some((v) => Math.abs(v - 1) > 1e-3),
        "the moving variance stayed at its initial 1",
      );
      for (const when of ["globalMetrics", "localMetrics"] as const) {
        for (const [metric, value] of Object.entries(reference[when]!.values))
          assert.ok(Math.abs(fast[when]!.values[metric] - value) < 1e-4, `${when} ${metric}`);
      }
    });
  }
});

describe("moving statistics travel with the parameters", () => {
  it("go out of the kernels into a tfjs model that predicts the same, and come back in the next round", async () => {
    const args = trainingArgs({ epochs: 2, batchSize: 8 });
    // Round 1 on a "node": its parameters (moving statistics included, in getParams order) are what it sends.
    const round1 = await trainWith("kernels", { plan: cnnPlan, data: cnnData, args, threads: 1 });
    const model = buildModel(cnnPlan, [8, 8, 1], { seed: 9 });
    assert.deepEqual(
      round1.params.map((p) => p.name),
      paramNames(model),
    );
    setParams(model, round1.params);
    const rows = Int32Array.from({ length: cnnData.rows }, (_, i) => i);
    const source = createRowSource(cnnData);
    const reference = tf.tidy(() => (model.predict(source.x(rows)) as tf.Tensor).dataSync());
    const fast = createKernelPredictor(specOf(model, cnnPlan), 16).predict(
      flat(model.trainableWeights),
      rows,
      source,
      flat(model.nonTrainableWeights),
    );
    assertClose(fast, reference, 1e-5, "predictions");
    // The moving statistics make a difference: with fresh ones, tfjs predicts otherwise.
    const initial = buildModel(cnnPlan, [8, 8, 1], { seed: 9 });
    const fresh = getParams(initial);
    initial.dispose();
    setParams(model, [
      ...round1.params.filter((p) => !p.name.includes("moving")),
      ...fresh.filter((p) => p.name.includes("moving")),
    ]);
    const without = tf.tidy(() => (model.predict(source.x(rows)) as tf.Tensor).dataSync());
    assert.ok(
      without.some((v, i) => Math.abs(v - reference[i]) > 1e-3),
      "moving statistics did not matter",
    );
    model.dispose();
    // Round 2 starts from round 1's parameters: both engines read the moving statistics in the same order.
    const next = {
      plan: cnnPlan,
      data: cnnData,
      args: { ...args, testOnGlobal: true, metrics: ["loss", "auc"] },
      params: round1.params,
    };
    const a = await trainWith("kernels", { ...next, threads: 1 });
    const b = await trainWith("tfjs", next);
    const difference = relativeDifference(a.params, b.params);
    assert.ok(difference < 1e-4, `round 2 parameters differ by ${difference}`);
    for (const metric of ["loss", "auc"]) {
      const [fast, slow] = [a.globalMetrics!.values[metric], b.globalMetrics!.values[metric]];
      assert.ok(Math.abs(fast - slow) < 1e-5, `validation of the received parameters, ${metric}: ${fast} vs ${slow}`);
    }
  });
});

describe("two nodes and FedAvg", () => {
  it("averages the moving statistics with the weights, and the kernels' global model predicts as tfjs's", async () => {
    const args = trainingArgs({ epochs: 2, batchSize: 8 });
    const sites = [imageData(48, 8, 21), imageData(80, 8, 22)];
    const round = async (engine: "kernels" | "tfjs") => {
      const updates = [];
      for (const [i, data] of sites.entries()) {
        const result = await trainWith(engine, { plan: cnnPlan, data, args, threads: 1 });
        assert.equal(result.engine?.startsWith(engine), true, result.engine);
        updates.push({
          nodeId: `n${i}`,
          samples: result.sampleCount,
          params: result.params.map((p) => p.data as Float32Array),
        });
      }
      const named = buildModel(cnnPlan, [8, 8, 1], { seed: 1 });
      const names = paramNames(named);
      named.dispose();
      const global = createFedAvg().aggregate({ round: 1, global: updates[0].params, updates, state: {} }).params;
      return { updates, global, names };
    };
    const fast = await round("kernels");
    const reference = await round("tfjs");
    const at = fast.names.indexOf("1.batchNormalization.moving_mean");
    const [a, b] = fast.updates.map((u) => u.params[at]);
    const [wa, wb] = fast.updates.map((u) => u.samples);
    assertClose(
      fast.global[at],
      a.map((v, i) => (v * wa + b[i] * wb) / (wa + wb)),
      1e-6,
      "averaged moving mean",
    );
    for (const [i, tensor] of fast.global.entries())
      assertClose(tensor, reference.global[i], 1e-4, `global ${fast.names[i]}, kernels vs tfjs nodes`);
    // The global model as the researcher sends it: into tfjs, and into the kernels' predictor.
    const model = buildModel(cnnPlan, [8, 8, 1], { seed: 3 });
    const shapes = getParams(model);
    setParams(
      model,
      shapes.map((p, i) => ({ ...p, data: fast.global[i] })),
    );
    const data = imageData(30, 8, 23);
    const rows = Int32Array.from({ length: data.rows }, (_, i) => i);
    const source = createRowSource(data);
    const expected = tf.tidy(() => (model.predict(source.x(rows)) as tf.Tensor).dataSync());
    const predictor = createKernelPredictor(specOf(model, cnnPlan), 16);
    const predicted = predictor.predict(flat(model.trainableWeights), rows, source, flat(model.nonTrainableWeights));
    assertClose(predicted, expected, 1e-5, "predictions of the averaged model");
    model.dispose();
  });
});

describe("normalization and threads", () => {
  const choose = (plan: Plan, shape: number[], options: { threads: number; perSampleClipping?: boolean }) => {
    const model = buildModel(plan, shape, { seed: 1 });
    try {
      return chooseEngine({ model, plan, backend: "wasm", batchSize: 256, env: {}, ...options });
    } finally {
      model.dispose();
    }
  };
  const wide = (norm: Record<string, unknown>) =>
    parsePlan({
      data: {},
      // No bias before the normalization: as in cnnPlan, its gradient would be float noise that Adam scales
      // up to ±lr (1 thread and tfjs differ by 4e-3 there, as 2 threads and 1 do).
      model: [
        { dense: { units: 256, activation: "relu", useBias: false } },
        norm,
        { dense: { units: 3, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 0.002 },
    });

  it("shares batch normalization (statistics exchanged between threads) and layer normalization", () => {
    const bn = choose(wide({ batchNormalization: {} }), [784], { threads: 4 });
    assert.equal(bn.engine === "kernels" && bn.threads, 4);
    const ln = choose(wide({ layerNormalization: {} }), [784], { threads: 4 });
    assert.equal(ln.engine === "kernels" && ln.threads, 4);
    const clipped = choose(wide({ layerNormalization: {} }), [784], { threads: 1, perSampleClipping: true });
    assert.equal(clipped.engine, "tfjs");
  });

  it("normalizes with the whole batch's statistics on 2 and 3 threads: parameters and moving statistics as 1 thread's, a kept runner's next round too", async () => {
    // The CNN's batch normalization over 6×6 positions a row, the MLP's after a dense layer; batches of
    // 20 rows (slices of 6 and 7 on 3 threads) and a last one of 2 (a thread with no rows at all).
    for (const [plan, data, shape] of [
      [cnnPlan, cnnData, [8, 8, 1]],
      [mlpPlan, mlpData, [2]],
    ] as const) {
      const model = buildModel(plan, [...shape], { seed: 5 });
      const spec = specOf(model, plan);
      const params = flat(model.trainableWeights);
      const state = flat(model.nonTrainableWeights);
      model.dispose();
      const batches = [
        ...Array.from({ length: 3 }, (_, b) => Int32Array.from({ length: 20 }, (_, i) => b * 20 + i)),
        Int32Array.of(60, 61),
      ];
      const init = {
        spec,
        options: { maxRows: 20, optimizer: optimizerSpec(plan.optimizer), fedproxMu: 0, correction: false },
        source: createRowSource(data),
        params,
        state,
      };
      const train = async (threads: number) => {
        const runner = threads === 1 ? createLocalRunner(init) : createParallelRunner(init, threads);
        try {
          const rounds: Float32Array[] = [];
          for (const round of [0, 1]) {
            if (round === 1) runner.restart({ ...init, params: rounds[0], state: rounds[1] });
            for (const batch of batches) runner.step(batch, []);
            rounds.push(await runner.finish(), runner.state());
          }
          return rounds;
        } finally {
          runner.close();
        }
      };
      const one = await train(1);
      for (const threads of [2, 3]) {
        const many = await train(threads);
        if (threads === 3) assert.deepEqual(await train(3), many, "3 threads, run to run");
        const what = ["parameters", "moving statistics", "round 2's parameters", "round 2's moving statistics"];
        for (const [i, values] of many.entries()) assertClose(values, one[i], 1e-5, `${threads} threads, ${what[i]}`);
        assert.notDeepEqual(many[1], state, "the moving statistics moved");
      }
    }
  });

  it("gives the same result on 1 and 2 threads, and as tfjs, with batch and layer normalization", async () => {
    const data = threeClassData(600);
    const width = data.sampleShape[0];
    const features = {
      ...data,
      x: Float32Array.from(
        { length: 600 * 784 },
        // 784 features made of the 2-D points, so that a step has enough arithmetic to share.
        (_, i) => data.x[((i % 784) % width) + Math.floor(i / 784) * width] * ((i % 7) / 7),
      ),
      sampleShape: [784],
    };
    const args = trainingArgs({ epochs: 2, batchSize: 256 });
    for (const norm of [{ batchNormalization: {} }, { layerNormalization: {} }]) {
      const plan = wide(norm);
      const one = await trainLocal({ plan, data: features, args, threads: 1 });
      const two = await trainLocal({ plan, data: features, args, threads: 2 });
      const tfjs = await trainWith("tfjs", { plan, data: features, args });
      assert.equal(one.engine, "kernels, 1 thread");
      assert.equal(two.engine, "kernels, 2 threads");
      // Every weight, the moving statistics among them.
      assert.deepEqual(
        two.params.map((p) => p.name),
        tfjs.params.map((p) => p.name),
      );
      const difference = relativeDifference(two.params, one.params);
      assert.ok(difference < 1e-5, `${Object.keys(norm)[0]}: 2 threads differ from 1 by ${difference}`);
      const fromTfjs = relativeDifference(two.params, tfjs.params);
      assert.ok(fromTfjs < 1e-4, `${Object.keys(norm)[0]}: 2 threads differ from tfjs by ${fromTfjs}`);
    }
  });
});

import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/common/errors.js";
import { selectBackend } from "../../src/ml/backend.js";
import { splitRows } from "../../src/ml/batches.js";
import { evaluateParams } from "../../src/ml/evaluate.js";
import { buildModel, getParams } from "../../src/ml/model.js";
import { parsePlan } from "../../src/ml/plan.js";
import { trainLocal } from "../../src/ml/train.js";
import type { Dataset, NamedTensor, ProgressEvent } from "../../src/ml/types.js";
import { imageData, linearData, logisticPlan, separableData, threeClassData, trainingArgs } from "./synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));

const data = separableData(200);
function distance(a: NamedTensor[], b: NamedTensor[]): number {
  let sum = 0;
  a.forEach((p, i) => {
    p.data.forEach((v, j) => {
      sum += (v - b[i].data[j]) ** 2;
    });
  });
  return Math.sqrt(sum);
}
const rowsOf = (d: Dataset, rows: Int32Array): Dataset => ({
  ...d,
  rows: rows.length,
  x: Float32Array.from([...rows].flatMap((r) => [...d.x.subarray(r * 4, r * 4 + 4)])),
  y: Float32Array.from([...rows].map((r) => d.y[r])),
});

/** The loss of each of the first `steps` steps, from runs of 1..steps updates (each run's mean, unrolled). */
async function lossesPerStep(steps: number, batchSize: number): Promise<number[]> {
  const means: number[] = [];
  for (let n = 1; n <= steps; n++) {
    means.push(
      (await trainLocal({ plan: logisticPlan(), data, args: trainingArgs({ updates: n, batchSize }) })).trainLoss,
    );
  }
  return means.map((mean, i) => mean * (i + 1) - (i > 0 ? means[i - 1] * i : 0));
}

describe("trainLocal", () => {
  it("reports where its round went by phase, the steps included, within its own seconds", async () => {
    const result = await trainLocal({
      plan: logisticPlan(),
      data,
      args: trainingArgs({ updates: 20, testOnLocal: true }),
    });
    const phases = result.phases!;
    assert.deepEqual(Object.keys(phases), ["load", "prepare", "build", "setup", "steps", "validate", "copy"]);
    for (const [name, seconds] of Object.entries(phases)) assert.ok(seconds >= 0, `${name} ${seconds}`);
    assert.ok(phases.steps > 0 && phases.build > 0 && phases.validate > 0, JSON.stringify(phases));
    const total = Object.values(phases).reduce((a, b) => a + b, 0);
    assert.ok(total <= result.seconds + 1e-6, `${total} > ${result.seconds}`);
  });

  it("learns linearly separable data to more than 90% test accuracy (dense 8 relu → dense 1 sigmoid, sgd 0.1)", async () => {
    const result = await trainLocal({
      plan: logisticPlan(),
      data,
      args: trainingArgs({ epochs: 15, testOnLocal: true }),
    });
    assert.ok(result.localMetrics!.values.accuracy > 0.9, `accuracy ${result.localMetrics!.values.accuracy}`);
    assert.equal(result.localMetrics!.samples, 50);
    assert.equal(result.sampleCount, 150);
    assert.ok(result.trainLoss > 0 && result.trainLoss < 0.5, `loss ${result.trainLoss}`);
    assert.deepEqual(
      result.params.map((p) => p.name),
      ["0.dense.kernel", "0.dense.bias", "1.dense.kernel", "1.dense.bias"],
    );
  });

  it("is deterministic for a seed; another round changes the batch order but not the test split", async () => {
    const args = trainingArgs({ epochs: 2, testOnGlobal: true });
    const a = await trainLocal({ plan: logisticPlan(), data, args });
    const b = await trainLocal({ plan: logisticPlan(), data, args });
    const c = await trainLocal({ plan: logisticPlan(), data, args, round: 2 });
    assert.deepEqual(a.params, b.params);
    assert.equal(a.trainLoss, b.trainLoss);
    assert.notDeepEqual(a.params, c.params);
    assert.deepEqual(a.globalMetrics, c.globalMetrics);
  });

  it("starts from the plan's seeded weights when no parameters are given", async () => {
    const model = buildModel(logisticPlan(), [4], { seed: 1 });
    const initial = getParams(model);
    model.dispose();
    const args = trainingArgs({ updates: 3 });
    const without = await trainLocal({ plan: logisticPlan(), data, args });
    const withInitial = await trainLocal({ plan: logisticPlan(), data, args, params: initial });
    assert.deepEqual(without.params, withInitial.params);
  });

  it("validates the received parameters before training (global) and the trained ones after (local)", async () => {
    const start = (await trainLocal({ plan: logisticPlan(), data, args: trainingArgs({ updates: 2 }) })).params;
    const args = trainingArgs({
      epochs: 3,
      testOnGlobal: true,
      testOnLocal: true,
      metrics: ["accuracy", "auc", "loss"],
    });
    const result = await trainLocal({ plan: logisticPlan(), data, args, params: start });
    const test = rowsOf(data, splitRows(data.rows, args.testRatio, args.seed).test);
    const expected = await evaluateParams({ plan: logisticPlan(), data: test, params: start, metrics: args.metrics });
    assert.deepEqual(result.globalMetrics, expected);
    assert.deepEqual(Object.keys(result.localMetrics!.values), ["accuracy", "auc", "loss"]);
    assert.ok(result.localMetrics!.values.loss < result.globalMetrics!.values.loss);
    const neither = await trainLocal({ plan: logisticPlan(), data, args: trainingArgs({ updates: 1 }) });
    assert.equal(neither.globalMetrics, undefined);
    assert.equal(neither.localMetrics, undefined);
  });

  it("runs exactly `updates` batches and reports the mean loss over all of them, at the last step at least", async () => {
    const events: ProgressEvent[] = [];
    const result = await trainLocal({
      plan: logisticPlan(),
      data,
      args: trainingArgs({ updates: 12, batchSize: 32 }),
      onProgress: (e) => events.push(e),
    });
    assert.equal(result.steps, 12);
    // The loss is read a few times a second, not per step: a short run reports once, at its end.
    const last = events.at(-1)!;
    assert.deepEqual([last.step, last.totalSteps], [12, 12]);
    assert.ok(events.every((e, i) => e.totalSteps === 12 && (i === 0 || e.step > events[i - 1].step)));
    // 150 training rows in batches of 32: 5 batches per pass, so step 12 is in the third pass.
    assert.equal(last.epoch, 3);
    assert.equal(result.trainLoss, last.loss);
    const perStep = await lossesPerStep(12, 32);
    assert.ok(Math.abs(result.trainLoss - perStep.reduce((a, b) => a + b) / 12) < 1e-6);
  });

  it("runs epochs × ceil(rows / batchSize) batches and reports the last epoch's mean loss", async () => {
    const events: ProgressEvent[] = [];
    const result = await trainLocal({
      plan: logisticPlan(),
      data,
      args: trainingArgs({ epochs: 2, batchSize: 64 }),
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual([events.at(-1)!.epoch, events.at(-1)!.step, events.at(-1)!.totalSteps], [2, 6, 6]);
    const perStep = await lossesPerStep(6, 64);
    assert.ok(Math.abs(result.trainLoss - (perStep[3] + perStep[4] + perStep[5]) / 3) < 1e-6);
  });

  it("only validates when epochs and updates are both 0", async () => {
    const start = (await trainLocal({ plan: logisticPlan(), data, args: trainingArgs({ updates: 2 }) })).params;
    const args = trainingArgs({ epochs: 0, testOnGlobal: true, testOnLocal: true });
    const result = await trainLocal({ plan: logisticPlan(), data, args, params: start });
    assert.deepEqual(result.params, start);
    assert.ok(Number.isNaN(result.trainLoss));
    assert.deepEqual(result.localMetrics, result.globalMetrics);
  });

  it("keeps parameters closer to the global ones with the FedProx term", async () => {
    const start = (await trainLocal({ plan: logisticPlan(), data, args: trainingArgs({ updates: 1 }) })).params;
    const args = trainingArgs({ epochs: 3 });
    const plain = await trainLocal({ plan: logisticPlan(), data, params: start, args });
    const prox = await trainLocal({ plan: logisticPlan(), data, params: start, args: { ...args, fedproxMu: 5 } });
    assert.ok(distance(prox.params, start) < 0.5 * distance(plain.params, start));
  });

  it("trains a softmax classifier on class indices and a regression model", async () => {
    const softmax = parsePlan({
      data: {},
      model: [{ dense: { units: 16, activation: "relu" } }, { dense: { units: 3, activation: "softmax" } }],
      loss: "categoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 0.05 },
    });
    const classes = await trainLocal({
      plan: softmax,
      data: threeClassData(150),
      args: trainingArgs({ epochs: 20, testOnLocal: true, metrics: ["accuracy", "f1"] }),
    });
    assert.ok(classes.localMetrics!.values.accuracy > 0.8, JSON.stringify(classes.localMetrics));
    const linear = parsePlan({
      data: {},
      model: [{ dense: { units: 1 } }],
      loss: "meanSquaredError",
      optimizer: { name: "sgd", learning_rate: 0.1, momentum: 0.5 },
    });
    const regression = await trainLocal({
      plan: linear,
      data: linearData(120),
      args: trainingArgs({ epochs: 20, testOnLocal: true, metrics: [] }),
    });
    assert.deepEqual(Object.keys(regression.localMetrics!.values), ["mse"]);
    assert.ok(regression.localMetrics!.values.mse < 0.01, JSON.stringify(regression.localMetrics));
  });

  it("trains a small CNN on image data and updates batch-norm moving statistics", async () => {
    const cnn = parsePlan({
      data: {},
      model: [
        { conv2d: { filters: 4, kernelSize: 3, activation: "relu" } },
        { batchNormalization: {} },
        { maxPooling2d: {} },
        { dropout: { rate: 0.1 } },
        { flatten: {} },
        { dense: { units: 2, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 0.05 },
    });
    const result = await trainLocal({
      plan: cnn,
      data: imageData(48),
      args: trainingArgs({ epochs: 4, batchSize: 8, testOnLocal: true }),
    });
    const movingMean = result.params.find((p) => p.name === "1.batchNormalization.moving_mean")!;
    assert.ok(movingMean.data.some((v) => v !== 0));
    assert.ok(result.trainLoss < 0.3, `loss ${result.trainLoss}`);
  });

  it("stops with an AbortError when the signal fires, without leaking tensors", async () => {
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    await assert.rejects(
      trainLocal({
        // Far more steps than run before the first progress report, which aborts.
        plan: logisticPlan(),
        data,
        args: trainingArgs({ updates: 10_000_000 }),
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
      { name: "AbortError" },
    );
    assert.equal(tf.memory().numTensors, before);
  });

  it("does not grow the number of live tensors across calls", async () => {
    const args = trainingArgs({ epochs: 1, testOnGlobal: true, testOnLocal: true, fedproxMu: 0.1 });
    await trainLocal({ plan: logisticPlan(), data, args });
    const before = tf.memory().numTensors;
    await trainLocal({ plan: logisticPlan(), data, args });
    await trainLocal({
      plan: logisticPlan({ optimizer: { name: "sgd", learning_rate: 0.1, momentum: 0.9 } }),
      data,
      args,
    });
    assert.equal(tf.memory().numTensors, before);
  });

  it("rejects bad input with InputError: labels, parameters, metrics, arguments", async () => {
    const plan = logisticPlan();
    const badLabels = { ...data, y: data.y.map((v, i) => (i === 4 ? 3 : v)) };
    await assert.rejects(
      trainLocal({ plan, data: badLabels, args: trainingArgs() }),
      (e) => e instanceof InputError && /label 3 on row 5/.test(e.message),
    );
    await assert.rejects(trainLocal({ plan, data, args: trainingArgs(), params: [] }), /missing "0.dense.kernel"/);
    await assert.rejects(trainLocal({ plan, data, args: trainingArgs({ metrics: ["r2"] }) }), /metric "r2"/);
    await assert.rejects(trainLocal({ plan, data, args: trainingArgs({ epochs: -1 }) }), /epochs -1/);
    await assert.rejects(trainLocal({ plan, data, args: trainingArgs({ batchSize: 0 }) }), /batch size 0/);
  });
});

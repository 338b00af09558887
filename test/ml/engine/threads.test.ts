import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { selectBackend } from "../../../src/ml/backend.js";
import { parsePlan } from "../../../src/ml/plan.js";
import { trainLocal } from "../../../src/ml/train.js";
import { printedByExitingChild, sharedStepMlp } from "../../support/engines.js";
import { relativeDifference } from "../../support/params.js";
import { imageData, separableData, trainingArgs } from "../synthetic.js";

/** Data-parallel training on worker threads: same result for a thread count, close to one thread's. */

before(() => selectBackend({ prefer: "cpu" }));

const mlp = sharedStepMlp();
const data = separableData(400, 200);
const args = trainingArgs({ epochs: 3, batchSize: 128, fedproxMu: 0.01 });

describe("training on worker threads", () => {
  it("is bit-for-bit deterministic for a thread count and within 1e-5 of one thread (2 and 3 threads)", async () => {
    const one = await trainLocal({ plan: mlp, data, args, threads: 1 });
    assert.equal(one.engine, "kernels, 1 thread");
    for (const threads of [2, 3]) {
      const a = await trainLocal({ plan: mlp, data, args, threads });
      const b = await trainLocal({ plan: mlp, data, args, threads });
      assert.equal(a.engine, `kernels, ${threads} threads`);
      assert.deepEqual(a.params, b.params);
      assert.equal(a.trainLoss, b.trainLoss);
      const difference = relativeDifference(a.params, one.params);
      assert.ok(difference < 1e-5, `${threads} threads differ from 1 by ${difference}`);
      assert.ok(Math.abs(a.trainLoss - one.trainLoss) < 1e-5, `loss ${a.trainLoss} vs ${one.trainLoss}`);
    }
  });

  it("shares an MLP at batch 64 between 2 threads by default, to one thread's parameters", async () => {
    // The shape of the bench's MLP (784-128-10, ~260 FLOP per parameter a step), on a little data.
    const wide = parsePlan({
      data: {},
      model: [{ dense: { units: 128, activation: "relu" } }, { dense: { units: 10, activation: "softmax" } }],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.05 },
    });
    const images = separableData(256, 784);
    const wideArgs = trainingArgs({ epochs: 2, batchSize: 64 });
    const one = await trainLocal({ plan: wide, data: images, args: wideArgs, threads: 1 });
    const two = await trainLocal({ plan: wide, data: images, args: wideArgs, threads: 2 });
    assert.equal(two.engine, "kernels, 2 threads");
    const again = await trainLocal({ plan: wide, data: images, args: wideArgs, threads: 2 });
    assert.deepEqual(again.params, two.params);
    const difference = relativeDifference(two.params, one.params);
    assert.ok(difference < 1e-5, `2 threads differ from 1 by ${difference}`);
    assert.ok(Math.abs(two.trainLoss - one.trainLoss) < 1e-5, `loss ${two.trainLoss} vs ${one.trainLoss}`);
  });

  it("trains a CNN on two threads to one thread's parameters", async () => {
    const cnn = parsePlan({
      data: { input: { height: 12, width: 12, channels: 1 } },
      model: [
        { conv2d: { filters: 8, kernelSize: 3, activation: "relu" } },
        { maxPooling2d: { poolSize: 2 } },
        { conv2d: { filters: 16, kernelSize: 3, activation: "relu", padding: "same" } },
        { flatten: {} },
        { dense: { units: 2, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.05, momentum: 0.9 },
    });
    const images = imageData(96, 12);
    const cnnArgs = trainingArgs({ epochs: 2, batchSize: 32 });
    const one = await trainLocal({ plan: cnn, data: images, args: cnnArgs, threads: 1 });
    const two = await trainLocal({ plan: cnn, data: images, args: cnnArgs, threads: 2 });
    assert.equal(two.engine, "kernels, 2 threads");
    assert.ok(relativeDifference(two.params, one.params) < 1e-5);
  });

  it("lets the process exit afterwards: the sleeping threads hold nothing open", async () => {
    const engine = await printedByExitingChild(`
      const plan = parsePlan(${JSON.stringify(mlp)});
      const result = await trainLocal({ plan, data: separableData(200, 200), args: trainingArgs({ updates: 5, batchSize: 128 }), threads: 2 });
      console.log(result.engine);`);
    assert.equal(engine, "kernels, 2 threads");
  });
});

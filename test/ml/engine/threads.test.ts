import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { selectBackend } from "../../../src/ml/backend.js";
import { createRowSource, type RowSource } from "../../../src/ml/batches.js";
import { createLocalRunner, createParallelRunner, type RunnerInit } from "../../../src/ml/engine/kernel-runner.js";
import { describeNetwork, type NetworkSpec } from "../../../src/ml/engine/network.js";
import { optimizerSpec } from "../../../src/ml/engine/trainer.js";
import { buildModel } from "../../../src/ml/model.js";
import { type Plan, parsePlan } from "../../../src/ml/plan.js";
import { createRng } from "../../../src/ml/rng.js";
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

  it("splits the optimizer's state and update among 3 threads (momentum, Adagrad, RMSprop, AdamW; FedProx, SCAFFOLD) to 1 thread's, over two rounds", async () => {
    // 2,001 parameters: shares of 667 each, none aligned to a SIMD vector past the first.
    const optimizers: Plan["optimizer"][] = [
      { name: "sgd", learning_rate: 0.05, momentum: 0.9 },
      { name: "adagrad", learning_rate: 0.05 },
      { name: "rmsprop", learning_rate: 0.01 },
      { name: "adamw", learning_rate: 0.01, weight_decay: 0.01 },
      { name: "adam", learning_rate: 0.01, weight_decay: 0.001 },
    ];
    const source = createRowSource(separableData(120, 50));
    const rng = createRng(11);
    const batches = Array.from({ length: 8 }, () =>
      Int32Array.from({ length: 30 }, () => Math.floor(rng.next() * 120)),
    );
    for (const optimizer of optimizers) {
      const plan = parsePlan({
        data: {},
        model: [{ dense: { units: 37, activation: "relu" } }, { dense: { units: 3, activation: "softmax" } }],
        loss: "sparseCategoricalCrossentropy",
        optimizer,
      });
      const spec = describeNetwork(buildModel(plan, [50], { seed: 3 }), plan.loss) as NetworkSpec;
      const P = spec.tensorSizes.reduce((a, b) => a + b, 0);
      assert.equal(P, 2001);
      const vector = (scale: number) => Float32Array.from({ length: P }, () => (rng.next() - 0.5) * scale);
      const init: RunnerInit = {
        spec,
        options: { maxRows: 30, optimizer: optimizerSpec(plan.optimizer), fedproxMu: 0.01, correction: true },
        source,
        params: vector(0.2),
        anchor: vector(0.2),
        correction: vector(0.01),
      };
      const second = { source, params: vector(0.2), anchor: vector(0.2), correction: vector(0.01) };
      const train = async (threads: number) => {
        const runner = threads === 1 ? createLocalRunner(init) : createParallelRunner(init, threads);
        try {
          for (const batch of batches) runner.step(batch, []);
          const first = await runner.finish();
          runner.restart(second);
          for (const batch of batches) runner.step(batch, []);
          return [first, await runner.finish()];
        } finally {
          runner.close();
        }
      };
      const one = await train(1);
      const three = await train(3);
      assert.deepEqual(await train(3), three, `${optimizer.name}: 3 threads, run to run`);
      for (const round of [0, 1]) {
        let worst = 0;
        for (let i = 0; i < P; i++) worst = Math.max(worst, Math.abs(three[round][i] - one[round][i]));
        assert.ok(worst < 1e-5, `${optimizer.name}, round ${round + 1}: 3 threads differ from 1 by ${worst}`);
        assert.notDeepEqual(three[round], round === 0 ? init.params : second.params);
      }
    }
  });

  it("gathers the workers' rows first and its own straight into its trainer, to the bits of a whole-batch gather", async () => {
    const { params, train } = gatherCase(50, 12);
    const rowSource = createRowSource(separableData(120, 50));
    const parts = await train(rowSource, { rowwise: true });
    const whole = await train(rowSource, { rowwise: false });
    assert.deepEqual(parts.gathers.slice(0, 2), [20, 10], "the two workers' 20 rows, then its own 10");
    assert.deepEqual(whole.gathers.slice(0, 1), [30]);
    assert.deepEqual(parts.params, whole.params);
    assert.notDeepEqual(parts.params, params);
  });

  it("hands the workers byte rows as bytes, which they convert to the bits of the float rows", async () => {
    const { rng, params, train } = gatherCase(52, 13);
    const bytes = Uint8Array.from({ length: 120 * 52 }, () => Math.floor(rng.next() * 256));
    const y = Float32Array.from({ length: 120 }, () => Math.floor(rng.next() * 3));
    const scale = 1 / 255;
    const byteRows = createRowSource({ x: bytes, xScale: scale, y, rows: 120, sampleShape: [52] });
    const floatRows = createRowSource({
      x: Float32Array.from(bytes, (v) => v * scale),
      y,
      rows: 120,
      sampleShape: [52],
    });
    assert.ok(byteRows.bytes && !floatRows.bytes);
    const asBytes = await train(byteRows);
    const asFloats = await train(floatRows);
    assert.deepEqual(asBytes.gathers.slice(0, 2), [10, 10], "only its own 10 rows gathered as floats, step after step");
    assert.deepEqual(asFloats.gathers.slice(0, 2), [20, 10]);
    assert.deepEqual(asBytes.params, asFloats.params);
    assert.notDeepEqual(asBytes.params, params);
  });

  it("lets the process exit afterwards: the sleeping threads hold nothing open", async () => {
    const engine = await printedByExitingChild(`
      const plan = parsePlan(${JSON.stringify(mlp)});
      const result = await trainLocal({ plan, data: separableData(200, 200), args: trainingArgs({ updates: 5, batchSize: 128 }), threads: 2 });
      console.log(result.engine);`);
    assert.equal(engine, "kernels, 2 threads");
  });
});

/**
 * The gather tests' case: a 16-relu / 3-softmax classifier of `inputs` features (sgd 0.1), random
 * parameters and six batches of 30 of 120 rows drawn from seed `seed` (`rng` draws on after them), and
 * `train`, which runs the batches on 3 threads over a row source (with `extra` fields) and records the
 * row count of every gather into floats (each `xInto`).
 */
function gatherCase(inputs: number, seed: number) {
  const plan = parsePlan({
    data: {},
    model: [{ dense: { units: 16, activation: "relu" } }, { dense: { units: 3, activation: "softmax" } }],
    loss: "sparseCategoricalCrossentropy",
    optimizer: { name: "sgd", learning_rate: 0.1 },
  });
  const spec = describeNetwork(buildModel(plan, [inputs], { seed: 4 }), plan.loss) as NetworkSpec;
  const rng = createRng(seed);
  const params = Float32Array.from({ length: spec.tensorSizes.reduce((a, b) => a + b, 0) }, () => rng.next() - 0.5);
  const batches = Array.from({ length: 6 }, () => Int32Array.from({ length: 30 }, () => Math.floor(rng.next() * 120)));
  const train = async (rowSource: RowSource, extra: Partial<RowSource> = {}) => {
    const gathers: number[] = [];
    const source = {
      ...rowSource,
      ...extra,
      xInto: (rows: ArrayLike<number>, out: Float32Array) => {
        gathers.push(rows.length);
        rowSource.xInto(rows, out);
      },
    };
    const options = { maxRows: 30, optimizer: optimizerSpec(plan.optimizer), fedproxMu: 0, correction: false };
    const runner = createParallelRunner({ spec, options, source, params }, 3);
    try {
      for (const batch of batches) runner.step(batch, []);
      return { params: await runner.finish(), gathers };
    } finally {
      runner.close();
    }
  };
  return { rng, params, train };
}

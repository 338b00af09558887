import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/ml/backend.js";
import { createRowSource } from "../../../src/ml/batches.js";
import { chooseEngine } from "../../../src/ml/engine/choose-engine.js";
import { createLocalRunner, createParallelRunner } from "../../../src/ml/engine/kernel-runner.js";
import { describeNetwork } from "../../../src/ml/engine/network.js";
import { optimizerSpec } from "../../../src/ml/engine/trainer.js";
import { trainedTensors } from "../../../src/ml/frozen.js";
import { buildModel, getParams } from "../../../src/ml/model.js";
import { parsePlan } from "../../../src/ml/plan.js";
import { createRng } from "../../../src/ml/rng.js";
import type { Dataset } from "../../../src/ml/types.js";
import { assertClose, assertTfjsGradients, trainOnBothEngines, trainSteps } from "../../support/engines.js";
import { imageData, trainingArgs } from "../synthetic.js";

/**
 * Graph plans (named layers, `inputs`, concatenate, add) and frozen layers (`trainable: false`) on the
 * kernels engine against tfjs's general path: same data, batches and seeds, so the trained parameters and
 * the loss must agree up to float rounding, and frozen layers must come back as they went in.
 */

before(() => selectBackend({ prefer: "cpu" }));
after(() => delete process.env.FBM_ENGINE);

const conv = (filters: number, extra: Record<string, unknown> = {}, activation = "relu") => ({
  conv2d: { filters, kernelSize: 3, padding: "same", activation },
  ...extra,
});

/** A two-level U-Net with concatenated skips and a classification head (the kernels' last layer is dense). */
const unet = [
  conv(3, { name: "enc1" }),
  { maxPooling2d: {} },
  conv(4, { name: "enc2" }),
  { maxPooling2d: {} },
  conv(4),
  { upSampling2d: {}, name: "up2" },
  { concatenate: {}, inputs: ["up2", "enc2"] },
  conv(4, {}, "elu"),
  { conv2dTranspose: { filters: 3, kernelSize: 2, strides: 2, padding: "same" }, name: "up1" },
  { concatenate: {}, inputs: ["up1", "enc1"] },
  conv(2, {}, "tanh"),
  { flatten: {} },
  { dense: { units: 2, activation: "softmax" } },
];

/** A ResNet basic block: stem, two convolutions, the identity skip added back, a second add on the stem. */
const resnet = [
  conv(4, { name: "stem" }),
  conv(4, { name: "a" }),
  { conv2d: { filters: 4, kernelSize: 3, padding: "same" }, name: "b" },
  { add: {}, inputs: ["b", "stem"], name: "sum" },
  { conv2d: { filters: 4, kernelSize: 1, activation: "relu" }, name: "c" },
  { add: {}, inputs: ["c", "sum"] },
  { maxPooling2d: {} },
  { flatten: {} },
  { dense: { units: 2, activation: "softmax" } },
];

const frozen = (layers: Record<string, unknown>[], indices: number[]) =>
  layers.map((layer, i) => (indices.includes(i) ? { ...layer, trainable: false } : layer));

const cases: { name: string; model: unknown[]; optimizer: Record<string, unknown>; frozen?: string[] }[] = [
  {
    name: "a 2-D U-Net (concatenated skips, upsampling, transposed convolution), adam",
    model: unet,
    optimizer: { name: "adam", learning_rate: 0.01 },
  },
  {
    name: "a ResNet block (two identity adds), sgd momentum",
    model: resnet,
    optimizer: { name: "sgd", learning_rate: 0.05, momentum: 0.9 },
  },
  {
    name: "the U-Net with its encoder frozen (layers 0 and 2), adam",
    model: frozen(unet, [0, 2]),
    optimizer: { name: "adam", learning_rate: 0.01 },
    frozen: ["0.conv2d.", "2.conv2d."],
  },
  {
    name: "the ResNet block with a frozen layer between trained ones (layer 1) and a frozen head, rmsprop",
    model: frozen(resnet, [1, 8]),
    optimizer: { name: "rmsprop", learning_rate: 0.005 },
    frozen: ["1.conv2d.", "8.dense."],
  },
];

describe("graph plans and frozen layers train on the kernels to tfjs's parameters", () => {
  const data = imageData(48, 8);
  for (const c of cases) {
    it(c.name, async () => {
      const plan = parsePlan({
        data: {},
        model: c.model,
        loss: "sparseCategoricalCrossentropy",
        optimizer: c.optimizer,
      });
      const args = trainingArgs({ epochs: 2 });
      const { fast } = await trainOnBothEngines({ plan, data, args });
      const initial = buildModel(plan, data.sampleShape, { seed: args.seed });
      const start = new Map(getParams(initial).map((t) => [t.name, t.data]));
      initial.dispose();
      for (const t of fast.params) {
        const isFrozen = c.frozen?.some((prefix) => t.name.startsWith(prefix)) ?? false;
        const moved = t.data.some((v, j) => v !== start.get(t.name)![j]);
        assert.equal(moved, !isFrozen, `${t.name} ${isFrozen ? "moved though frozen" : "did not train"}`);
      }
      // What a node sends back: every tensor but the frozen layers'.
      const sent = trainedTensors(plan, fast.params).map((t) => t.name);
      assert.equal(sent.length, fast.params.length - 2 * (c.frozen?.length ?? 0));
    });
  }

  it("runs a graph with frozen layers on two threads to the one-thread parameters", async () => {
    const plan = parsePlan({
      data: {},
      model: cases[2].model,
      loss: "sparseCategoricalCrossentropy",
      optimizer: cases[2].optimizer,
    });
    const model = buildModel(plan, data.sampleShape, { seed: 3 });
    try {
      const choice = chooseEngine({ model, plan, backend: "cpu", batchSize: 32, env: {} });
      assert.ok(choice.engine === "kernels" && choice.spec.frozen);
      const init = {
        spec: choice.spec,
        source: createRowSource(data),
        params: Float32Array.from(model.trainableWeights.flatMap((w) => Array.from(w.read().dataSync()))),
        options: { maxRows: 32, optimizer: optimizerSpec(plan.optimizer), fedproxMu: 0, correction: false },
      };
      const one = await trainSteps(createLocalRunner(init), 5, data.rows);
      const two = await trainSteps(createParallelRunner(init, 2), 5, data.rows);
      assert.ok(
        one.some((v, i) => v !== init.params[i]),
        "training moved nothing",
      );
      let worst = 0;
      for (const [i, v] of one.entries()) worst = Math.max(worst, Math.abs(two[i] - v));
      assert.ok(worst < 1e-4, `two threads differ from one by ${worst}`);
    } finally {
      model.dispose();
    }
  });

  it("sends graph and frozen plans to the kernels, keeps them on tfjs under DP-SGD clipping with frozen layers", () => {
    const plan = parsePlan({
      data: {},
      model: cases[3].model,
      loss: "sparseCategoricalCrossentropy",
      optimizer: cases[3].optimizer,
    });
    const model = buildModel(plan, [8, 8, 1], { seed: 1 });
    try {
      const choice = chooseEngine({ model, plan, backend: "cpu", batchSize: 16, env: {} });
      assert.equal(choice.engine, "kernels");
      assert.ok(choice.engine === "kernels" && choice.spec.inputs && choice.spec.frozen);
      // Spec indices: flatten is no op of its own, so the frozen head is op 7.
      assert.deepEqual(Object.keys(choice.spec.frozen ?? {}), ["1", "7"]);
      const clipped = chooseEngine({ model, plan, backend: "cpu", batchSize: 16, perSampleClipping: true, env: {} });
      assert.equal(clipped.engine, "tfjs");
    } finally {
      model.dispose();
    }
  });
});

describe("a frozen layer's gradients on the kernels", () => {
  it("are not computed; the trained weights get tfjs's gradients through the frozen layer", () => {
    const input = tf.input({ shape: [5, 5, 2] });
    const c1 = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: "same", activation: "relu" }).apply(input);
    const c2 = tf.layers
      .conv2d({ filters: 3, kernelSize: 3, padding: "same", activation: "tanh", trainable: false })
      .apply(c1) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([c2, c1 as tf.SymbolicTensor]);
    const out = tf.layers
      .dense({ units: 3, activation: "softmax" })
      .apply(tf.layers.flatten().apply(sum)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    try {
      const spec = describeNetwork(model, "sparseCategoricalCrossentropy");
      assert.ok(!("unsupported" in spec), JSON.stringify(spec));
      assert.deepEqual(Object.keys(spec.frozen ?? {}), ["1"]);
      assert.equal(spec.tensorSizes.length, 4, "only the trained kernels and biases");
      const { trainer } = assertTfjsGradients(model, spec, { labels: [0, 2, 1, 1], classes: 3, seed: 9 });
      const before = Float32Array.from(trainer.params);
      trainer.applyUpdate();
      assert.ok(trainer.params.some((v, i) => v !== before[i]));
    } finally {
      model.dispose();
    }
  });
});

/** Noisy 8×8 images of one bright disc at a seeded place and size; the label is the disc's mask. */
function discData(rows: number, seed = 21): Dataset {
  const rng = createRng(seed);
  const n = 8;
  const x = new Float32Array(rows * n * n);
  const y = new Float32Array(rows * n * n);
  for (let r = 0; r < rows; r++) {
    const [cy, cx, radius] = [1.5 + rng.next() * 5, 1.5 + rng.next() * 5, 1 + rng.next() * 2];
    for (let i = 0; i < n * n; i++) {
      const inside = (Math.floor(i / n) - cy) ** 2 + ((i % n) - cx) ** 2 <= radius * radius;
      y[r * n * n + i] = inside ? 1 : 0;
      x[r * n * n + i] = (inside ? 0.7 : 0.2) + (rng.next() - 0.5) * 0.4;
    }
  }
  return { x, y, rows, sampleShape: [n, n, 1], yShape: [n, n, 1] };
}

describe("binary segmentation on the kernels (a U-Net ending in a sigmoid convolution)", () => {
  const data = discData(40);
  const segUnet = [
    conv(3, { name: "enc1" }),
    { maxPooling2d: {} },
    conv(4),
    { upSampling2d: {}, name: "up" },
    { concatenate: {}, inputs: ["up", "enc1"] },
    conv(3),
    { conv2d: { filters: 1, kernelSize: 1, activation: "sigmoid" } },
  ];
  for (const loss of ["dice", "diceCrossentropy"] as const) {
    it(`${loss}: trains to tfjs's parameters, loss and validation Dice, on one thread`, async () => {
      const plan = parsePlan({ data: {}, model: segUnet, loss, optimizer: { name: "adam", learning_rate: 0.02 } });
      const args = trainingArgs({ epochs: 3, batchSize: 8, testOnGlobal: true, testOnLocal: true, metrics: ["dice"] });
      const { fast, reference } = await trainOnBothEngines(
        { plan, data, args },
        { threads: 2, engine: "kernels, 1 thread", why: "a step this small stays on one thread" },
      );
      assert.ok(fast.localMetrics && reference.localMetrics);
      assert.ok(
        Math.abs(fast.localMetrics.values.dice - reference.localMetrics.values.dice) < 1e-4,
        JSON.stringify([fast.localMetrics, reference.localMetrics]),
      );
      assert.ok(
        fast.localMetrics.values.dice > fast.globalMetrics!.values.dice,
        "training improved the validation Dice",
      );
    });
  }

  it("Dice on 2 and 3 threads (the batch's sums exchanged): 1 thread's parameters, a kept runner's next round too", async () => {
    // Batches of 10 rows (slices of 3 and 4 on 3 threads) and a last one of 2: a thread with no rows still meets.
    for (const loss of ["dice", "diceCrossentropy"] as const) {
      const plan = parsePlan({ data: {}, model: segUnet, loss, optimizer: { name: "adam", learning_rate: 0.02 } });
      const model = buildModel(plan, [8, 8, 1], { seed: 5 });
      const spec = describeNetwork(model, plan.loss);
      assert.ok(!("unsupported" in spec) && spec.segmentation === loss);
      const params = Float32Array.from(model.trainableWeights.flatMap((w) => Array.from(w.read().dataSync())));
      model.dispose();
      const batches = [
        ...Array.from({ length: 3 }, (_, b) => Int32Array.from({ length: 10 }, (_, i) => b * 10 + i)),
        Int32Array.of(30, 31),
      ];
      const init = {
        spec,
        options: { maxRows: 10, optimizer: optimizerSpec(plan.optimizer), fedproxMu: 0, correction: false },
        source: createRowSource(data),
        params,
      };
      const train = async (threads: number) => {
        const runner = threads === 1 ? createLocalRunner(init) : createParallelRunner(init, threads);
        try {
          const rounds: Float32Array[] = [];
          let losses = 0;
          for (const round of [0, 1]) {
            if (round === 1) runner.restart({ ...init, params: rounds[0] });
            for (const batch of batches) runner.step(batch, []);
            rounds.push(await runner.finish());
            losses += runner.takeLoss();
          }
          return { rounds, losses, threads: runner.threads };
        } finally {
          runner.close();
        }
      };
      const one = await train(1);
      assert.ok(
        one.rounds[1].some((v, i) => v !== params[i]),
        "training moved the parameters",
      );
      for (const threads of [2, 3]) {
        const many = await train(threads);
        assert.equal(many.threads, threads);
        for (const [round, values] of many.rounds.entries())
          assertClose(values, one.rounds[round], 1e-5, `${loss}, ${threads} threads, round ${round + 1}`);
        assert.ok(Math.abs(many.losses - one.losses) < 1e-5, `${loss}: loss ${many.losses} vs ${one.losses}`);
      }
    }
  });

  it("a multi-class mask (softmax per voxel) stays on tfjs", () => {
    const plan = parsePlan({
      data: {},
      model: [...segUnet.slice(0, -1), { conv2d: { filters: 3, kernelSize: 1, activation: "softmax" } }],
      loss: "dice",
      optimizer: { name: "adam", learning_rate: 0.02 },
    });
    const model = buildModel(plan, [8, 8, 1], { seed: 1 });
    try {
      const choice = chooseEngine({ model, plan, backend: "cpu", batchSize: 8, env: {} });
      assert.equal(choice.engine, "tfjs");
    } finally {
      model.dispose();
    }
  });
});

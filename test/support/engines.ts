import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import type { KernelRunner } from "../../src/ml/engine/kernel-runner.js";
import { createKernelInstance, type KernelInstance } from "../../src/ml/engine/kernels.js";
import type { NetworkSpec } from "../../src/ml/engine/network.js";
import { createNetworkTrainer, type NetworkTrainer, optimizerSpec } from "../../src/ml/engine/trainer.js";
import { type Plan, parsePlan } from "../../src/ml/plan.js";
import { createRng } from "../../src/ml/rng.js";
import { type LocalTrainResult, trainLocal } from "../../src/ml/train.js";
import { relativeDifference } from "./params.js";

/**
 * What the engine tests share: one engine forced for a training, the tfjs-against-kernels comparisons
 * (whole trainings, one batch's gradients, one runner against another), kernel memory set-up, a tolerance
 * check, the MLP the thread tests share a step of, and a training in a child process that must exit.
 */

/** `trainLocal` with FBM_ENGINE set to `engine` for that call only. */
export async function trainWith(
  engine: "tfjs" | "kernels",
  options: Parameters<typeof trainLocal>[0],
): Promise<LocalTrainResult> {
  process.env.FBM_ENGINE = engine;
  try {
    return await trainLocal(options);
  } finally {
    delete process.env.FBM_ENGINE;
  }
}

/**
 * Trains on tfjs's general path and on the kernels (`threads`, one by default) from the same data, batches
 * and seeds; asserts each engine ran (`engine`: the kernels' expected label) and that the parameters and
 * the training loss agree within 1e-4 (float rounding). Returns both results for further checks.
 */
export async function trainOnBothEngines(
  options: Parameters<typeof trainLocal>[0],
  expect: { threads?: number; engine?: string; why?: string } = {},
): Promise<{ fast: LocalTrainResult; reference: LocalTrainResult }> {
  const reference = await trainWith("tfjs", options);
  const fast = await trainWith("kernels", { ...options, threads: expect.threads ?? 1 });
  assert.equal(fast.engine, expect.engine ?? "kernels, 1 thread", expect.why);
  assert.match(reference.engine ?? "", /^tfjs/);
  const difference = relativeDifference(fast.params, reference.params);
  assert.ok(difference < 1e-4, `parameters differ by ${difference}`);
  assert.ok(Math.abs(fast.trainLoss - reference.trainLoss) < 1e-4, `loss ${fast.trainLoss} vs ${reference.trainLoss}`);
  return { fast, reference };
}

/** A kernels trainer of `spec` for batches of up to `rows`, plain SGD at 0.1, no FedProx or SCAFFOLD term. */
export function sgdTrainer(spec: NetworkSpec, rows: number): NetworkTrainer {
  return createNetworkTrainer(spec, {
    maxRows: rows,
    optimizer: optimizerSpec({ name: "sgd", learning_rate: 0.1 }),
    fedproxMu: 0,
    correction: false,
  });
}

/**
 * One batch of seeded inputs in [−1, 1) and the given labels through `model` (softmax over as many classes
 * as `labels` name, cross-entropy) on an SGD kernels trainer set to the model's trainable weights: asserts
 * the mean loss and every gradient equal tfjs's within 1e-5. Returns the trainer and the batch.
 */
export function assertTfjsGradients(
  model: tf.LayersModel,
  spec: NetworkSpec,
  batch: { labels: number[]; classes: number; seed: number },
): { trainer: NetworkTrainer; x: Float32Array } {
  const rows = batch.labels.length;
  const trainer = sgdTrainer(spec, rows);
  trainer.params.set(model.trainableWeights.flatMap((w) => Array.from(w.read().dataSync())));
  const rng = createRng(batch.seed);
  const x = Float32Array.from({ length: rows * spec.inputSize }, () => rng.next() * 2 - 1);
  trainer.x.set(x);
  trainer.labels.set(batch.labels);
  const sum = trainer.computeGradients(rows, rows);
  const shape = [rows, ...(model.inputs[0].shape.slice(1) as number[])];
  const [loss, grads] = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const p = model.apply(tf.tensor(x, shape)) as tf.Tensor;
      const y = tf.oneHot(tf.tensor1d(batch.labels, "int32"), batch.classes);
      return tf.mean(tf.sum(tf.mul(y, tf.log(p)).neg(), 1)) as tf.Scalar;
    });
    // By the variable's unique name: a second model of the same plan names its variables "…_1".
    const ordered = model.trainableWeights.map((w) => Array.from(grads[w.name].dataSync()));
    return [value.dataSync()[0], ordered.flat()] as const;
  });
  assert.ok(Math.abs(sum / rows - loss) < 1e-5, `loss ${sum / rows} vs tfjs ${loss}`);
  assert.equal(trainer.grads.length, grads.length);
  let worst = 0;
  for (const [i, g] of grads.entries()) worst = Math.max(worst, Math.abs(trainer.grads[i] - g));
  assert.ok(worst < 1e-5, `gradients differ by ${worst}`);
  return { trainer, x };
}

/**
 * `steps` fixed batches of 32 rows (row i·7 + step·5 mod `rows`, no dropout) on `runner`; returns its
 * trained parameters and closes it, so two runners (one thread, two) can be compared on the same steps.
 */
export async function trainSteps(runner: KernelRunner, steps: number, rows: number): Promise<Float32Array> {
  try {
    for (let step = 0; step < steps; step++)
      runner.step(
        Int32Array.from({ length: 32 }, (_, i) => (i * 7 + step * 5) % rows),
        [],
      );
    return await runner.finish();
  } finally {
    runner.close();
  }
}

/**
 * Adam (state to reset), dropout (seeds) and, with `fedproxMu`, FedProx (an anchor per round): an MLP big
 * enough that a step at batch 128 is worth sharing between threads (choose-engine.ts), small enough to be
 * quick on `separableData(400, 200)`.
 */
export function sharedStepMlp(): Plan {
  return parsePlan({
    data: {},
    model: [
      { dense: { units: 300, activation: "relu" } },
      { dropout: { rate: 0.2 } },
      { dense: { units: 10, activation: "relu" } },
      { dense: { units: 1, activation: "sigmoid" } },
    ],
    loss: "binaryCrossentropy",
    optimizer: { name: "adam", learning_rate: 0.002 },
  });
}

/**
 * Runs `body` as an ES module in a child Node process (tsx), with `trainLocal`, `parsePlan`,
 * `separableData` and `trainingArgs` imported; asserts the process exits on its own with code 0 (no worker
 * thread or timer holds it open) and returns what it printed, trimmed.
 */
export async function printedByExitingChild(body: string): Promise<string> {
  const at = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const script = `
    import { trainLocal } from ${at("../../src/ml/train.ts")};
    import { parsePlan } from ${at("../../src/ml/plan.ts")};
    import { separableData, trainingArgs } from ${at("../ml/synthetic.ts")};
    ${body}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  const [code] = await once(child, "exit");
  assert.equal(code, 0);
  return out.trim();
}

/** Copies arrays into a fresh kernels instance's memory (a number: that many floats, zero); returns their pointers. */
export function place(values: (Float32Array | number)[]): { k: KernelInstance; ptrs: number[] } {
  const k = createKernelInstance();
  const ptrs = values.map((v) => k.alloc(4 * (typeof v === "number" ? v : v.length)));
  for (const [i, v] of values.entries()) if (typeof v !== "number") k.f32(ptrs[i], v.length).set(v);
  return { k, ptrs };
}

/** Largest difference relative to max(1, |expected|) at most `tolerance`. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++)
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  assert.ok(worst <= tolerance, `${what}: largest difference ${worst} > ${tolerance}`);
}

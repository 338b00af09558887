/**
 * Time per training step of a small MNIST-like CNN on the wasm backend (with fbm's training kernels)
 * against the pure-JS cpu backend. Run: node --import tsx bench/wasm-cnn.ts [steps]
 */
import os from "node:os";
import * as tf from "@tensorflow/tfjs";
import { registerWasmTrainingKernels } from "../src/ml/wasm-kernels/index.js";

const batch = 32;
const wasmSteps = Number(process.argv[2] ?? 30);
// The pure-JS cpu backend takes about a second a step: fewer steps tell enough.
const cpuSteps = Math.max(2, Math.round(wasmSteps / 6));

function buildModel(): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: "relu" }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: "relu" }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 10, activation: "softmax" }));
  model.compile({ optimizer: tf.train.sgd(0.05), loss: "categoricalCrossentropy" });
  return model;
}

/** Milliseconds per trainOnBatch step, after a few warm-up steps. */
async function timeSteps(backend: string, steps: number, warmup = 2): Promise<{ msPerStep: number; loss: number }> {
  await tf.setBackend(backend);
  const model = buildModel();
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, "float32", 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, "int32", 2), 10).toFloat();
  let loss = 0;
  for (let i = 0; i < warmup; i++) loss = Number(await model.trainOnBatch(x, y));
  const start = performance.now();
  for (let i = 0; i < steps; i++) loss = Number(await model.trainOnBatch(x, y));
  const msPerStep = (performance.now() - start) / steps;
  model.dispose();
  tf.dispose([x, y]);
  return { msPerStep, loss };
}

/** The kernels that take the most time in a wasm training step (mean over a few profiled steps). */
async function topKernels(count: number, profiled = 5): Promise<string[]> {
  await tf.setBackend("wasm");
  const model = buildModel();
  const x = tf.randomUniform([batch, 28, 28, 1]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, "int32"), 10).toFloat();
  for (let i = 0; i < 3; i++) await model.trainOnBatch(x, y);
  const info = await tf.profile(async () => {
    for (let i = 0; i < profiled; i++) await model.trainOnBatch(x, y);
  });
  const byName = new Map<string, number>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    byName.set(k.name, (byName.get(k.name) ?? 0) + ms);
  }
  model.dispose();
  tf.dispose([x, y]);
  return [...byName]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([n, ms]) => `${n} ${(ms / profiled).toFixed(2)} ms`);
}

tf.enableProdMode(); // no debug checks, no "install tfjs-node" banner
registerWasmTrainingKernels();
const cpus = os.cpus();
console.log(`machine: ${cpus[0]?.model ?? "unknown"}, ${cpus.length} cores, node ${process.version}`);
console.log(
  `wasm: SIMD ${await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")}, threads ${await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")}`,
);
console.log(
  `model: conv 8 3x3 relu, maxpool 2, conv 16 3x3 relu, maxpool 2, flatten, dense 10; batch ${batch}, 28x28x1`,
);
for (const [backend, steps] of [
  ["wasm", wasmSteps],
  ["cpu", cpuSteps],
] as const) {
  const { msPerStep, loss } = await timeSteps(backend, steps);
  console.log(`${backend.padEnd(4)}: ${msPerStep.toFixed(1)} ms/step over ${steps} steps (loss ${loss.toFixed(3)})`);
}
console.log(`wasm kernels by time per step: ${(await topKernels(6)).join(", ")}`);

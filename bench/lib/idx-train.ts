/**
 * Helper process of bench/node-memory.ts: what a node does with an IDX dataset, alone in its process so
 * the memory peaks are the node's own. Loads the pair with `loadIdx`, trains the small CNN with
 * `trainLocal` on the wasm backend, samples `process.memoryUsage()` every 50 ms, and sends the figures.
 * Usage (from the benchmark): idx-train.ts <images> <labels> <updates> (0: one epoch) [stream]
 */
import { statSync } from "node:fs";
import { selectBackend } from "../../src/ml/backend.js";
import { loadIdx } from "../../src/ml/data/idx.js";
import { openIdx } from "../../src/ml/data/idx-stream.js";
import { parsePlan } from "../../src/ml/plan.js";
import { trainLocal } from "../../src/ml/train.js";
import type { TrainingArgs } from "../../src/ml/types.js";
import { toParent } from "./child.js";
import { createMemorySampler, current, forceGc, type MemoryFigures } from "./memory.js";

export interface IdxTrainResult {
  type: "result";
  backend: string;
  fileBytes: number;
  datasetBytes: number;
  rows: number;
  loadMs: number;
  baseline: MemoryFigures;
  afterLoad: MemoryFigures;
  peakLoad: MemoryFigures;
  peak: MemoryFigures;
  /** After training and a full GC, the dataset still referenced: what stays, garbage aside. */
  retained: MemoryFigures;
  steps: number;
  stepsPerSecond: number;
  trainLoss: number;
  accuracy: number;
  trainSeconds: number;
}

const cnnPlan = parsePlan({
  data: {},
  model: [
    { conv2d: { filters: 8, kernelSize: 3, activation: "relu" } },
    { maxPooling2d: {} },
    { conv2d: { filters: 16, kernelSize: 3, activation: "relu" } },
    { maxPooling2d: {} },
    { flatten: {} },
    { dense: { units: 10, activation: "softmax" } },
  ],
  loss: "sparseCategoricalCrossentropy",
  optimizer: { name: "adam", learning_rate: 0.001 },
});

async function main(): Promise<void> {
  const [images, labels, updatesText, mode] = process.argv.slice(2);
  let backend = "";
  await selectBackend({ prefer: "wasm", log: (line) => (backend = line.replace(/^tfjs backend: /, "")) });
  forceGc();
  const sampler = createMemorySampler({ intervalMs: 50 });
  const baseline = current();

  const started = performance.now();
  // "stream": images stay on disk, read row by row (what a node does with a plain IDX file).
  const data = mode === "stream" ? await openIdx(images, labels) : await loadIdx(images, labels);
  const loadMs = performance.now() - started;
  const peakLoad = sampler.peak();
  const afterLoad = current();

  const args: TrainingArgs = {
    epochs: 1,
    updates: Number(updatesText),
    batchSize: 32,
    testRatio: 0.1,
    testOnGlobal: false,
    testOnLocal: true,
    metrics: ["accuracy"],
    seed: 1,
    fedproxMu: 0,
  };
  const stepTimes: number[] = [];
  const result = await trainLocal({ plan: cnnPlan, data, args, onProgress: () => stepTimes.push(performance.now()) });
  const peak = sampler.stop();
  forceGc();
  const retained = current();
  const steps = stepTimes.length;
  // Steps between the first and the last progress event: excludes model building and validation.
  const stepsPerSecond = steps > 1 ? ((steps - 1) * 1000) / (stepTimes[steps - 1] - stepTimes[0]) : Number.NaN;
  await toParent({
    type: "result",
    backend,
    rows: data.rows,
    loadMs,
    baseline,
    afterLoad,
    peakLoad,
    peak,
    retained,
    steps,
    stepsPerSecond,
    fileBytes: statSync(images).size + statSync(labels).size,
    datasetBytes: data.x.byteLength + data.y.byteLength,
    trainLoss: result.trainLoss,
    accuracy: result.localMetrics?.values.accuracy ?? Number.NaN,
    trainSeconds: result.seconds,
  } satisfies IdxTrainResult);
  process.disconnect();
}

await main();

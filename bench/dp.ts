/**
 * DP-SGD's cost on fbm's kernels: the MLP 784-128-10 and the small CNN of bench/train.ts
 * (bench/lib/train-models.ts), plain steps against DP-SGD steps (per-sample clipping by book-keeping,
 * src/ml/engine/per-sample-clip.ts, then Gaussian noise from node:crypto), both on one thread (DP-SGD
 * always runs on one). The target: a DP step at most 3× a plain one (Opacus reaches about 2×).
 * Also the tfjs per-example fallback on the MLP, for scale. Prints ms/step; never fails on timing.
 * Run: node --import tsx bench/dp.ts [--quick] [--reps N]
 */
import os from "node:os";
import { selectBackend } from "../src/ml/backend.js";
import { trainLocal } from "../src/ml/train.js";
import type { Dataset, DpArgs, TrainingArgs } from "../src/ml/types.js";
import { isQuick, numberFlag } from "./lib/flags.js";
import { machineLine } from "./lib/machine.js";
import { type BenchModel, benchData, benchModels } from "./lib/train-models.js";

const quick = isQuick();
const reps = numberFlag("reps", quick ? 2 : 5);
const target = 3;
const dp: DpArgs = { mode: "local", noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 };

let backendLine = "tfjs backend: unknown";
await selectBackend({ log: (line) => (backendLine = line) });
console.log(machineLine(backendLine.replace(/^tfjs backend: /, "")));
console.log(
  [
    "dp: trainLocal (src/ml/train.ts) with a fixed number of updates, threads 1, testRatio 0, no validation;",
    "  wall clock and process CPU time around the call minus the same call with 1 update (model build,",
    `  weights in and out), per step; the fastest of ${reps} interleaved repetitions (plain, DP, plain, DP, …)`,
    "  after one warm-up of each. CPU time is the fairer ratio on a shared machine; both are printed.",
    `  DP: noise_multiplier ${dp.noiseMultiplier}, max_grad_norm ${dp.clipNorm}.`,
  ].join("\n"),
);
if (os.loadavg()[0] > 0.5)
  console.log(`load average ${os.loadavg()[0].toFixed(2)}: other processes compete for the CPU`);

async function msPerStep(model: BenchModel, data: Dataset, updates: number, withDp: boolean, engine?: string) {
  const args: TrainingArgs = {
    epochs: 0,
    updates,
    batchSize: model.batchSize,
    testRatio: 0,
    testOnGlobal: false,
    testOnLocal: false,
    metrics: [],
    seed: 1,
    fedproxMu: 0,
    ...(withDp ? { dp } : {}),
  };
  if (engine) process.env.FBM_ENGINE = engine;
  try {
    const time = async (n: number) => {
      const started = performance.now();
      const cpu = process.cpuUsage();
      const result = await trainLocal({ plan: model.plan, data, args: { ...args, updates: n }, threads: 1 });
      const used = process.cpuUsage(cpu);
      return { ms: performance.now() - started, cpu: (used.user + used.system) / 1000, engine: result.engine ?? "" };
    };
    const one = await time(1);
    const all = await time(updates);
    return { ms: (all.ms - one.ms) / (updates - 1), cpu: (all.cpu - one.cpu) / (updates - 1), engine: all.engine };
  } finally {
    delete process.env.FBM_ENGINE;
  }
}

// The fastest repetition: on a shared machine the others measure the other processes as well.
const best = (values: number[]) => Math.min(...values);

for (const name of ["mlp", "cnn"] as const) {
  const model = benchModels.find((m) => m.name === name)!;
  const data = benchData(model);
  const updates = name === "mlp" ? (quick ? 60 : 200) : quick ? 15 : 50;
  await msPerStep(model, data, 3, false);
  await msPerStep(model, data, 3, true);
  const plain = { ms: [] as number[], cpu: [] as number[] };
  const priv = { ms: [] as number[], cpu: [] as number[] };
  let engine = "";
  for (let r = 0; r < reps; r++) {
    for (const [into, withDp] of [
      [plain, false],
      [priv, true],
    ] as const) {
      const m = await msPerStep(model, data, updates, withDp);
      into.ms.push(m.ms);
      into.cpu.push(m.cpu);
      engine = m.engine;
    }
  }
  const ratio = best(priv.cpu) / best(plain.cpu);
  console.log(
    `${name} ${model.layers}, batch ${model.batchSize} (${engine}):\n` +
      `  plain  ${best(plain.ms).toFixed(2)} ms/step wall, ${best(plain.cpu).toFixed(2)} ms/step CPU\n` +
      `  DP-SGD ${best(priv.ms).toFixed(2)} ms/step wall, ${best(priv.cpu).toFixed(2)} ms/step CPU\n` +
      `  DP-SGD / plain: ${ratio.toFixed(2)}× CPU, ${(best(priv.ms) / best(plain.ms)).toFixed(2)}× wall ` +
      `(target ≤ ${target}×: ${ratio <= target ? "met" : "not met"} on CPU time)`,
  );
}

// The per-example fallback (one backward pass per sample), for scale.
{
  const model = benchModels.find((m) => m.name === "mlp")!;
  const data = benchData(model);
  const steps = quick ? 4 : 10;
  const fallback = await msPerStep(model, data, steps, true, "tfjs");
  console.log(
    `mlp tfjs per-example fallback (${fallback.engine}): DP-SGD ${fallback.ms.toFixed(1)} ms/step wall, ${fallback.cpu.toFixed(1)} CPU`,
  );
}

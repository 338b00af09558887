/**
 * The kernel runners alone, on 1 thread against 2 (kernel-runner.ts): CPU (all threads of the process)
 * and wall time per optimizer step, by default of the MLP 784-128-10 with SGD at batch 64 and 32, so the
 * thread threshold in choose-engine.ts can be set from figures; `--model NAME` takes another of
 * bench/train.ts's models at its own batch (cnnbn: batch normalization across threads). Runs alternate
 * 1 thread / 2 threads (pairs on the same machine state); medians over the runs. Asserts nothing.
 * Run: npm run bench -- threads [--model mlp] [--steps 300] [--runs 7] [--batch N]   (`--quick`: 100 steps, 3 runs)
 */
import { loadavg } from "node:os";
import { selectBackend } from "../src/ml/backend.js";
import { createRowSource } from "../src/ml/batches.js";
import { createLocalRunner, createParallelRunner, type KernelRunner } from "../src/ml/engine/kernel-runner.js";
import { describeNetwork, type NetworkSpec } from "../src/ml/engine/network.js";
import { optimizerSpec } from "../src/ml/engine/trainer.js";
import { buildModel } from "../src/ml/model.js";
import { createRng } from "../src/ml/rng.js";
import { isQuick, numberFlag } from "./lib/flags.js";
import { machineLine } from "./lib/machine.js";
import { benchData, benchModels, benchRows } from "./lib/train-models.js";

const quick = isQuick();
const steps = numberFlag("steps", quick ? 100 : 300);
const runs = numberFlag("runs", quick ? 3 : 7);
const name = process.argv.includes("--model") ? process.argv[process.argv.indexOf("--model") + 1] : "mlp";
const bench = benchModels.find((m) => m.name === name);
if (!bench) throw new Error(`Unknown --model "${name}": use ${benchModels.map((m) => m.name).join(", ")}`);
/** Batch sizes (`--batch 16` for another). */
const batchSizes = process.argv.includes("--batch")
  ? [numberFlag("batch", 64)]
  : name === "mlp"
    ? [64, 32]
    : [bench.batchSize];
const warmup = 20;

await selectBackend({ prefer: "cpu" });
const plan = bench.plan;
const model = buildModel(plan, bench.sampleShape, { seed: 1 });
const spec = describeNetwork(model, plan.loss) as NetworkSpec;
const params = new Float32Array(spec.tensorSizes.reduce((a, b) => a + b, 0));
const rng = createRng(3);
for (let i = 0; i < params.length; i++) params[i] = (rng.next() - 0.5) * 0.1;
const rows = benchRows;
// Moving means 0, moving variances 1 (the state alternates mean, variance per layer).
const state = Float32Array.from((spec.stateSizes ?? []).flatMap((n, i) => Array(n).fill(i % 2)));
const source = createRowSource(benchData(bench));

/** CPU ms (every thread of the process) and wall ms per step, `steps` steps after a warm-up. */
async function time(threads: number, batch: number): Promise<{ cpu: number; wall: number }> {
  const init = {
    spec,
    options: { maxRows: batch, optimizer: optimizerSpec(plan.optimizer), fedproxMu: 0, correction: false },
    source,
    params,
    state,
  };
  const runner: KernelRunner = threads === 1 ? createLocalRunner(init) : createParallelRunner(init, threads);
  const batches = Array.from({ length: 16 }, (_, b) =>
    Int32Array.from({ length: batch }, (_, i) => (b * batch + i) % rows),
  );
  try {
    for (let s = 0; s < warmup; s++) runner.step(batches[s % 16], []);
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    for (let s = 0; s < steps; s++) runner.step(batches[s % 16], []);
    await runner.finish();
    const wall = performance.now() - wall0;
    const cpu = process.cpuUsage(cpu0);
    return { cpu: (cpu.user + cpu.system) / 1000 / steps, wall: wall / steps };
  } finally {
    runner.close();
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

console.log(machineLine("kernels (WebAssembly SIMD)"));
console.log(
  `${bench.layers}; ${bench.training}; kernel runners alone: ${steps} steps after ${warmup}, ${runs} runs, 1 and 2 threads alternating`,
);
for (const batch of batchSizes) {
  const figures = new Map<number, { cpu: number[]; wall: number[] }>([
    [1, { cpu: [], wall: [] }],
    [2, { cpu: [], wall: [] }],
  ]);
  const load0 = loadavg()[0];
  for (let r = 0; r < runs; r++)
    for (const threads of [1, 2]) {
      const t = await time(threads, batch);
      figures.get(threads)!.cpu.push(t.cpu);
      figures.get(threads)!.wall.push(t.wall);
    }
  const load1 = loadavg()[0];
  const line = (threads: number) => {
    const f = figures.get(threads)!;
    return `${threads} thread${threads > 1 ? "s" : " "}: CPU ${median(f.cpu).toFixed(3)} ms/step (min ${Math.min(...f.cpu).toFixed(3)}), wall ${median(f.wall).toFixed(3)} ms/step (min ${Math.min(...f.wall).toFixed(3)})`;
  };
  const ratio = median(figures.get(1)!.wall) / median(figures.get(2)!.wall);
  console.log(`batch ${batch} (load average ${load0.toFixed(2)} → ${load1.toFixed(2)}):`);
  console.log(`  ${line(1)}`);
  console.log(`  ${line(2)}`);
  console.log(
    `  2 threads: ${ratio.toFixed(2)}× one thread's wall rate; CPU ×${(median(figures.get(2)!.cpu) / median(figures.get(1)!.cpu)).toFixed(2)}`,
  );
}

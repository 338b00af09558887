import os from "node:os";
import { selectBackend } from "../src/ml/backend.js";
import { createKernelInstance } from "../src/ml/engine/kernels.js";
import { type TrainOptions, trainLocal } from "../src/ml/train.js";
import type { Dataset } from "../src/ml/types.js";
import { isQuick, numberFlag } from "./lib/flags.js";
import { machineLine } from "./lib/machine.js";
import { type NodeRound, type NodeRun, nodeData, nodeRounds, stepsPerRound } from "./lib/node-round.js";
import { python, startTorch, type Timed } from "./lib/torch-process.js";
import {
  type BenchModel,
  benchData,
  benchModels,
  benchRows,
  flopParts,
  stepArgs,
  stepFlops,
} from "./lib/train-models.js";

const quick = isQuick();
const reps = numberFlag("reps", quick ? 3 : 5);
const allThreads = os.availableParallelism();
/** The issue's targets for fbm samples/s ÷ torch (1 thread) samples/s. */
const target = { one: 0.3, all: 0.5 };
/** The issue's end-to-end targets: node round rate ÷ loop-only rate, ÷ torch 1 thread, warm fixed cost (s). */
const endToEnd = { loop: 0.9, torch: 1.0, fixedSeconds: 0.02 };
/**
 * The end-to-end figure's rounds (`--rounds N`: more warm rounds give a median that one slow round does not
 * move) and rows (Fashion-MNIST's); its steps per round are node-round.ts `stepsPerRound`.
 */
const nodeRoundCount = numberFlag("rounds", 3);
const nodeRows = numberFlag("node-rows", quick ? 12_800 : 60_000);
/** Seconds a timed run should last; its steps are calibrated per model and per engine (fbm, torch). */
const runSeconds = numberFlag("seconds", quick ? 0.4 : 1.5);
/** `--model NAME` benches that model alone. */
const only = process.argv.includes("--model") ? process.argv[process.argv.indexOf("--model") + 1] : undefined;
const models = benchModels.filter((m) => only === undefined || m.name === only);
if (models.length === 0) throw new Error(`Unknown --model "${only}": use ${benchModels.map((m) => m.name).join(", ")}`);

let backendLine = "tfjs backend: unknown";
await selectBackend({ log: (line) => (backendLine = line) });
console.log(machineLine(backendLine.replace(/^tfjs backend: /, "")));
console.log(backendLine);

const torch = await startTorch();
const threadCounts = allThreads > 1 ? [1, allThreads] : [1];
const threadsLabel = (n: number) => `fbm ${n} thread${n === 1 ? "" : "s"}`;

const cores = os.cpus().length;
console.log(
  [
    `train: trainLocal (src/ml/train.ts), seeded synthetic data made in code, ${benchRows} samples, testRatio 0,`,
    "  no validation. Time: wall clock around one trainLocal call (model build, the steps, reading the",
    "  weights back), after one untimed warm-up call per configuration (compile, worker start excluded);",
    "  cpu s: this process's CPU seconds in that call, every thread (median), steadier under load.",
    `  Steps: sized per model and engine so a run lasts about ${runSeconds} s (untimed calibration runs of fbm`,
    "  at 1 thread, whose steps the all-threads row reuses, and of torch); samples/s compare across them.",
    `  Threads: trainLocal option \`threads\` = 1 and = os.availableParallelism() = ${allThreads}; an engine`,
    "  without that option ignores it (then both fbm rows measure the same thing).",
    `  ${reps} repetition${reps === 1 ? "" : "s"} per model, interleaved: ` +
      `${threadCounts.map((n) => `${threadsLabel(n)}, torch`).join(", ")}, …`,
    "  FLOP/step: forward + backward, multiply-add = 2 FLOPs, weight gradients always, input gradients",
    "  except into the input batch; bias, activations, pooling, loss, optimizer update counted as 0.",
    `  End to end (mlp ${stepsPerRound.mlp} and cnn ${stepsPerRound.cnn} steps a round, ${nodeRoundCount} rounds, \`--rounds N\`): bench/lib/node-round.ts,`,
    "  a real node process and researcher; targets: node round rate ≥ 0.9× the loop-only rate and ≥ 1.0× torch",
    "  1 thread, warm round fixed cost ≤ 20 ms (rounds after the first; medians, and their spread: lowest ·",
    "  quartile · median · quartile · highest; the node's CPU per round from its log). The loop-only rate is the",
    `  "u8" row: trainLocal at all threads on the node's own rows (the same ${nodeRows} images as bytes read`,
    "  at scale 1/255, as the node's IDX loader holds them), so the ratio is the round's cost alone; its",
    "  ratio to the all-threads row (4,096 float rows) is the cost of gathering batches from those rows.",
  ].join("\n"),
);
const load = os.loadavg()[0];
if (load > 0.5) {
  console.log(
    `load average before the runs: ${load.toFixed(2)} on ${cores} cores — other processes compete for the CPU,\n` +
      "  these figures understate both engines and vary more than usual",
  );
}
if (typeof torch === "string") console.log(`torch: ${torch}`);
else {
  console.log(
    `torch ${torch.info.torch} (${python}), one persistent process, 1 thread: set_num_threads(1),\n` +
      "  OMP/MKL/OPENBLAS_NUM_THREADS=1; same layers, batch, optimizer and data recipe (NCHW);\n" +
      "  its own clock around model build + steps (batch gather, forward, backward, step, loss.item())",
  );
  const blasLine = `torch BLAS (its dense layers; convs use oneDNN): ${torch.info.blas}`;
  console.log(blasLine.length <= 100 ? blasLine : blasLine.replace(": ", ":\n  "));
  if (/\/blas\/libblas\.so/.test(torch.info.blas)) {
    console.log(
      "  that is the reference (netlib) BLAS: torch's dense layers run far below their usual speed;\n" +
        "  `apt-get install libopenblas0-pthread` (or LD_LIBRARY_PATH=<dir of OpenBLAS's libblas.so.3>)\n" +
        "  gives a representative baseline",
    );
  }
}
console.log(gemmCeiling());
console.log(
  `targets (issue; information only): fbm/torch samples/s ≥ ${target.one} at 1 thread, ≥ ${target.all} at all threads`,
);

const columns: [string, number][] = [
  ["config", 16],
  ["steps", 9],
  ["median s", 10],
  ["min s", 9],
  ["cpu s", 8],
  ["samples/s", 11],
  ["ms/step", 9],
  ["GFLOP/s", 9],
  ["fbm/torch", 11],
  ["target", 8],
];
const row = (cells: string[]) =>
  cells
    .map((c, i) => (i === 0 ? `  ${c.padEnd(columns[0][1] - 2)}` : c.padStart(columns[i][1])))
    .join("")
    .trimEnd();
console.log(`\n${row(columns.map(([name]) => name))}`);

const summary: string[] = [];
try {
  for (const model of models) await benchModel(model);
} finally {
  if (typeof torch !== "string") await torch.stop();
}
console.log(
  `\nfbm samples/s ÷ torch 1-thread samples/s (medians; targets ≥ ${target.one} at 1 thread, ≥ ${target.all} at all):`,
);
for (const line of summary) console.log(`  ${line}`);

// A worker pool trainLocal left running would keep this process alive: say so, and exit anyway.
setTimeout(() => {
  console.log(
    "note: the process did not exit by itself: something trainLocal started (worker threads?) keeps it alive",
  );
  process.exit(process.exitCode ?? 0);
}, 2_000).unref();

async function benchModel(model: BenchModel): Promise<void> {
  const flops = stepFlops(model.plan, model.sampleShape, model.batchSize);
  const [total, prefix] = flopParts(flops.total);
  const part = (f: number) => flopParts(f).join(" ");
  console.log(`${model.name} ${model.layers}`);
  console.log(
    `  ${model.training}; ${total} ${prefix}FLOP/step (fwd ${part(flops.forward)} + bwd ${part(flops.backward)})`,
  );
  const data = benchData(model);
  const fbm = new Map<number, Timed[]>(threadCounts.map((n) => [n, []]));
  const theirs: Timed[] = [];
  let torchError = "";
  const torchRun = async (runSteps: number): Promise<Timed | undefined> => {
    if (typeof torch === "string" || torchError) return undefined;
    try {
      return await torch.run(model, runSteps);
    } catch (error) {
      torchError = error instanceof Error ? error.message : String(error);
      return undefined;
    }
  };

  const warmup = Math.max(3, Math.round(model.firstSteps / 4));
  for (const n of threadCounts) await fbmRun(model, data, warmup, n);
  // The end-to-end models' loop alone on the node's rows (nodeData), at the node's thread count.
  const perRound = stepsPerRound[model.name];
  const nodeRowsData = perRound === undefined ? undefined : nodeData(model, nodeRows);
  const onNodeRows: Timed[] = [];
  if (nodeRowsData) await fbmRun(model, nodeRowsData, warmup, allThreads);
  await torchRun(warmup);
  const steps = await calibrate(async (s) => (await fbmRun(model, data, s, 1)).seconds, model.firstSteps);
  const torchSteps = await calibrate(async (s) => (await torchRun(s))?.seconds, model.firstSteps);
  for (let rep = 0; rep < reps; rep++) {
    for (const n of threadCounts) {
      fbm.get(n)!.push(await fbmRun(model, data, steps!, n));
      const t = torchSteps === undefined ? undefined : await torchRun(torchSteps);
      if (t) theirs.push(t);
    }
    if (nodeRowsData) onNodeRows.push(await fbmRun(model, nodeRowsData, steps!, allThreads));
  }

  const rateOf = (runs: Timed[], runSteps: number) => (runSteps * model.batchSize) / median(runs.map((r) => r.seconds));
  const torchRate = theirs.length > 0 ? rateOf(theirs, torchSteps!) : undefined;
  const ratios: string[] = [];
  const line = (label: string, runs: Timed[], runSteps: number, goal?: number) => {
    const med = median(runs.map((r) => r.seconds));
    const rate = rateOf(runs, runSteps);
    const ratio = torchRate && goal !== undefined ? rate / torchRate : undefined;
    if (ratio !== undefined) ratios.push(`${label.replace("fbm ", "")} ${ratio.toFixed(2)}`);
    console.log(
      row([
        label,
        String(runSteps),
        med.toFixed(3),
        Math.min(...runs.map((r) => r.seconds)).toFixed(3),
        runs[0].cpuSeconds === undefined ? "" : median(runs.map((r) => r.cpuSeconds!)).toFixed(3),
        Math.round(rate).toLocaleString("en-US"),
        ((med / runSteps) * 1000).toFixed(med / runSteps < 1e-3 ? 3 : 2),
        gflops((flops.total * runSteps) / med / 1e9),
        ratio === undefined ? (goal === undefined ? "" : "—") : ratio.toFixed(2),
        goal === undefined ? "" : `≥ ${goal}`,
      ]),
    );
  };
  for (const n of threadCounts) line(threadsLabel(n), fbm.get(n)!, steps!, n === 1 ? target.one : target.all);
  const nodeRowsLabel = `fbm ${allThreads}t ${Math.round(nodeRows / 1000)}k u8`;
  if (onNodeRows.length > 0) line(nodeRowsLabel, onNodeRows, steps!);
  if (theirs.length > 0) line("torch 1 thread", theirs, torchSteps!);
  else if (torchError) console.log(`  torch 1 thread: failed (${torchError})`);
  // Every run of a configuration has the same seed, data and steps: its loss should repeat exactly.
  const lossText = (runs: Timed[]) => {
    const lo = Math.min(...runs.map((r) => r.loss));
    const hi = Math.max(...runs.map((r) => r.loss));
    return hi - lo <= 1e-3 * Math.max(1, Math.abs(hi))
      ? lo.toFixed(3)
      : `${lo.toFixed(3)}…${hi.toFixed(3)} (runs differ!)`;
  };
  const losses = [
    ...threadCounts.map((n) => `${threadsLabel(n).replace("fbm ", "")} ${lossText(fbm.get(n)!)}`),
    ...(theirs.length > 0 ? [`torch ${lossText(theirs)}`] : []),
  ];
  console.log(`  train loss of a run (sanity): fbm ${losses.join(", ")}`);
  console.log(
    `  engine used: ${threadCounts.map((n) => `${threadsLabel(n).replace("fbm ", "")} → ${fbm.get(n)![0].engine}`).join("; ")}`,
  );
  summary.push(`${model.name.padEnd(7)} ${ratios.length > 0 ? ratios.join(", ") : "no torch figure"}`);
  if (perRound === undefined) return;
  // The loop-only figures at the node's thread count (its default: every core): on the node's rows, and
  // on the bench's 4,096 float rows (the all-threads row).
  const loop = {
    nodeRows: rateOf(onNodeRows, steps!),
    benchRows: rateOf(fbm.get(threadCounts.at(-1)!)!, steps!),
    cpuPerStep: median(onNodeRows.map((r) => r.cpuSeconds!)) / steps!,
  };
  let run: NodeRun;
  try {
    run = await nodeRounds(model, { steps: perRound, rounds: nodeRoundCount, rows: nodeRows });
  } catch (error) {
    console.log(`  fbm node end to end: failed (${error instanceof Error ? error.message : String(error)})`);
    process.exitCode = 1;
    return;
  }
  // The loop again right after the node's rounds: a machine that slowed down for a minute (another VM on the
  // host, a neighbour's job) slows the loop as much as the node, and only a figure after the run shows it.
  const after: Timed[] = [];
  for (let rep = 0; rep < 2; rep++) after.push(await fbmRun(model, nodeRowsData!, steps!, allThreads));
  printNodeRun(
    model,
    run,
    perRound,
    { ...loop, cpuPerStepAfter: median(after.map((r) => r.cpuSeconds!)) / steps! },
    torchRate,
  );
}

/**
 * The end-to-end rows: each round as the node reported it, then the warm rounds' (all but the first)
 * median rate and fixed cost against the loop-only and torch rates, each target met or NOT met.
 */
function printNodeRun(
  model: BenchModel,
  run: NodeRun,
  steps: number,
  loop: { nodeRows: number; benchRows: number; cpuPerStep: number; cpuPerStepAfter: number },
  torchRate?: number,
): void {
  const samples = steps * model.batchSize;
  const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
  console.log(
    `  fbm node end to end: a real \`fbm-node serve\` and researcher, ${nodeRows} rows (gzipped IDX), ${run.rounds.length} rounds` +
      ` of ${steps} steps, test_ratio 0; ${run.engine}; the node's round seconds and phases from the round events:`,
  );
  for (const r of run.rounds) {
    const p = r.phases;
    console.log(
      `    round ${r.round}: ${r.seconds.toFixed(3)} s${r.cpuSeconds === undefined ? "" : ` (cpu ${r.cpuSeconds.toFixed(2)} s)`}, ${Math.round(samples / r.seconds).toLocaleString("en-US")} samples/s;` +
        ` steps ${p.steps.toFixed(3)} s, fixed ${ms(r.seconds - p.steps)} (load ${ms(p.load)}, prepare ${ms(p.prepare)},` +
        ` build ${ms(p.build)}, setup ${ms(p.setup)}, validate ${ms(p.validate)}, copy ${ms(p.copy)})`,
    );
  }
  const warm = run.rounds.length > 1 ? run.rounds.slice(1) : run.rounds;
  const round = median(warm.map((r) => r.seconds));
  const fixed = median(warm.map((r) => r.seconds - r.phases.steps));
  const leastFixed = Math.min(...warm.map((r) => r.seconds - r.phases.steps));
  const rate = samples / round;
  const stepsRate = samples / median(warm.map((r) => r.phases.steps));
  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  const ratioLoop = rate / loop.nodeRows;
  const count = (n: number) => Math.round(n).toLocaleString("en-US");
  const rates = warm.map((r) => samples / r.seconds);
  const stepRates = warm.map((r) => samples / r.phases.steps);
  console.log(
    `    warm rounds (${rounds(warm)}), medians: node round rate ${count(rate)} samples/s` +
      ` = ${ratioLoop.toFixed(2)}× the loop-only ${count(loop.nodeRows)} on the node's rows (target ≥ ${endToEnd.loop}: ${verdict(ratioLoop >= endToEnd.loop)})`,
  );
  console.log(
    `    spread over the warm rounds: round rate ${spread(rates, count)}` +
      ` (${spread(
        rates.map((r) => r / loop.nodeRows),
        (n) => n.toFixed(2),
      )}× the loop);` +
      ` steps phase ${spread(stepRates, count)} samples/s`,
  );
  console.log(
    `    (${(rate / loop.benchRows).toFixed(2)}× the loop-only ${count(loop.benchRows)} on ${benchRows} float rows; the loop alone` +
      ` on the node's rows runs at ${(loop.nodeRows / loop.benchRows).toFixed(2)}× that: the batch gather's cost)`,
  );
  const cpus = warm.flatMap((r) => (r.cpuSeconds === undefined ? [] : [r.cpuSeconds]));
  if (cpus.length > 0) {
    const perStep = median(cpus) / steps;
    console.log(
      `    node CPU a warm round (its process, every thread): ${spread(cpus, (n) => n.toFixed(3))} s; median` +
        ` ${(perStep * 1000).toFixed(2)} ms a step = ${(perStep / loop.cpuPerStep).toFixed(2)}× the loop's` +
        ` ${(loop.cpuPerStep * 1000).toFixed(2)} ms (cpu s of the u8 row ÷ its steps); the loop right after the` +
        ` node's rounds: ${(loop.cpuPerStepAfter * 1000).toFixed(2)} ms a step (${(loop.cpuPerStepAfter / loop.cpuPerStep).toFixed(2)}× before)`,
    );
  }
  if (torchRate !== undefined) {
    const ratioTorch = rate / torchRate;
    console.log(
      `    = ${ratioTorch.toFixed(2)}× torch 1 thread's ${Math.round(torchRate).toLocaleString("en-US")} (target ≥ ${endToEnd.torch}: ${verdict(ratioTorch >= endToEnd.torch)})`,
    );
  } else console.log("    torch 1 thread: no figure, no comparison");
  console.log(
    `    (the node's own steps phase: ${Math.round(stepsRate).toLocaleString("en-US")} samples/s; round ÷ steps phase ${(rate / stepsRate).toFixed(2)})`,
  );
  console.log(
    `    round fixed cost once warm (round − steps): ${ms(fixed)}, least ${ms(leastFixed)} (target ≤ ${ms(endToEnd.fixedSeconds)}: ${verdict(fixed <= endToEnd.fixedSeconds)})`,
  );
}

/** "2, 3, 4" or, past five rounds, "2–9". */
function rounds(list: NodeRound[]): string {
  return list.length <= 5 ? list.map((r) => r.round).join(", ") : `${list[0].round}–${list.at(-1)!.round}`;
}

/** "lowest · lower quartile · median · upper quartile · highest" of `values`, each formatted. */
function spread(values: number[], format: (n: number) => string): string {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => {
    const i = q * (s.length - 1);
    const lo = Math.floor(i);
    return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo);
  };
  return [0, 0.25, 0.5, 0.75, 1].map((q) => format(at(q))).join(" · ");
}

/**
 * Steps for a run of about `runSeconds`: times runs of `first` steps, then more (×100 at most each time)
 * until a run is long enough to extrapolate from. Undefined when `run` gives no time (no torch).
 */
async function calibrate(
  run: (steps: number) => Promise<number | undefined>,
  first: number,
): Promise<number | undefined> {
  let steps = first;
  for (let attempt = 0; attempt < 4; attempt++) {
    const seconds = await run(steps);
    if (seconds === undefined) return undefined;
    const wanted = roundSteps((steps * runSeconds) / Math.max(seconds, 1e-4));
    if (seconds >= runSeconds / 4) return wanted;
    steps = Math.min(wanted, steps * 100);
  }
  return steps;
}

/** Two significant digits, at least 2, at most 10 million: 64_213 → 64_000. */
function roundSteps(steps: number): number {
  const unit = 10 ** Math.max(0, Math.floor(Math.log10(Math.max(steps, 1))) - 1);
  return Math.min(10_000_000, Math.max(2, Math.round(steps / unit) * unit));
}

/** One timed trainLocal call: `steps` updates at `threads` threads, wall clock around the call. */
async function fbmRun(model: BenchModel, data: Dataset, steps: number, threads: number): Promise<Timed> {
  const args = stepArgs(model, steps);
  // Typed so that it compiles with and without `threads` in TrainOptions; an engine without it ignores it.
  const options: TrainOptions & { threads?: number } = { plan: model.plan, data, args, threads };
  const started = performance.now();
  const cpu = process.cpuUsage();
  const result = await trainLocal(options);
  const used = process.cpuUsage(cpu);
  return {
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    loss: result.trainLoss,
    engine: (result as { engine?: string }).engine,
  };
}

/** GFLOP/s with 3 significant digits below 10 ("0.0388", "1.67"), one decimal above. */
function gflops(value: number): string {
  return value >= 10 ? value.toFixed(1) : value.toPrecision(3);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * The ceiling the layers work against: fbm's SIMD matrix multiply alone (one thread, operands in cache),
 * at the shapes of the MLP's first layer and of a square product.
 */
function gemmCeiling(): string {
  const k = createKernelInstance();
  const shapes: [number, number, number][] = [
    [64, 128, 784],
    [256, 256, 256],
  ];
  const figures = shapes.map(([M, N, K]) => {
    const a = k.alloc(4 * M * K);
    const b = k.alloc(4 * K * N);
    const c = k.alloc(4 * M * N);
    const pack = k.alloc(4 * 256 * 8);
    k.f32(a, M * K).fill(0.5);
    k.f32(b, K * N).fill(0.25);
    const run = (n: number) => {
      for (let i = 0; i < n; i++) k.kernels.gemm(M, N, K, a, K, 1, b, N, c, N, 0, pack);
    };
    run(20);
    let best = Infinity;
    for (let rep = 0; rep < 5; rep++) {
      const started = performance.now();
      run(20);
      best = Math.min(best, (performance.now() - started) / 20);
    }
    return `${M}×${K}·${K}×${N} ${((2 * M * N * K) / best / 1e6).toFixed(1)} GFLOP/s`;
  });
  return `fbm kernels' matrix multiply alone (1 thread, best of 5): ${figures.join(", ")}`;
}

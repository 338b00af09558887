/**
 * The node's whole round, not only its step loop: `trainLocal` as the node's train executor calls it
 * (seeded test split, validation as asked, the steps, parameters out), round after round, cold (a network
 * built per round, as before issue 28) and warm (engine/warm-rounds.ts keeps it). Prints the round rate
 * (samples stepped ÷ the round's seconds), the loop-only rate (÷ the steps phase), their ratio, the median
 * round's phases, and PyTorch on one thread doing one round's work (build + steps, no validation) when
 * `python3 -c "import torch"` works. The data are synthetic and in memory (a node's loader keeps them
 * between rounds), so the load phase is 0 here. Never fails on timing.
 * Run: node --import tsx bench/round.ts [--quick] [--rounds N] [--rows R] [--no-torch]
 */
import { selectBackend } from "../src/ml/backend.js";
import { createWarmRounds } from "../src/ml/engine/warm-rounds.js";
import { formatPhases } from "../src/ml/round-phases.js";
import { trainLocal } from "../src/ml/train.js";
import type { RoundPhases, TrainingArgs } from "../src/ml/types.js";
import { isQuick, numberFlag } from "./lib/flags.js";
import { machineLine } from "./lib/machine.js";
import { startTorch } from "./lib/torch-process.js";
import { type BenchModel, benchData, benchModels } from "./lib/train-models.js";

const quick = isQuick();
const rounds = numberFlag("rounds", quick ? 3 : 5);
/** Fashion-MNIST's training rows by default. */
const rows = numberFlag("rows", quick ? 12_800 : 60_000);
/** The rounds: the MLP 200 steps of 64 with SGD, the CNN 60 steps of 32 with Adam. */
const cases: { model: BenchModel; steps: number }[] = [
  { model: benchModels.find((m) => m.name === "mlp")!, steps: 200 },
  { model: benchModels.find((m) => m.name === "cnn")!, steps: 60 },
];
/** The researcher's defaults (test_ratio 0.2, test_on global and local), then no validation. */
const validations: { label: string; testOnGlobal: boolean; testOnLocal: boolean }[] = [
  { label: "test_on: [global, local]", testOnGlobal: true, testOnLocal: true },
  { label: "test_on: []", testOnGlobal: false, testOnLocal: false },
];

let backendLine = "tfjs backend: unknown";
await selectBackend({ log: (line) => (backendLine = line) });
console.log(machineLine(backendLine.replace(/^tfjs backend: /, "")));
const torch = await startTorch();
console.log(
  typeof torch === "string"
    ? `PyTorch: ${torch}`
    : `PyTorch ${torch.info.torch}, 1 thread (${torch.info.blas}): one round = build the model + the steps`,
);
console.log(`${rows} rows, ${rounds} timed rounds per line after one untimed; figures are medians\n`);

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rate = (samples: number, seconds: number) => `${Math.round(samples / seconds).toLocaleString("en")} samples/s`;

try {
  for (const { model, steps } of cases) {
    const data = benchData(model, rows);
    const samples = steps * model.batchSize;
    console.log(`${model.name}: ${model.layers}; ${model.training}; ${steps} steps a round`);
    let torchSeconds: number | undefined;
    if (typeof torch !== "string") {
      await torch.run(model, steps, rows);
      const runs: number[] = [];
      for (let r = 0; r < rounds; r++) runs.push((await torch.run(model, steps, rows)).seconds);
      torchSeconds = median(runs);
    }
    for (const validation of validations) {
      for (const mode of ["cold", "warm"] as const) {
        const warm = mode === "warm" ? { rounds: createWarmRounds(), experiment: "bench" } : undefined;
        const args: TrainingArgs = {
          epochs: 0,
          updates: steps,
          batchSize: model.batchSize,
          testRatio: 0.2,
          ...validation,
          metrics: [],
          seed: 1,
          fedproxMu: 0,
        };
        let params: Awaited<ReturnType<typeof trainLocal>>["params"] | undefined;
        const timed: { seconds: number; phases: RoundPhases; engine: string }[] = [];
        for (let r = 0; r <= rounds; r++) {
          const result = await trainLocal({ plan: model.plan, data, args, round: r, params, warm });
          params = result.params;
          if (r > 0) timed.push({ seconds: result.seconds, phases: result.phases!, engine: result.engine ?? "" });
        }
        warm?.rounds.drop();
        const mid = [...timed].sort((a, b) => a.seconds - b.seconds)[timed.length >> 1];
        const round = median(timed.map((t) => t.seconds));
        const loop = median(timed.map((t) => t.phases.steps));
        const fixed = round - loop;
        const versus = torchSeconds
          ? `, ${(torchSeconds / round).toFixed(2)}× PyTorch's ${rate(samples, torchSeconds)}`
          : "";
        console.log(
          `  ${validation.label}, ${mode} (${mid.engine}): round ${rate(samples, round)} = ${(loop / round).toFixed(2)}× the loop's ${rate(samples, loop)}${versus}; ` +
            `fixed cost ${(fixed * 1000).toFixed(1)} ms`,
        );
        console.log(`    phases: ${formatPhases(mid.phases)}`);
      }
    }
  }
} finally {
  if (typeof torch !== "string") await torch.stop();
}

/**
 * The node's CPU a warm round against the same rounds in-process (issue 28): is a node's round dearer than
 * its loop, and does a V8 setting change that? Each run: the model's warm rounds in this process
 * (`trainLocal` with warm rounds, each round from the previous one's parameters, as a 1-node federation's
 * are; the node's code path without the wire), then a real `fbm-node serve` and researcher
 * (bench/lib/node-round.ts) once per variant, each variant's node with its own Node.js options. CPU, not
 * wall time: CPU is what other processes on a shared machine disturb least. Both figures have the node's
 * two decimals' resolution (its log line).
 * Run: npm run bench -- node-cpu [--model cnn|mlp] [--runs N] [--rounds N]
 *        [--variant NAME=OPTIONS …]   e.g. --variant eager=--no-liftoff --variant gc="--trace-gc >>/tmp/gc.txt"
 * (OPTIONS go into a shell script before the node's entry point, as FBM_BENCH_NODE_ARGS: a redirection there
 * keeps a V8 trace apart from the node's log.)
 */
import os from "node:os";
import { numberFlag } from "./lib/flags.js";
import { machineLine } from "./lib/machine.js";
import { chainedRounds, nodeData, nodeRounds, stepsPerRound } from "./lib/node-round.js";
import { benchModels, stepArgs } from "./lib/train-models.js";

const argv = process.argv;
const only = argv.includes("--model") ? argv[argv.indexOf("--model") + 1] : undefined;
const models = benchModels.filter(
  (m) => stepsPerRound[m.name] !== undefined && (only === undefined || m.name === only),
);
if (models.length === 0) throw new Error(`--model: use ${Object.keys(stepsPerRound).join(" or ")}`);
const runs = numberFlag("runs", 2);
const rounds = numberFlag("rounds", 5);
const rows = numberFlag("node-rows", 60_000);
/** `--variant NAME=OPTIONS`, repeated; the default options alone when none is given. */
const variants: [string, string][] = argv.flatMap((a, i) => {
  if (a !== "--variant") return [];
  const spec = argv[i + 1] ?? "";
  const at = spec.indexOf("=");
  if (at <= 0) throw new Error(`--variant NAME=OPTIONS, got "${spec}"`);
  return [[spec.slice(0, at), spec.slice(at + 1)] as [string, string]];
});
if (variants.length === 0) variants.push(["default", ""]);

console.log(machineLine("kernels"));
console.log(
  [
    `node-cpu: ${runs} runs of ${rounds} rounds on ${rows} byte rows (the end-to-end data of bench/train.ts), test_ratio 0;`,
    "  per run: the warm rounds in-process (trainLocal, warm rounds, chained parameters), then one node per",
    `  variant (${variants.map(([n, o]) => `${n}: ${o || "no options"}`).join("; ")}).`,
    "  Figures: CPU seconds a warm round (rounds 2…), every thread of the process; load average beside each.",
  ].join("\n"),
);

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const list = (values: number[]) => values.map((v) => v.toFixed(2)).join(" ");

for (const model of models) {
  const steps = stepsPerRound[model.name]!;
  const data = nodeData(model, rows);
  const args = stepArgs(model, steps);
  /** CPU seconds of each round of an in-process series, each from the last one's parameters. */
  const inProcess = async (): Promise<number[]> => {
    const chain = chainedRounds(model, data, args);
    const cpus: number[] = [];
    try {
      for (let round = 1; round <= rounds; round++) {
        const started = process.cpuUsage();
        await chain.next();
        const used = process.cpuUsage(started);
        cpus.push((used.user + used.system) / 1e6);
      }
    } finally {
      chain.drop();
    }
    return cpus;
  };
  console.log(`\n${model.name} ${model.layers}; ${steps} steps a round`);
  const ratios = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  for (let run = 0; run < runs; run++) {
    const loop = (await inProcess()).slice(1);
    console.log(`  run ${run + 1} in-process  ${list(loop)} s (load ${os.loadavg()[0].toFixed(1)})`);
    for (const [name, options] of variants) {
      process.env.FBM_BENCH_NODE_ARGS = options;
      const node = await nodeRounds(model, { steps, rounds, rows });
      const cpus = node.rounds.slice(1).flatMap((r) => (r.cpuSeconds === undefined ? [] : [r.cpuSeconds]));
      const ratio = median(cpus) / median(loop);
      ratios.get(name)!.push(ratio);
      console.log(
        `  run ${run + 1} node ${name.padEnd(8)} ${list(cpus)} s = ${ratio.toFixed(2)}× in-process (load ${os.loadavg()[0].toFixed(1)})`,
      );
    }
  }
  delete process.env.FBM_BENCH_NODE_ARGS;
  for (const [name, values] of ratios) {
    console.log(
      `  ${name}: node ÷ in-process CPU a warm round, medians per run: ${values.map((v) => v.toFixed(2)).join(", ")}`,
    );
  }
}
// A worker pool trainLocal left running would keep the process alive.
setTimeout(() => process.exit(process.exitCode ?? 0), 1_000).unref();

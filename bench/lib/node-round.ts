/**
 * The end-to-end figure of bench/train.ts: a real `fbm-node serve` process and a real `fbm-researcher`
 * (scripts/lib/federation.ts, loopback, port 0) running a 1-node federation of the bench model on its
 * synthetic images written as a gzipped IDX pair (as Fashion-MNIST ships: the node holds it in memory; a
 * plain IDX file would be read from disk row by row), and what the node reports in each `round` event: its whole
 * round's seconds and their phases (src/ml/round-phases.ts). Validation is off (test_ratio 0), as in
 * the loop-only figure it is compared with.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { nodeBin, prepareNodes, researcherBin, runFederation } from "../../scripts/lib/federation.js";
import { writeIdx } from "../../scripts/lib/synthetic-images.js";
import { createWarmRounds } from "../../src/ml/engine/warm-rounds.js";
import { type LocalTrainResult, trainLocal } from "../../src/ml/train.js";
import type { Dataset, NamedTensor, RoundPhases, TrainingArgs } from "../../src/ml/types.js";
import { type BenchModel, benchData, benchModels } from "./train-models.js";

/** Steps per round of the end-to-end runs (the rounds), for the models that have one. */
export const stepsPerRound: Partial<Record<BenchModel["name"], number>> = { mlp: 200, cnn: 60 };

/** One round as the node reported it. */
export interface NodeRound {
  round: number;
  /** The node's whole round (data load to reply), by its clock. */
  seconds: number;
  phases: RoundPhases;
  samples: number;
  /**
   * The node process's CPU seconds over the round (every thread), from its log line; steadier than
   * `seconds` when other processes share the machine.
   */
  cpuSeconds?: number;
}

export interface NodeRun {
  rounds: NodeRound[];
  /** What the node's log says the steps ran on (its round line), e.g. "kernels, 1 thread". */
  engine: string;
}

/**
 * The end-to-end run's rows as its node holds them once loaded: the CNN's synthetic 28×28 images (the
 * MLP's are the same pixels, flattened) as bytes read at `xScale` 1/255, as the IDX loader keeps them
 * (src/ml/data/idx.ts), in `model`'s sample shape. bench/train.ts also times the loop alone on them.
 */
export function nodeData(model: BenchModel, rows: number): Dataset {
  const data = benchData(benchModels.find((m) => m.name === "cnn")!, rows);
  const pixels = new Uint8Array(data.x.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.min(255, Math.round(data.x[i] * 255));
  return { x: pixels, xScale: 1 / 255, y: data.y, rows, sampleShape: model.sampleShape };
}

/**
 * A node's warm rounds in this process, without the wire: each `next()` is one `trainLocal` round of
 * `model` on `data`, from the previous round's parameters, on the kept engine (warm rounds), as a 1-node
 * federation's are. `drop()` ends the kept engine.
 */
export function chainedRounds(
  model: BenchModel,
  data: Dataset,
  args: TrainingArgs,
  threads?: number,
): { next(): Promise<LocalTrainResult>; drop(): void } {
  const warm = createWarmRounds();
  let params: NamedTensor[] | undefined;
  let round = 0;
  return {
    async next() {
      round++;
      const result = await trainLocal({
        plan: model.plan,
        data,
        args,
        round,
        params,
        ...(threads === undefined ? {} : { threads }),
        warm: { rounds: warm, experiment: "bench" },
      });
      params = result.params;
      return result;
    },
    drop: () => warm.drop(),
  };
}

/**
 * Runs `rounds` rounds of `steps` updates of `model` (mlp or cnn: 28×28 images) on one node over `rows`
 * rows; throws with the logs when the run fails. The MLP gets a flatten layer in front (its bench data
 * are the same 28×28 images, flattened).
 */
export async function nodeRounds(
  model: BenchModel,
  options: { steps: number; rounds: number; rows: number },
): Promise<NodeRun> {
  if (model.name !== "mlp" && model.name !== "cnn") throw new Error(`no end-to-end run for ${model.name}`);
  const dir = mkdtempSync(join(tmpdir(), "fbm-bench-node-"));
  try {
    const data = nodeData(model, options.rows);
    const images = join(dir, "images.idx.gz");
    const labels = join(dir, "labels.idx.gz");
    writeIdx(images, labels, { pixels: data.x as Uint8Array, labels: Uint8Array.from(data.y) }, 28);
    const homes = await prepareNodes(
      dir,
      [{ name: "bench-node", datasets: [["--type", "idx", "--path", images, "--labels", labels, "--tags", "bench"]] }],
      { planApproval: false },
    );
    const { data: _, ...plan } = JSON.parse(JSON.stringify(model.plan)) as Record<string, unknown> & {
      model: unknown[];
    };
    const experiment = {
      name: `bench-${model.name}`,
      tags: ["bench"],
      rounds: options.rounds,
      nodes: { min: 1, wait: "5m" },
      plan: {
        data: { input: { height: 28, width: 28, channels: 1 } },
        ...plan,
        model: model.name === "mlp" ? [{ flatten: {} }, ...plan.model] : plan.model,
      },
      training: { updates: options.steps, batch_size: model.batchSize, test_ratio: 0, seed: 1 },
    };
    // JSON is YAML.
    const file = join(dir, "experiment.yaml");
    writeFileSync(file, JSON.stringify(experiment));
    const run = await runFederation({
      experiment: file,
      homes,
      outDir: join(dir, "runs"),
      env: { ...process.env, FBM_LOG_LEVEL: undefined },
      nodeBin: withNodeArgs(dir, nodeBin, "FBM_BENCH_NODE_ARGS"),
      researcherBin: withNodeArgs(
        dir,
        researcherBin,
        "FBM_BENCH_RESEARCHER_ARGS",
        process.env.FBM_BENCH_RESEARCHER_NICE,
      ),
    });
    const logs = Object.values(run.nodeLogs).join("\n");
    if (run.code !== 0) throw new Error(`the federation failed (exit ${run.code}): ${run.researcherStderr}\n${logs}`);
    const rounds = run.events
      .filter((e) => e.event === "round")
      .map((e) => {
        const node = e.nodes[0] as { seconds: number; phases?: RoundPhases; samples: number };
        if (!node?.phases) throw new Error(`round ${e.round}: the node reported no phases`);
        const cpu = new RegExp(`Round ${e.round}: trained on .* ([\\d.]+) s of CPU`).exec(logs)?.[1];
        return {
          round: e.round as number,
          seconds: node.seconds,
          phases: node.phases,
          samples: node.samples,
          ...(cpu === undefined ? {} : { cpuSeconds: Number(cpu) }),
        };
      });
    const engine =
      /\(kernels[^)]*\)|kernels, \d+ threads?|tfjs \([^)]*\)/.exec(logs)?.[0] ?? "unknown (not in the node's log)";
    return { rounds, engine };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `bin` (the repository's `fbm-node` or `fbm-researcher`) run with the Node.js options in the
 * environment variable `variable` when it is set (e.g. FBM_BENCH_NODE_ARGS="--cpu-prof
 * --cpu-prof-dir=/tmp/prof", which NODE_OPTIONS refuses), through a shell script in `dir`, so that
 * process alone is profiled or run under other V8 flags; undefined (the default command) otherwise.
 * `nice` (FBM_BENCH_RESEARCHER_NICE, e.g. 19) runs that process at that niceness: in this bench the
 * researcher shares the node's cores, and its work between rounds (aggregation, history, breakpoint)
 * spills into the node's next round; in a federation it runs at another site.
 */
function withNodeArgs(dir: string, bin: string, variable: string, nice?: string): string | undefined {
  const args = process.env[variable];
  if (!args && !nice) return undefined;
  const script = join(dir, `${basename(bin)}.sh`);
  const prefix = nice ? `nice -n ${Number(nice)} ` : "";
  writeFileSync(script, `#!/bin/sh\nexec ${prefix}"${process.execPath}" ${args ?? ""} "${bin}" "$@"\n`);
  chmodSync(script, 0o755);
  return script;
}

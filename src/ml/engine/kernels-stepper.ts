import type { Rng } from "../rng.js";
import { createLocalRunner, createParallelRunner, type KernelRunner, type RunnerInit } from "./kernel-runner.js";
import type { NetworkSpec } from "./network.js";
import type { Stepper, StepperInit } from "./stepper.js";
import { optimizerSpec } from "./trainer.js";

/** What a kernels runner is made of for `init`: the layout (spec, options) and the round's start. */
export function runnerInit(spec: NetworkSpec, init: StepperInit): RunnerInit {
  return {
    spec,
    source: init.source,
    params: init.params,
    ...(init.state ? { state: init.state } : {}),
    options: {
      maxRows: init.maxRows,
      optimizer: optimizerSpec(init.plan.optimizer),
      fedproxMu: init.fedprox?.mu ?? 0,
      correction: init.correction !== undefined,
    },
    ...(init.fedprox ? { anchor: init.fedprox.anchor } : {}),
    ...(init.correction ? { correction: init.correction } : {}),
    ...(init.dp ? { dp: init.dp } : {}),
  };
}

/**
 * What a kept runner must have been made for to take this round (kernel-session.ts): the thread count,
 * the trainer options and which per-round inputs it has slots for.
 */
export function runnerLayout(init: RunnerInit, threads: number): string {
  // A seeded Gaussian (tests) keeps DP-SGD's noise on the step's thread: no noise thread to keep.
  const dp = init.dp && { seeded: init.dp.gaussian.seeded };
  return JSON.stringify([threads, init.options, dp, init.anchor !== undefined]);
}

/** A runner for `init` on `threads` threads: `kept` restarted on it (same layout), else a new one. */
export function startRunner(init: RunnerInit, threads: number, kept?: KernelRunner): KernelRunner {
  if (kept) {
    kept.restart(init);
    return kept;
  }
  // DP-SGD's steps stay on this thread; with 2 threads a second draws its noise (noise-thread.ts).
  if (init.dp) return createLocalRunner({ ...init, noiseThread: threads > 1 });
  return threads > 1 ? createParallelRunner(init, threads) : createLocalRunner(init);
}

/**
 * Steps on fbm's kernels; the parameters move into the kernels' memory once and back once. Dropout seeds
 * come from the run's generator exactly as on the tfjs path (one per dropout layer per step), so both
 * engines see the same batches; the masks themselves are the kernels' own. Closing the stepper closes
 * the runner (a node that keeps the runner for its next round does not close it).
 */
export function createKernelStepper(spec: NetworkSpec, runner: KernelRunner, rng: Rng): Stepper {
  const seeds = new Int32Array(spec.layers.filter((op) => op.kind === "dropout").length);
  return {
    step(batch) {
      for (let i = 0; i < seeds.length; i++) seeds[i] = rng.int(0x7fffffff);
      runner.step(batch, seeds);
    },
    takeLoss: async () => runner.takeLoss(),
    finish: () => runner.finish(),
    trainedState: () => (spec.stateSizes ? runner.state() : undefined),
    close: () => runner.close(),
  };
}

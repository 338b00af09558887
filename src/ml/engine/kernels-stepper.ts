import { createLocalRunner, createParallelRunner } from "./kernel-runner.js";
import type { NetworkSpec } from "./network.js";
import type { Stepper, StepperInit } from "./stepper.js";
import { optimizerSpec } from "./trainer.js";

/**
 * Steps on fbm's kernels; the parameters move into the kernels' memory once and back once. Dropout seeds
 * come from the run's generator exactly as on the tfjs path (one per dropout layer per step), so both
 * engines see the same batches; the masks themselves are the kernels' own. Under DP-SGD `threads` 2 means the
 * steps on this thread and the noise on another.
 */
export function createKernelStepper(spec: NetworkSpec, threads: number, init: StepperInit): Stepper {
  const { rng } = init;
  const seeds = new Int32Array(spec.layers.filter((op) => op.kind === "dropout").length);
  const runnerInit = {
    spec,
    source: init.source,
    params: init.params,
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
  // DP-SGD's steps stay on this thread; a second thread draws its noise (noise-thread.ts).
  const runner = init.dp
    ? createLocalRunner({ ...runnerInit, noiseThread: threads > 1 })
    : threads > 1
      ? createParallelRunner(runnerInit, threads)
      : createLocalRunner(runnerInit);
  return {
    step(batch) {
      for (let i = 0; i < seeds.length; i++) seeds[i] = rng.int(0x7fffffff);
      runner.step(batch, seeds);
    },
    takeLoss: async () => runner.takeLoss(),
    finish: () => runner.finish(),
    close: () => runner.close(),
  };
}

import { availableParallelism } from "node:os";
import type * as tf from "@tensorflow/tfjs";
import { InputError } from "../../common/errors.js";
import type { Plan } from "../plan.js";
import {
  describeNetwork,
  hasWeights,
  inputSize,
  isNormalize,
  kernelSize,
  type NetworkSpec,
  outputSize,
} from "./network.js";

/**
 * Which engine runs local training steps: fbm's kernels (WebAssembly SIMD, whole step in one module,
 * on worker threads when that pays) or TensorFlow.js's general path (layers the kernels lack, native
 * TensorFlow when it is installed, or `FBM_ENGINE=tfjs`). Validation during a round follows the same
 * choice (kernels-predictor.ts); evaluation of exported models and export use tfjs.
 */
export type EngineChoice =
  | { engine: "kernels"; spec: NetworkSpec; threads: number; reason?: undefined }
  | { engine: "tfjs"; reason: string };

/** Below this much arithmetic per step and thread, handing a step to other cores costs more than it saves. */
const minFlopsPerThread = 2e6;
/**
 * Threads meet twice a step and each sums its share of every thread's gradient in place (shared kernels
 * memory, data-parallel-step.ts): a fixed ~0.1 ms of CPU a step beside the work, so a step must carry
 * enough arithmetic per parameter. Measured on 2 cores (`npm run bench -- threads`, kernel runners alone,
 * 300 steps, 7 runs, load average ~15, CPU of both threads together against one thread's): the MLP
 * 784-128-10 at batch 64 (260 FLOP per parameter) 1.07–1.10× one thread's CPU (1.24–1.29× when threads
 * copied whole gradients), at batch 32 (130) 1.12–1.13× (was 1.35–1.50×), at batch 16 (65) 1.32×: shared
 * from 100 up.
 */
const minFlopsPerParameter = 100;

/**
 * DP-SGD draws one Gaussian per parameter per step (~10 ns each); below this many parameters the noise is
 * cheaper than handing it to another thread.
 */
const minNoiseThreadParameters = 10_000;

export function chooseEngine(options: {
  model: tf.LayersModel;
  plan: Plan;
  backend: string | undefined;
  batchSize: number;
  /** DP-SGD's per-sample clipping, which the kernels cover for dense and conv2d layers only (no normalization). */
  perSampleClipping?: boolean;
  /** Most threads to use; default: every core. */
  threads?: number;
  env?: Record<string, string | undefined>;
}): EngineChoice {
  const env = options.env ?? process.env;
  const forced = env.FBM_ENGINE?.trim();
  if (forced && forced !== "tfjs" && forced !== "kernels") {
    throw new InputError(`Unknown training engine "${forced}" (FBM_ENGINE): use kernels or tfjs`);
  }
  if (forced === "tfjs") return { engine: "tfjs", reason: "FBM_ENGINE=tfjs" };
  if (options.backend === "tensorflow" && forced !== "kernels")
    return { engine: "tfjs", reason: "native TensorFlow is installed" };
  const spec = describeNetwork(options.model, options.plan.loss);
  if ("unsupported" in spec) return { engine: "tfjs", reason: `the kernels do not cover ${spec.unsupported}` };
  if (
    options.perSampleClipping &&
    spec.layers.some((op) => (hasWeights(op) && op.kind !== "dense" && op.kind !== "conv2d") || isNormalize(op))
  )
    return { engine: "tfjs", reason: "the kernels' per-sample clipping covers dense and conv2d layers only" };
  if (options.perSampleClipping && (spec.frozen || spec.segmentation))
    return { engine: "tfjs", reason: "the kernels' per-sample clipping covers neither frozen layers nor segmentation" };
  const most = options.threads ?? availableParallelism();
  if (!Number.isInteger(most) || most < 1) throw new InputError(`Invalid thread count ${most}: use a positive integer`);
  const parameters = spec.tensorSizes.reduce((a, b) => a + b, 0);
  // DP-SGD: the steps on this thread, the next step's noise drawn on a second (noise-thread.ts).
  if (options.perSampleClipping)
    return { engine: "kernels", spec, threads: most > 1 && parameters >= minNoiseThreadParameters ? 2 : 1 };
  const perStep = flopsPerSample(spec) * options.batchSize;
  // Batch normalization's statistics and Dice's sums are exchanged between threads (trainer.ts
  // `batchMoments`, `combineSums`).
  const shareable = perStep >= minFlopsPerParameter * parameters;
  const useful = shareable
    ? Math.max(1, Math.min(most, Math.floor(perStep / minFlopsPerThread), options.batchSize))
    : 1;
  return { engine: "kernels", spec, threads: useful };
}

/** Arithmetic of one training step per sample (forward, weight gradients, input gradients past layer 0). */
export function flopsPerSample(spec: NetworkSpec): number {
  let total = 0;
  spec.layers.forEach((op, l) => {
    if (!hasWeights(op)) return;
    // Each kernel weight meets every output position once (a transposed convolution: every input position).
    const positions = op.kind === "dense" ? 1 : op.kind === "conv2d" ? op.oh * op.ow : op.od * op.oh * op.ow;
    total += 2 * kernelSize(op) * positions * (l === 0 ? 2 : 3);
  });
  // Elementwise work (activations, loss, pooling) is small beside the products; count one op per value.
  for (const op of spec.layers) total += inputSize(op) + outputSize(op);
  return total;
}

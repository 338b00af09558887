import * as tf from "@tensorflow/tfjs";
import { addGaussianNoise } from "../privacy/dp/noise.js";
import type { RowSource } from "./batches.js";
import { createLocalRunner, createParallelRunner, type DpStep } from "./engine/kernel-runner.js";
import type { NetworkSpec } from "./engine/network.js";
import { optimizerSpec } from "./engine/trainer.js";
import { computeLoss, labelTensor } from "./losses.js";
import { outputUnits } from "./model.js";
import type { LocalOptimizer } from "./optimizer.js";
import type { Plan } from "./plan.js";
import type { Rng } from "./rng.js";
import type { TrainingArgs } from "./types.js";

/** One engine's optimizer steps inside `trainLocal`: step after step, the loss read only when asked. */
export interface Stepper {
  step(batch: Int32Array): void;
  /** Σ of the per-step mean losses since the last call. */
  takeLoss(): Promise<number>;
  /** Leaves the trained weights in the model's variables. */
  finish(): Promise<void>;
  close(): void;
}

export interface StepperContext {
  model: tf.LayersModel;
  source: RowSource;
  /** The model's trainable variables, in `trainableWeights` order. */
  variables: tf.Variable[];
  /** FedProx anchors (empty when mu is 0). */
  anchors: tf.Tensor[];
  /** SCAFFOLD corrections per variable (empty, or undefined entries for uncorrected ones). */
  corrections: (tf.Tensor | undefined)[];
  plan: Plan;
  args: TrainingArgs;
  /**
   * Largest batch the engine sizes its buffers for (batch size, at most the training rows; under DP a bound
   * on the Poisson batch, and the kernels take a larger batch in parts).
   */
  maxRows: number;
  /** DP-SGD: per-sample clipping to `clipNorm`, noise σ·clipNorm on the sum, divided by the expected batch. */
  dp?: DpStep;
}

/**
 * Steps on fbm's kernels; weights move into the kernels' memory once and back once. Dropout seeds come
 * from the run's generator exactly as on the tfjs path (one per dropout layer per step), so both engines
 * see the same batches; the masks themselves are the kernels' own.
 */
export function createKernelStepper(
  spec: NetworkSpec,
  threads: number,
  context: StepperContext & { rng: Rng },
): Stepper {
  const { variables, args, rng } = context;
  const seeds = new Int32Array(spec.layers.filter((op) => op.kind === "dropout").length);
  const flat = (tensors: (tf.Tensor | undefined)[]) => {
    const out = new Float32Array(spec.tensorSizes.reduce((a, b) => a + b, 0));
    let at = 0;
    tensors.forEach((t, i) => {
      if (t) out.set(t.dataSync() as Float32Array, at);
      at += spec.tensorSizes[i];
    });
    return out;
  };
  const params = flat(variables);
  const init = {
    spec,
    source: context.source,
    params,
    options: {
      maxRows: context.maxRows,
      optimizer: optimizerSpec(context.plan.optimizer),
      fedproxMu: args.fedproxMu,
      correction: context.corrections.length > 0,
    },
    ...(args.fedproxMu > 0 ? { anchor: params } : {}),
    ...(context.corrections.length > 0 ? { correction: flat(variables.map((_, i) => context.corrections[i])) } : {}),
    ...(context.dp ? { dp: context.dp } : {}),
  };
  const runner = threads > 1 ? createParallelRunner(init, threads) : createLocalRunner(init);
  return {
    step(batch) {
      for (let i = 0; i < seeds.length; i++) seeds[i] = rng.int(0x7fffffff);
      runner.step(batch, seeds);
    },
    takeLoss: async () => runner.takeLoss(),
    async finish() {
      const trained = await runner.finish();
      let at = 0;
      variables.forEach((v, i) => {
        const size = spec.tensorSizes[i];
        tf.tidy(() => v.assign(tf.tensor(trained.subarray(at, at + size), v.shape, "float32")));
        at += size;
      });
    },
    close: () => runner.close(),
  };
}

/**
 * Steps on TensorFlow.js's general path: one `tf.tidy` per step, the loss summed on the device and read
 * only when asked, a fresh dropout seed per step from the run's generator.
 */
export function createTfjsStepper(context: StepperContext & { optimizer: LocalOptimizer; rng: Rng }): Stepper {
  const { model, source, variables, anchors, corrections, plan, args, optimizer, rng, dp } = context;
  const units = outputUnits(model);
  const dropouts = model.layers.filter((l) => l.getClassName() === "Dropout") as unknown as { seed?: number }[];
  let lossTotal: tf.Scalar = tf.scalar(0);
  return {
    step(batch) {
      // A fresh dropout seed per step: tfjs reuses a layer's seed, which would repeat one mask forever.
      for (const layer of dropouts) layer.seed = rng.int(0x7fffffff);
      const next = tf.tidy(() => {
        const x = source.x(batch);
        const y = labelTensor(plan.loss, source.y(batch), units);
        let dataLoss: tf.Scalar | undefined;
        const { grads } = dp
          ? privateGradients(batch, dp, (lossOf) => {
              dataLoss = lossOf;
            })
          : tf.variableGrads(() => {
              const prediction = model.apply(x, { training: true }) as tf.Tensor;
              dataLoss = tf.keep(computeLoss(plan.loss, y, prediction));
              return anchors.length > 0 ? tf.add(dataLoss, proximalTerm(variables, anchors, args.fedproxMu)) : dataLoss;
            }, variables);
        corrections.forEach((c, i) => {
          if (c) grads[variables[i].name] = tf.add(grads[variables[i].name], c);
        });
        optimizer.step(variables, grads);
        const total = tf.add(lossTotal, dataLoss!) as tf.Scalar;
        dataLoss!.dispose();
        return total;
      });
      lossTotal.dispose();
      lossTotal = next;
    },
    async takeLoss() {
      const value = (await lossTotal.data())[0];
      lossTotal.dispose();
      lossTotal = tf.scalar(0);
      return value;
    },
    finish: async () => {},
    close: () => lossTotal.dispose(),
  };

  /**
   * DP-SGD's fallback where the kernels do not cover the model: one backward pass per sample, each gradient
   * clipped to the bound (L2 over all weights), summed, noised, averaged (Abadi et al. 2016, Algorithm 1).
   * The FedProx term is data-independent, so it joins after the noise.
   */
  function privateGradients(
    batch: Int32Array,
    options: NonNullable<StepperContext["dp"]>,
    setLoss: (loss: tf.Scalar) => void,
  ): { grads: tf.NamedTensorMap } {
    // An empty Poisson batch still takes a step: noise alone (as Opacus does).
    const sums = variables.map((v) => new Float32Array(v.size));
    let lossSum = 0;
    for (let r = 0; r < batch.length; r++) {
      const row = batch.subarray(r, r + 1);
      const { value, grads } = tf.variableGrads(
        () =>
          computeLoss(
            plan.loss,
            labelTensor(plan.loss, source.y(row), units),
            model.apply(source.x(row), { training: true }) as tf.Tensor,
          ),
        variables,
      );
      const parts = variables.map((v) => grads[v.name].dataSync() as Float32Array);
      const norm = Math.sqrt(parts.reduce((s, g) => s + g.reduce((t, x) => t + x * x, 0), 0));
      const factor = norm > options.clipNorm ? options.clipNorm / norm : 1;
      parts.forEach((g, i) => {
        for (let j = 0; j < g.length; j++) sums[i][j] += factor * g[j];
      });
      lossSum += value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
    }
    setLoss(tf.scalar(batch.length > 0 ? lossSum / batch.length : 0));
    const grads: tf.NamedTensorMap = {};
    variables.forEach((v, i) => {
      addGaussianNoise(sums[i], options.noiseMultiplier * options.clipNorm, options.gaussian, options.expectedBatch);
      let g: tf.Tensor = tf.tensor(sums[i], v.shape, "float32");
      if (anchors.length > 0) g = tf.add(g, tf.mul(args.fedproxMu, tf.sub(v, anchors[i])));
      grads[v.name] = g;
    });
    return { grads };
  }
}

/** FedProx: mu/2 · ||w − w_global||² over the trainable weights. */
function proximalTerm(variables: tf.Variable[], anchors: tf.Tensor[], mu: number): tf.Scalar {
  const squares = variables.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i]))));
  return tf.mul(mu / 2, tf.addN(squares)) as tf.Scalar;
}

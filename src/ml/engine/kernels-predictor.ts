import type { RowSource } from "../batches.js";
import type { EngineChoice } from "./choose-engine.js";
import type { NetworkSpec } from "./network.js";
import { createNetworkTrainer } from "./trainer.js";

/**
 * Forward-only passes on fbm's kernels, for validation during a round: one network laid out once in its
 * own kernels instance (batches of at most `maxRows` rows, so memory is a training step's), parameters
 * copied in per call. Dropout is off, as in tfjs's `predict`. A node keeps it between rounds
 * (kernel-session.ts): nothing in it belongs to one round.
 */
export interface KernelPredictor {
  /** Rows per forward pass. */
  readonly maxRows: number;
  /**
   * Model outputs for the given rows of `source` under `params` (flat, trainable-weight order) and
   * `state` (the non-trainable weights, batch normalization's moving statistics, when the model has any),
   * `rows × outputUnits`.
   */
  predict(params: Float32Array, indices: Int32Array, source: RowSource, state?: Float32Array): Float32Array;
}

export function createKernelPredictor(spec: NetworkSpec, maxRows: number): KernelPredictor {
  const trainer = createNetworkTrainer(spec, {
    maxRows,
    // Never stepped: the optimizer only sizes state the predictor does not use.
    optimizer: { name: "sgd", lr: 0, momentum: 0, beta1: 0, beta2: 0, epsilon: 0, decay: 0 },
    fedproxMu: 0,
    correction: false,
  });
  const units = spec.outputUnits;
  return {
    maxRows,
    predict(params, indices, source, state) {
      trainer.params.set(params);
      if (trainer.state.length > 0) {
        if (state?.length !== trainer.state.length) throw new Error("predict needs the model's moving statistics");
        trainer.state.set(state);
      }
      const out = new Float32Array(indices.length * units);
      for (let start = 0; start < indices.length; start += maxRows) {
        const rows = indices.subarray(start, start + maxRows);
        source.xInto(rows, trainer.x);
        out.set(trainer.predict(rows.length), start * units);
      }
      return out;
    },
  };
}

/** Rows per forward pass: a training step's rows (so memory stays a step's), at most this many. */
const mostRowsPerPass = 256;

/** Rows per forward pass for validating a round of batches of `batchSize`. */
export function predictorRows(batchSize: number): number {
  return Math.max(1, Math.min(mostRowsPerPass, batchSize));
}

/**
 * The kernels' predictor for validating a round, or undefined where training would run on tfjs (layers
 * the kernels lack, native TensorFlow, `FBM_ENGINE=tfjs`: `choice`, the round's one engine choice):
 * validation then uses tfjs too.
 */
export function kernelPredictor(choice: EngineChoice, batchSize: number): KernelPredictor | undefined {
  return choice.engine === "kernels" ? createKernelPredictor(choice.spec, predictorRows(batchSize)) : undefined;
}

import type { RowSource } from "../batches.js";
import type { Plan } from "../plan.js";
import type { Rng } from "../rng.js";
import type { DpStep } from "./dp-step.js";

/**
 * One engine's optimizer steps inside `trainLocal`, over plain arrays: the trainable parameters go in flat
 * (trainable-weight order) and come out flat; the loss is read only when asked. Implemented by the kernels
 * (kernels-stepper.ts) and by TensorFlow.js (tfjs-stepper.ts).
 */
export interface Stepper {
  step(batch: Int32Array): void;
  /** Σ of the per-step mean losses since the last call. */
  takeLoss(): Promise<number>;
  /** Waits for the last step and returns the trained parameters (flat, trainable-weight order). */
  finish(): Promise<Float32Array>;
  /**
   * After `finish`: the non-trainable weights (batch normalization's moving statistics) when the engine
   * kept them outside the model (the kernels), flat in `model.nonTrainableWeights` order; undefined when
   * the model's own variables hold them (tfjs).
   */
  trainedState(): Float32Array | undefined;
  /** Releases threads, memory and tensors; safe after a failure. */
  close(): void;
}

/** What every engine's stepper starts from. */
export interface StepperInit {
  source: RowSource;
  /** Trainable parameters to start from, flat in trainable-weight order. */
  params: Float32Array;
  /** Non-trainable weights to start from, flat in `model.nonTrainableWeights` order (tfjs reads the model's). */
  state?: Float32Array;
  plan: Plan;
  /** FedProx: the gradient gains mu·(w − anchor); the anchor is the global parameters (flat). */
  fedprox?: { mu: number; anchor: Float32Array };
  /** SCAFFOLD's drift correction c − c_i, flat (zeros for weights without one), added to every gradient. */
  correction?: Float32Array;
  /**
   * Largest batch the engine sizes its buffers for (batch size, at most the training rows; under DP a bound
   * on the Poisson batch, and the kernels take a larger batch in parts).
   */
  maxRows: number;
  /** DP-SGD: per-sample clipping, noise on the sum, divided by the expected batch (dp-step.ts). */
  dp?: DpStep;
  /** The run's generator: dropout seeds, one per dropout layer per step, on both engines. */
  rng: Rng;
}

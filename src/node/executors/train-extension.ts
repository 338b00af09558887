import type { NamedTensor, TrainResult } from "../../ml/types.js";

/**
 * The node's half of the seam for algorithms that send more than the model (the researcher's half is
 * TensorExchange): which of the task's tensors are the model, what local training adds to each
 * gradient, and which tensors the reply carries.
 */
export interface TrainExtension {
  /** The model the task carries (its other tensors belong to the algorithm). */
  model: NamedTensor[];
  /** Added to every gradient step (SCAFFOLD's c − c_i), shaped like the model. */
  gradientCorrection?: NamedTensor[];
  /** What the reply tells, given the finished local training (its tensors, at least). */
  reply(result: TrainResult): TrainResult;
}

/** No extension: the task carries the model, the reply the trained model. */
export function plainExtension(params: NamedTensor[]): TrainExtension {
  return { model: params, reply: (result) => result };
}

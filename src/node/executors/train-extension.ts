import type { NamedTensor, TrainingArgs, TrainResult } from "../../ml/types.js";
import { type AlgorithmExtension, CONTROL_PREFIX } from "../../wire/index.js";

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

/**
 * The extension a train task names (`algorithm_extension`), or, from a researcher older than that
 * field, the one its content implies: SCAFFOLD when it carries control variates, FedProx when μ > 0.
 */
export function taskExtension(task: {
  algorithmExtension?: AlgorithmExtension;
  params: NamedTensor[];
  args: Pick<TrainingArgs, "fedproxMu">;
}): AlgorithmExtension | undefined {
  if (task.algorithmExtension) return task.algorithmExtension;
  if (task.params.some((p) => p.name.startsWith(CONTROL_PREFIX))) return "scaffold";
  return task.args.fedproxMu > 0 ? "fedprox" : undefined;
}

/** The training args with FedProx's μ only when FedProx is the task's extension. */
export function proximalArgs<A extends Pick<TrainingArgs, "fedproxMu">>(args: A, extension?: AlgorithmExtension): A {
  return extension === "fedprox" || args.fedproxMu === 0 ? args : { ...args, fedproxMu: 0 };
}

import type { NamedTensor } from "../types.js";
import type { KernelRunner } from "./kernel-runner.js";
import type { KernelPredictor } from "./kernels-predictor.js";

/**
 * What the kernels path keeps between rounds of one experiment, beside the network (warm-rounds.ts): the
 * runner (its kernels instance with parameters, gradients and optimizer state laid out, and its worker
 * threads, still joined), the validation predictor, and the weights' names and shapes, so a warm round
 * only loads the new parameters: no tfjs model touched, no kernels instance or thread set up.
 */
export interface KernelSession {
  /**
   * The layout it was made for (threads, trainer options, DP, FedProx, SCAFFOLD, predictor rows): a round
   * with another layout makes its own and the kept one is closed.
   */
  readonly layout: string;
  /** Present once a round with steps ran (a validation-only round makes none). */
  runner?: KernelRunner;
  /** Present once a round validated on the kernels. */
  predictor?: KernelPredictor;
  /** Every weight of the network, in getParams order; all trainable (the kernels train no other kind). */
  readonly weights: Pick<NamedTensor, "name" | "shape">[];
  /** Releases the runner's threads and memory. */
  close(): void;
}

export function createKernelSession(layout: string, weights: Pick<NamedTensor, "name" | "shape">[]): KernelSession {
  const session: KernelSession = {
    layout,
    weights,
    close() {
      session.runner?.close();
      session.runner = undefined;
      session.predictor = undefined;
    },
  };
  return session;
}

/** Parameters as the kernels take them: `params` (checked against `weights`) concatenated, flat. */
export function flatParams(weights: KernelSession["weights"], params: NamedTensor[]): Float32Array {
  const byName = new Map(params.map((p) => [p.name, p]));
  const flat = new Float32Array(weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0));
  let at = 0;
  for (const w of weights) {
    const data = byName.get(w.name)!.data;
    flat.set(data, at);
    at += data.length;
  }
  return flat;
}

/** The kernels' flat parameters as named tensors (copies). */
export function namedParams(weights: KernelSession["weights"], flat: Float32Array): NamedTensor[] {
  let at = 0;
  return weights.map((w) => {
    const size = w.shape.reduce((a, b) => a * b, 1);
    const data = flat.slice(at, at + size);
    at += size;
    return { name: w.name, shape: [...w.shape], dtype: "float32", data };
  });
}

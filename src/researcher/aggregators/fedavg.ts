import { checkUpdates, sampleWeights, toFloat32, weightedSum } from "./tensors.js";
import type { AggregateInput, AggregateOutput, Aggregator } from "./types.js";

/** FedAvg (McMahan et al. 2017): the mean of the nodes' parameters weighted by their sample counts. */
export function createFedAvg(): Aggregator {
  return {
    name: "fedavg",
    foldable: true,
    nodeArgs: () => ({}),
    aggregate: (input) => weightedAverage("fedavg", input),
  };
}

/**
 * FedProx (Li et al. 2020): the server averages like FedAvg; each node adds (μ/2)·‖w − w_global‖²
 * to its local loss, so `nodeArgs` hands μ to the train tasks.
 */
export function createFedProx(options: { mu: number }): Aggregator {
  return {
    name: "fedprox",
    foldable: true,
    nodeArgs: () => ({ fedproxMu: options.mu }),
    aggregate: (input) => weightedAverage("fedprox", input),
  };
}

function weightedAverage(name: string, input: AggregateInput): AggregateOutput {
  checkUpdates(name, input);
  const weights = sampleWeights(name, input.round, input.updates);
  const params = toFloat32(
    weightedSum(
      input.updates.map((u) => u.params),
      weights,
    ),
  );
  return { params, state: {} };
}

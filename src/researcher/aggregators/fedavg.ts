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
  // One update (the run loop's running mean, which folded every reply): its weight is s/s = 1 and 1·x
  // is x exactly, so the result is a copy of it (callers own what aggregate returns). Summing it again
  // took a float64 and a float32 model-sized array at each round's end, where the researcher's rss
  // peaks at 100 × 1M (README "Scale", Memory).
  if (input.updates.length === 1) return { params: input.updates[0].params.map((p) => p.slice()), state: {} };
  const params = toFloat32(
    weightedSum(
      input.updates.map((u) => u.params),
      weights,
    ),
  );
  return { params, state: {} };
}

import { checkUpdates, pseudoGradient, readTensors, sampleWeights, toFloat32, writeTensors } from "./tensors.js";
import type { Aggregator } from "./types.js";

/**
 * FedAvgM (Hsu et al. 2019): server momentum over the pseudo-gradient Δ = Σ wᵢ xᵢ − x,
 * v ← momentum·v + Δ, x ← x + server_lr·v. With momentum 0 and server_lr 1 it is FedAvg.
 * State: `{ velocity: number[][] }`.
 */
export function createFedAvgM(options: { serverLr: number; momentum: number }): Aggregator {
  const name = "fedavgm";
  return {
    name,
    foldable: true,
    nodeArgs: () => ({}),
    aggregate(input) {
      checkUpdates(name, input);
      const { global, updates, round } = input;
      const delta = pseudoGradient(global, updates, sampleWeights(name, round, updates));
      const velocity = readTensors(name, input.state, "velocity", global);
      const params = global.map((x, t) => {
        const v = velocity[t];
        const d = delta[t];
        const out = new Float64Array(x.length);
        for (let k = 0; k < x.length; k++) {
          v[k] = options.momentum * v[k] + d[k];
          out[k] = x[k] + options.serverLr * v[k];
        }
        return out;
      });
      return { params: toFloat32(params), state: { velocity: writeTensors(velocity) } };
    },
  };
}

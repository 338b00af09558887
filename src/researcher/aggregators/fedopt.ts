import { checkUpdates, pseudoGradient, readTensors, sampleWeights, toFloat32, writeTensors } from "./tensors.js";
import type { Aggregator } from "./types.js";

export type FedOptVariant = "fedadam" | "fedyogi" | "fedadagrad";

export interface FedOptOptions {
  serverLr: number;
  beta1: number;
  /** Unused by FedAdagrad. */
  beta2?: number;
  tau: number;
}

/**
 * FedAdam, FedYogi and FedAdagrad (Reddi et al. 2021, Algorithm 2), without bias correction:
 *   Δ = Σ wᵢ xᵢ − x,  m ← β1·m + (1−β1)·Δ,
 *   adam v ← β2·v + (1−β2)·Δ²;  yogi v ← v − (1−β2)·Δ²·sign(v − Δ²);  adagrad v ← v + Δ²,
 *   x ← x + η·m / (√v + τ).  m and v start at 0. State: `{ m: number[][], v: number[][] }`.
 */
export function createFedOpt(variant: FedOptVariant, options: FedOptOptions): Aggregator {
  const { serverLr, beta1, tau } = options;
  const beta2 = options.beta2 ?? 0;
  const nextV = {
    fedadam: (v: number, d2: number) => beta2 * v + (1 - beta2) * d2,
    fedyogi: (v: number, d2: number) => v - (1 - beta2) * d2 * Math.sign(v - d2),
    fedadagrad: (v: number, d2: number) => v + d2,
  }[variant];

  return {
    name: variant,
    foldable: true,
    nodeArgs: () => ({}),
    aggregate(input) {
      checkUpdates(variant, input);
      const { global, updates, round, state } = input;
      const delta = pseudoGradient(global, updates, sampleWeights(variant, round, updates));
      const m = readTensors(variant, state, "m", global);
      const v = readTensors(variant, state, "v", global);
      const params = global.map((x, t) => {
        const out = new Float64Array(x.length);
        const [mt, vt, dt] = [m[t], v[t], delta[t]];
        for (let k = 0; k < x.length; k++) {
          mt[k] = beta1 * mt[k] + (1 - beta1) * dt[k];
          vt[k] = nextV(vt[k], dt[k] * dt[k]);
          out[k] = x[k] + (serverLr * mt[k]) / (Math.sqrt(vt[k]) + tau);
        }
        return out;
      });
      return { params: toFloat32(params), state: { m: writeTensors(m), v: writeTensors(v) } };
    },
  };
}

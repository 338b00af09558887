import { z } from "zod";
import { RuntimeFailure } from "../../../common/errors.js";
import { defineAggregator } from "../descriptor.js";
import { checkUpdates, toFloat32 } from "../tensors.js";
import type { Aggregator } from "../types.js";

/**
 * q-FedAvg (Li et al. 2020, "Fair Resource Allocation in Federated Learning", Algorithm 2, §3.3): q-FFL
 * weighs the nodes whose loss is high more, by Fₖ^q. With L = 1/lr (the Lipschitz estimate of §3.3,
 * lr the nodes' local learning rate) and Fₖ = node k's loss of the global model x before training:
 *   Δwₖ = L·(x − wₖ),  Δₖ = Fₖ^q·Δwₖ,  hₖ = q·Fₖ^(q−1)·‖Δwₖ‖² + L·Fₖ^q,  x ← x − Σ Δₖ / Σ hₖ.
 * q = 0 is the unweighted mean of the updates. Fₖ is the `loss` of the global model on the node's
 * held-out rows (the task asks for it); 1e-10 is added to it as Flower does, so that a zero loss with
 * q < 1 does not divide by zero.
 */
export function createQFedAvg(options: { q: number; lr: number }): Aggregator {
  const { q } = options;
  const lipschitz = 1 / options.lr;
  const name = "qfedavg";
  return {
    name,
    nodeArgs: () => ({}),
    aggregate(input) {
      checkUpdates(name, input);
      const { global, updates, round } = input;
      const sums = global.map((x) => new Float64Array(x.length));
      let h = 0;
      for (const u of updates) {
        if (!(typeof u.loss === "number" && Number.isFinite(u.loss) && u.loss >= 0)) {
          throw new RuntimeFailure(
            `Cannot aggregate round ${round} with ${name}: node "${u.nodeId}" sent no loss of the global model (is its test split empty, or is it older than the researcher?)`,
          );
        }
        const loss = u.loss + 1e-10;
        const fq = loss ** q;
        let squares = 0;
        global.forEach((x, t) => {
          const y = u.params[t];
          const sum = sums[t];
          for (let k = 0; k < x.length; k++) {
            const dw = lipschitz * (x[k] - y[k]);
            squares += dw * dw;
            sum[k] += fq * dw;
          }
        });
        h += q * loss ** (q - 1) * squares + lipschitz * fq;
      }
      const params = global.map((x, t) => {
        const out = new Float64Array(x.length);
        for (let k = 0; k < x.length; k++) out[k] = x[k] - sums[t][k] / h;
        return out;
      });
      return { params: toFloat32(params), state: {} };
    },
  };
}

/** q = 0.2 and lr = 0.1 as Flower's QFedAvg (q_param, qffl_learning_rate). */
const defaults = { q: 0.2, lr: 0.1 } as const;

export const qfedavg = defineAggregator({
  name: "qfedavg",
  schema: z.strictObject({
    name: z.literal("qfedavg"),
    q: z.number().min(0).max(100).default(defaults.q),
    lr: z.number().gt(0).max(100).default(defaults.lr),
  }),
  defaults,
  // Fₖ^q weighs each update by its own loss: it needs every update and loss, not one mean.
  supports: { centralDp: false, secureAggregation: false, bounds: false },
  family: "fair aggregation (q-FFL)",
  needsGlobalLoss: true,
  create: (config) => createQFedAvg(config),
});

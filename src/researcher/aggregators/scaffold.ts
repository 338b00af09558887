import { RuntimeFailure } from "../../common/errors.js";
import { expectedReply, withControl } from "../../wire/index.js";
import { checkUpdates, pseudoGradient, readTensors, sampleWeights, toFloat32, writeTensors } from "./tensors.js";
import type { Aggregator, TensorExchange } from "./types.js";

/**
 * SCAFFOLD (Karimireddy et al. 2020), server side, as Fed-BioMed's Scaffold:
 *   x ← x + server_lr · Σ wᵢ (yᵢ − x)   with wᵢ the sample weights (the paper uses a plain mean),
 *   c ← c + (|S| / N) · mean(Δcᵢ)       with N = `totalNodes` (default |S|, full participation).
 * Nodes receive c beside the model and answer with Δcᵢ beside theirs (`scaffoldExchange`), read back
 * as `controlDelta`. State: `{ control: number[][] }`.
 */
export function createScaffold(options: { serverLr: number }): Aggregator {
  const name = "scaffold";
  return {
    name,
    nodeArgs: () => ({}),
    exchange: scaffoldExchange,
    aggregate(input) {
      checkUpdates(name, input);
      const { global, updates, round } = input;
      const fail = (why: string) => new RuntimeFailure(`Cannot aggregate round ${round} with ${name}: ${why}`);
      const totalNodes = input.totalNodes ?? updates.length;
      if (!Number.isInteger(totalNodes) || totalNodes < updates.length) {
        throw fail(`${updates.length} updates from a federation of ${totalNodes} nodes`);
      }
      for (const u of updates) {
        const ok =
          u.controlDelta?.length === global.length &&
          u.controlDelta.every((t, i) => t.length === global[i].length && t.every(Number.isFinite));
        if (!ok) throw fail(`node "${u.nodeId}" sent no control variate change shaped like the model`);
      }

      const delta = pseudoGradient(global, updates, sampleWeights(name, round, updates));
      const params = global.map((x, t) => {
        const out = new Float64Array(x.length);
        for (let k = 0; k < x.length; k++) out[k] = x[k] + options.serverLr * delta[t][k];
        return out;
      });
      // (|S|/N) · (1/|S|) Σ Δcᵢ = (1/N) Σ Δcᵢ
      const control = readTensors(name, input.state, "control", global);
      for (const u of updates) {
        control.forEach((c, t) => {
          const dc = u.controlDelta![t];
          for (let k = 0; k < c.length; k++) c[k] += dc[k] / totalNodes;
        });
      }
      return { params: toFloat32(params), state: { control: writeTensors(control) } };
    },
  };
}

/** The task carries the model then c (`scaffold.c:<param>`); the reply the trained model then Δcᵢ. */
const scaffoldExchange: TensorExchange = {
  outgoing(global, state) {
    const model = global.map((t) => t.data as Float32Array);
    return withControl(global, toFloat32(readTensors("scaffold", state, "control", model)));
  },
  expected: (global) => expectedReply(global, true),
  read: ({ nodeId, samples, tensors }, global) => ({
    nodeId,
    samples,
    params: tensors.slice(0, global.length),
    controlDelta: tensors.slice(global.length),
  }),
};

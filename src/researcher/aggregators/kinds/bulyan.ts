import { z } from "zod";
import { RuntimeFailure } from "../../../common/errors.js";
import { defineAggregator } from "../descriptor.js";
import { krumScore, squaredDistances } from "../krum.js";
import { count, robust } from "../schema-parts.js";
import { checkUpdates } from "../tensors.js";
import type { Aggregator } from "../types.js";

/**
 * Bulyan (El Mhamdi et al. 2018, "The Hidden Vulnerability of Distributed Learning in Byzantium", §4),
 * for at most f Byzantine updates among n ≥ 4f + 3:
 *   1. selection: θ = n − 2f times, pick by Krum (scores over the updates not yet picked, each update's
 *      n' − f − 2 nearest, at least 1) and move the pick to S;
 *   2. aggregation: per coordinate, the mean of the β = θ − 2f values of S closest to their median.
 * Like Krum, it ignores sample counts (a liar could claim any).
 */
export function createBulyan(options: { f: number }): Aggregator {
  const { f } = options;
  const name = "bulyan";
  return {
    name,
    nodeArgs: () => ({}),
    aggregate(input) {
      checkUpdates(name, input);
      const { updates, round } = input;
      const n = updates.length;
      if (n < 4 * f + 3) {
        throw new RuntimeFailure(
          `Cannot aggregate round ${round} with ${name}: f = ${f} needs at least ${4 * f + 3} updates, got ${n}`,
        );
      }
      const dist = squaredDistances(updates);
      const left = updates.map((_, i) => i);
      const selected: number[] = [];
      while (selected.length < n - 2 * f) {
        const neighbours = Math.max(1, left.length - f - 2);
        let best = 0;
        let bestScore = Number.POSITIVE_INFINITY;
        left.forEach((i, at) => {
          const score = krumScore(dist, left, i, neighbours);
          if (score < bestScore) [best, bestScore] = [at, score];
        });
        selected.push(...left.splice(best, 1));
      }
      const keep = selected.length - 2 * f;
      const column = new Float64Array(selected.length);
      const params = input.global.map((x, t) => {
        const out = new Float32Array(x.length);
        for (let k = 0; k < x.length; k++) {
          selected.forEach((i, at) => {
            column[at] = updates[i].params[t][k];
          });
          out[k] = meanAroundMedian(column, keep);
        }
        return out;
      });
      return { params, state: {} };
    },
  };
}

/** The mean of the `keep` values closest to the median (sorts `values`). */
export function meanAroundMedian(values: Float64Array, keep: number): number {
  values.sort();
  const mid = values.length >> 1;
  const median = values.length % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  // The `keep` closest to the median form a window of the sorted values: slide it while that helps.
  let lo = 0;
  while (lo + keep < values.length && median - values[lo] > values[lo + keep] - median) lo++;
  let sum = 0;
  for (let i = lo; i < lo + keep; i++) sum += values[i];
  return sum / keep;
}

export const bulyan = defineAggregator({
  name: "bulyan",
  schema: z.strictObject({ name: z.literal("bulyan"), f: count }),
  defaults: {},
  minimumUpdates: (config) => 4 * config.f + 3,
  family: "robust aggregation",
  supports: robust,
  create: (config) => createBulyan(config),
});

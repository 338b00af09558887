import { InputError, RuntimeFailure } from "../../common/errors.js";
import { checkUpdates, sampleWeights, toFloat32, weightedSum } from "./tensors.js";
import type { Aggregator, Update } from "./types.js";

/**
 * Krum and Multi-Krum (Blanchard et al. 2017; El Mhamdi et al. 2018). Each update's score is the sum
 * of squared distances to its n − f − 2 nearest neighbours (all tensors as one vector); requires
 * n > 2f + 2. Krum returns the lowest-scoring update (first one on a tie); Multi-Krum averages the
 * m lowest, weighted by samples (m defaults to n − f).
 */
export function createKrum(options: { f: number }): Aggregator {
  return createMultiKrumLike("krum", options.f, () => 1);
}

export function createMultiKrum(options: { f: number; m?: number }): Aggregator {
  if (options.m !== undefined && !(Number.isInteger(options.m) && options.m >= 1)) {
    throw new InputError(`Invalid aggregator "multikrum": m must be a whole number of at least 1, got ${options.m}`);
  }
  return createMultiKrumLike("multikrum", options.f, (n) => options.m ?? n - options.f);
}

function createMultiKrumLike(name: string, f: number, pick: (n: number) => number): Aggregator {
  if (!(Number.isInteger(f) && f >= 0)) {
    throw new InputError(`Invalid aggregator "${name}": f must be a whole number of at least 0, got ${f}`);
  }
  return {
    name,
    nodeArgs: () => ({}),
    aggregate(input) {
      checkUpdates(name, input);
      const { updates, round } = input;
      const n = updates.length;
      const fail = (why: string) => new RuntimeFailure(`Cannot aggregate round ${round} with ${name}: ${why}`);
      if (n <= 2 * f + 2) throw fail(`f = ${f} needs more than ${2 * f + 2} updates, got ${n}`);
      const m = pick(n);
      if (m > n) throw fail(`m = ${m} is more than the ${n} updates`);

      const scores = krumScores(updates, n - f - 2);
      const best = updates
        .map((_, i) => i)
        .sort((a, b) => scores[a] - scores[b] || a - b)
        .slice(0, m);
      const chosen = best.map((i) => updates[i]);
      if (m === 1) return { params: chosen[0].params.map((t) => t.slice()), state: {} };
      const weights = sampleWeights(name, round, chosen);
      return {
        params: toFloat32(
          weightedSum(
            chosen.map((u) => u.params),
            weights,
          ),
        ),
        state: {},
      };
    },
  };
}

/** Sum of squared distances from each update to its `neighbours` nearest others. */
export function krumScores(updates: Update[], neighbours: number): number[] {
  const dist = squaredDistances(updates);
  const all = updates.map((_, i) => i);
  return all.map((i) => krumScore(dist, all, i, neighbours));
}

/** ‖xᵢ − xⱼ‖² between every two updates (all tensors as one vector). */
export function squaredDistances(updates: Update[]): Float64Array[] {
  const n = updates.length;
  const dist = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let d = 0;
      updates[i].params.forEach((a, t) => {
        const b = updates[j].params[t];
        for (let k = 0; k < a.length; k++) d += (a[k] - b[k]) ** 2;
      });
      dist[i][j] = dist[j][i] = d;
    }
  }
  return dist;
}

/** Krum's score of update `i` among the updates `among`: its distances to its `neighbours` nearest. */
export function krumScore(dist: Float64Array[], among: number[], i: number, neighbours: number): number {
  const others = among
    .filter((j) => j !== i)
    .map((j) => dist[i][j])
    .sort((a, b) => a - b);
  return others.slice(0, neighbours).reduce((sum, d) => sum + d, 0);
}

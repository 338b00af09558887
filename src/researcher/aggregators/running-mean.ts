import type { Update } from "./types.js";

/**
 * Folds updates into Σ samplesᵢ·xᵢ (float64) as they arrive, so a round holds one model-sized sum
 * instead of every node's parameters. `result()` is the one update a foldable aggregator needs:
 * the weighted mean with the total sample count.
 */
export interface RunningMean {
  add(params: Float32Array[], samples: number): void;
  readonly count: number;
  result(): Update;
}

export function createRunningMean(lengths: number[]): RunningMean {
  const sums = lengths.map((n) => new Float64Array(n));
  let total = 0;
  let count = 0;
  return {
    add(params, samples) {
      params.forEach((t, i) => {
        const sum = sums[i];
        for (let k = 0; k < sum.length; k++) sum[k] += samples * t[k];
      });
      total += samples;
      count++;
    },
    get count() {
      return count;
    },
    result() {
      return {
        nodeId: `mean of ${count} updates`,
        samples: total,
        params: sums.map((sum) => Float32Array.from(sum, (v) => v / total)),
      };
    },
  };
}

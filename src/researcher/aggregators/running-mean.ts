import type { Update } from "./types.js";

/**
 * Folds updates into Σ samplesᵢ·xᵢ (float64) as they arrive, so a round holds one model-sized sum
 * instead of every node's parameters. `result()` is the one update a foldable aggregator needs:
 * the weighted mean with the total sample count.
 */
export interface RunningMean {
  add(params: Float32Array[], samples: number): void;
  /**
   * Adds `weight`·values into tensor `tensor` from value `start` on: part of an update folded chunk by
   * chunk as its bytes arrive; `commit` counts the update once it is whole. A negative `weight` takes
   * a part back out (−w·v is exactly −(w·v), so the same products are subtracted).
   */
  addRun(tensor: number, start: number, values: ArrayLike<number>, weight: number): void;
  /** Counts an update whose values `addRun` folded: its samples join the total. */
  commit(samples: number): void;
  readonly count: number;
  result(): Update;
}

export function createRunningMean(lengths: number[]): RunningMean {
  const sums = lengths.map((n) => new Float64Array(n));
  let total = 0;
  let count = 0;
  const addRun = (tensor: number, start: number, values: ArrayLike<number>, weight: number) => {
    const sum = sums[tensor];
    const n = values.length;
    for (let k = 0; k < n; k++) sum[start + k] += weight * values[k];
  };
  return {
    add(params, samples) {
      for (let i = 0; i < sums.length; i++) addRun(i, 0, params[i].subarray(0, sums[i].length), samples);
      total += samples;
      count++;
    },
    addRun,
    commit(samples) {
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
        params: sums.map((sum) => meanOf(sum, total)),
      };
    },
  };
}

/**
 * sum / total rounded to float32, by a plain loop: `Float32Array.from(sum, mapFn)` first lists every
 * value as a JS number (~35 MiB of heap and seconds of CPU per million parameters, at every round's end).
 */
function meanOf(sum: Float64Array, total: number): Float32Array {
  const out = new Float32Array(sum.length);
  for (let k = 0; k < sum.length; k++) out[k] = sum[k] / total;
  return out;
}

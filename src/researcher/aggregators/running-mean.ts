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
  /**
   * `addRun` for float32 values that must be finite, in one pass: adds them up to the first value that
   * is not finite and returns its index, or -1 when all were added. The fold's hot loop (reply-fold.ts):
   * it only ever sees Float32Arrays, so V8 keeps its loads monomorphic (`addRun`, which also takes
   * Int32Arrays and plain arrays, ran ~50× slower per value in the fold once it had seen them).
   */
  addFinite(tensor: number, start: number, values: Float32Array, weight: number): number;
  /** Counts an update whose values `addRun` folded: its samples join the total. */
  commit(samples: number): void;
  readonly count: number;
  result(): Update;
  /** The tensors' lengths it sums. */
  readonly lengths: readonly number[];
  /** Back to no update at all, the sums' memory kept (a new round's mean: see `reuseRunningMean`). */
  reset(): void;
}

/**
 * `previous` reset when it sums tensors of `lengths`, else a new running mean. An experiment keeps one
 * from round to round: its float64 sums are twice the model, and a fresh one per round had every page
 * of them first touched again (at 64 MiB of parameters ~0.4 ms of receiving CPU per MiB of each reply's
 * round, bench/transfer.ts), while zeroing touched memory runs at memory speed.
 */
export function reuseRunningMean(previous: RunningMean | undefined, lengths: readonly number[]): RunningMean {
  const same = previous?.lengths.length === lengths.length && lengths.every((n, i) => previous.lengths[i] === n);
  if (!previous || !same) return createRunningMean([...lengths]);
  previous.reset();
  return previous;
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
  const addFinite = (tensor: number, start: number, values: Float32Array, weight: number): number => {
    const sum = sums[tensor];
    const n = values.length;
    for (let k = 0; k < n; k++) {
      const v = values[k];
      if (v - v !== 0) return k; // NaN or ±Infinity
      sum[start + k] += weight * v;
    }
    return -1;
  };
  return {
    addFinite,
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
    lengths: [...lengths],
    reset() {
      for (const sum of sums) sum.fill(0);
      total = 0;
      count = 0;
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

import { InputError } from "../../common/errors.js";
import { checkUpdates } from "./tensors.js";
import type { AggregateInput, Aggregator } from "./types.js";

/**
 * Coordinate-wise robust statistics (Yin et al. 2018). Both ignore sample counts on purpose: a node
 * could claim any count, and weighting would let one liar move the result.
 */

/** FedMedian: the median of each coordinate (mean of the two middle values for an even count). */
export function createFedMedian(): Aggregator {
  return {
    name: "fedmedian",
    nodeArgs: () => ({}),
    aggregate: (input) => ({ params: coordinateWise("fedmedian", input, median), state: {} }),
  };
}

/** Trimmed mean: per coordinate, drop the ⌊β·n⌋ lowest and highest values and average the rest. */
export function createTrimmedMean(options: { beta: number }): Aggregator {
  const { beta } = options;
  if (!(beta >= 0 && beta < 0.5)) {
    throw new InputError(`Invalid aggregator "trimmed_mean": beta must be at least 0 and below 0.5, got ${beta}`);
  }
  const trimmed = (sorted: Float64Array) => {
    const cut = Math.floor(beta * sorted.length);
    let sum = 0;
    for (let i = cut; i < sorted.length - cut; i++) sum += sorted[i];
    return sum / (sorted.length - 2 * cut);
  };
  return {
    name: "trimmed_mean",
    nodeArgs: () => ({}),
    aggregate: (input) => ({ params: coordinateWise("trimmed_mean", input, trimmed), state: {} }),
  };
}

function median(sorted: Float64Array): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Applies `statistic` to the sorted values of each coordinate across the updates. */
function coordinateWise(
  name: string,
  input: AggregateInput,
  statistic: (sorted: Float64Array) => number,
): Float32Array[] {
  checkUpdates(name, input);
  const { updates } = input;
  const column = new Float64Array(updates.length);
  return input.global.map((x, t) => {
    const out = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) {
      for (let i = 0; i < updates.length; i++) column[i] = updates[i].params[t][k];
      insertionSort(column);
      out[k] = statistic(column);
    }
    return out;
  });
}

/** Few values per coordinate (one per node): insertion sort beats a comparator-based sort here. */
function insertionSort(a: Float64Array): void {
  for (let i = 1; i < a.length; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

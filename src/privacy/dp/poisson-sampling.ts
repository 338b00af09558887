import { createCryptoUniform } from "./noise.js";

/**
 * Poisson sampling of DP-SGD's batches: every training row joins each step's batch independently with
 * probability q, so a batch's size varies (it may be empty). This is the sampling the sampled Gaussian
 * mechanism's accountant assumes (Abadi et al. 2016, Section 3.1; Mironov, Talwar & Zhang 2019, Section 3)
 * and what Opacus's `poisson_sampling=True` does. Its randomness is the node's own (node:crypto), never
 * the researcher's seed: amplification by sampling holds only if the adversary does not know which rows a
 * step used.
 */
export interface BatchSampler {
  /** The rows of the next step's batch, in increasing order. */
  next(): Int32Array;
}

/**
 * A sampler over `rows` at `rate`. Draws one uniform per row chosen, not per row: the gap to the next
 * chosen row is geometric, ⌊log U / log(1 − q)⌋ (Devroye 1986, "Non-Uniform Random Variate Generation",
 * Section X.2), which is the same law as one Bernoulli(q) trial per row. `uniform` (in (0, 1)) is for tests.
 */
export function createPoissonSampler(options: {
  rows: Int32Array;
  rate: number;
  uniform?: () => number;
}): BatchSampler {
  const { rows, rate } = options;
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`Sampling rate ${rate} is not in [0, 1]`);
  const uniform = options.uniform ?? createCryptoUniform();
  const logMiss = Math.log1p(-rate);
  const chosen = new Int32Array(rows.length);
  return {
    next() {
      if (rate >= 1) return rows.slice();
      if (rate <= 0) return new Int32Array(0);
      let count = 0;
      for (let at = Math.floor(Math.log(uniform()) / logMiss); at < rows.length; ) {
        chosen[count++] = rows[at];
        at += 1 + Math.floor(Math.log(uniform()) / logMiss);
      }
      return chosen.slice(0, count);
    },
  };
}

/**
 * A batch size the engines size their buffers for: the expected size plus 4 standard deviations (a
 * binomial's std is below √expected); a larger batch is still taken whole, in parts of this size.
 */
export function poissonBatchBound(expected: number, rows: number): number {
  return Math.min(rows, Math.ceil(expected + 4 * Math.sqrt(expected)) + 1);
}

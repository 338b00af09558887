import { addGaussianNoise, type Gaussian } from "../../privacy/dp/noise.js";

/**
 * DP-SGD's step: clip per sample to `clipNorm`, add N(0, (σ·clipNorm)²) to the sum, divide by
 * `expectedBatch` (q·N for Poisson batches: a fixed divisor keeps the mean post-processing of the noisy sum).
 */
export interface DpStep {
  noiseMultiplier: number;
  clipNorm: number;
  gaussian: Gaussian;
  expectedBatch: number;
}

/** A sample's clip factor min(1, C/‖g‖) (Abadi et al. 2016, Algorithm 1, "clip gradient"). */
export function clipFactor(norm: number, clipNorm: number): number {
  return norm > clipNorm ? clipNorm / norm : 1;
}

/**
 * Abadi et al. 2016, Algorithm 1, "add noise" and the average: the clipped sum (flat, every trainable weight
 * in order) gains N(0, (σ·C)²) per value and is divided by the expected batch, in place. Both engines call
 * this once per step, so they draw the same noise from the same source.
 */
export function noiseAndAverage(clippedSum: Float32Array, dp: DpStep): void {
  addGaussianNoise(clippedSum, dp.noiseMultiplier * dp.clipNorm, dp.gaussian, dp.expectedBatch);
}

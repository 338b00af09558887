import type { NamedTensor } from "../../common/tensors.js";
import { addGaussianNoise, type Gaussian } from "./noise.js";

/**
 * Central DP's per-node step (McMahan et al. 2018, "Learning Differentially Private Recurrent Language
 * Models", Algorithm 1, ClipFn): the node's update Δ = trained − global is scaled to L2 norm at most
 * `clipNorm` over all tensors, and the node sends global + Δ·min(1, C/‖Δ‖).
 */
export function clipUpdate(global: NamedTensor[], trained: NamedTensor[], clipNorm: number): NamedTensor[] {
  const byName = new Map(global.map((t) => [t.name, t]));
  const pairs = trained.flatMap((t) => {
    const g = byName.get(t.name);
    return g && t.dtype === "float32" ? [{ t, g: g.data as Float32Array }] : [];
  });
  const factor = clipFactor(
    pairs.map((p) => p.g),
    pairs.map((p) => p.t.data as Float32Array),
    clipNorm,
  );
  if (factor === 1) return trained;
  return trained.map((t) => {
    const g = byName.get(t.name);
    if (!g || t.dtype !== "float32") return t;
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = g.data[i] + factor * (t.data[i] - g.data[i]);
    return { ...t, data };
  });
}

/** min(1, C/‖trained − global‖) over all tensors. */
function clipFactor(global: Float32Array[], trained: Float32Array[], clipNorm: number): number {
  let squares = 0;
  trained.forEach((t, k) => {
    for (let i = 0; i < t.length; i++) squares += (t[i] - global[k][i]) ** 2;
  });
  const norm = Math.sqrt(squares);
  return norm > clipNorm ? clipNorm / norm : 1;
}

/**
 * Central DP's aggregate (McMahan et al. 2018, Algorithm 1, with the uniform weights of its "flat"
 * clipping): global + (Σ_i clip(Δ_i) + N(0, (σ·C)²)) / n over the n updates received. Each update is
 * clipped again here, so one node's influence is bounded by C whatever it sent. Sample counts are not
 * used as weights: they would make one node's influence depend on its data.
 */
export function noisyMean(
  global: Float32Array[],
  updates: Float32Array[][],
  options: { noiseMultiplier: number; clipNorm: number; gaussian: Gaussian },
): Float32Array[] {
  if (updates.length === 0) throw new RangeError("A noisy mean needs at least one update");
  const sums = global.map((g) => new Float32Array(g.length));
  for (const update of updates) {
    const factor = clipFactor(global, update, options.clipNorm);
    update.forEach((t, k) => {
      for (let i = 0; i < t.length; i++) sums[k][i] += factor * (t[i] - global[k][i]);
    });
  }
  return sums.map((sum, k) => {
    addGaussianNoise(sum, options.noiseMultiplier * options.clipNorm, options.gaussian);
    const out = new Float32Array(sum.length);
    for (let i = 0; i < out.length; i++) out[i] = global[k][i] + sum[i] / updates.length;
    return out;
  });
}

/**
 * The std of one node's share of the central noise when `nodes` nodes each add their own under secure
 * aggregation: independent Gaussians add their variances, so n shares of std σ·C/√n sum to std σ·C, the
 * noise the researcher would otherwise add (as in Truex et al. 2019 and Flower's distributed DP).
 * Each share alone is weaker noise: the guarantee holds for the sum, which secure aggregation reveals.
 */
export function noiseShareStd(noiseMultiplier: number, clipNorm: number, nodes: number): number {
  if (!(Number.isInteger(nodes) && nodes >= 1)) throw new RangeError(`Node count ${nodes} is not a positive integer`);
  return (noiseMultiplier * clipNorm) / Math.sqrt(nodes);
}

/**
 * Distributed DP: the least secagg clip (per coordinate) that leaves a node's noisy coordinate uncut —
 * |Δ| ≤ C plus 4 std of its noise share, whose std is at most σ·C — so the fixed-point clamp cuts
 * the noise less than once in 15,000 coordinates.
 */
export function leastSecaggClip(dp: { noiseMultiplier: number; clipNorm: number }): number {
  return dp.clipNorm * (1 + 4 * dp.noiseMultiplier);
}

/** Adds this node's noise share to its (clipped) update's float tensors, before masking. */
export function addNoiseShare(
  params: NamedTensor[],
  options: { noiseMultiplier: number; clipNorm: number; nodes: number; gaussian: Gaussian },
): void {
  const std = noiseShareStd(options.noiseMultiplier, options.clipNorm, options.nodes);
  for (const t of params) if (t.dtype === "float32") addGaussianNoise(t.data as Float32Array, std, options.gaussian);
}

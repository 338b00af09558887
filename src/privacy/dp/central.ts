import type { NamedTensor } from "../../ml/types.js";
import { addGaussianNoise, type Gaussian } from "./noise.js";

/**
 * Central DP's per-node step (McMahan et al. 2018, "Learning Differentially Private Recurrent Language
 * Models", Algorithm 1, ClipFn): the node's update Δ = trained − global is scaled to L2 norm at most
 * `clipNorm` over all tensors, and the node sends global + Δ·min(1, C/‖Δ‖).
 */
export function clipUpdate(global: NamedTensor[], trained: NamedTensor[], clipNorm: number): NamedTensor[] {
  const byName = new Map(global.map((t) => [t.name, t]));
  let squares = 0;
  for (const t of trained) {
    const g = byName.get(t.name);
    if (!g || t.dtype !== "float32") continue;
    for (let i = 0; i < t.data.length; i++) squares += (t.data[i] - g.data[i]) ** 2;
  }
  const norm = Math.sqrt(squares);
  if (norm <= clipNorm) return trained;
  const factor = clipNorm / norm;
  return trained.map((t) => {
    const g = byName.get(t.name);
    if (!g || t.dtype !== "float32") return t;
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = g.data[i] + factor * (t.data[i] - g.data[i]);
    return { ...t, data };
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

/** Adds this node's noise share to its (clipped) update's float tensors, before masking. */
export function addNoiseShare(
  params: NamedTensor[],
  options: { noiseMultiplier: number; clipNorm: number; nodes: number; gaussian: Gaussian },
): void {
  const std = noiseShareStd(options.noiseMultiplier, options.clipNorm, options.nodes);
  for (const t of params) if (t.dtype === "float32") addGaussianNoise(t.data as Float32Array, std, options.gaussian);
}

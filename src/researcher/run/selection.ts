import { createRng } from "../../ml/rng.js";

/**
 * Which eligible nodes train this round: a `sample` fraction (at least `min`, at most all), drawn
 * with a generator seeded by (seed, round) so a resumed run picks the same nodes.
 */
export function selectNodes<T extends { node: string }>(
  eligible: readonly T[],
  options: { sample: number; min: number; seed: number; round: number },
): T[] {
  const sorted = [...eligible].sort((a, b) => a.node.localeCompare(b.node));
  const want = Math.min(sorted.length, Math.max(options.min, Math.ceil(options.sample * sorted.length)));
  if (want === sorted.length) return sorted;
  const rng = createRng(options.seed * 1_000_003 + options.round);
  return rng
    .shuffle(sorted)
    .slice(0, want)
    .sort((a, b) => a.node.localeCompare(b.node));
}

/** Mean of per-node metric values weighted by each node's sample count; keys present in any node. */
export function weightedMetrics(
  items: { values?: Record<string, number>; samples: number }[],
): Record<string, number> | undefined {
  const sums: Record<string, number> = {};
  const weights: Record<string, number> = {};
  for (const { values, samples } of items) {
    if (!values || samples <= 0) continue;
    for (const [k, v] of Object.entries(values)) {
      if (!Number.isFinite(v)) continue;
      sums[k] = (sums[k] ?? 0) + v * samples;
      weights[k] = (weights[k] ?? 0) + samples;
    }
  }
  const keys = Object.keys(sums);
  if (keys.length === 0) return undefined;
  return Object.fromEntries(keys.sort().map((k) => [k, sums[k] / weights[k]]));
}

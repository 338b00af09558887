import type { Aggregator, Update } from "./types.js";

/** Bounds on what one node's update can do to a FedAvg-family round (experiment.yaml `aggregator:`). */
export interface UpdateBounds {
  /** `clip_norm`: each update Δᵢ = xᵢ − x is scaled to L2 norm at most C before averaging. */
  clipNorm?: number;
  /** `max_weight_fraction`: no update carries more than this share of the round's sample weight. */
  maxWeightFraction?: number;
}

/**
 * An aggregator whose updates are bounded before it sees them: norm bounding as in Sun et al. 2019,
 * "Can You Really Backdoor Federated Learning?" (Section 4, norm thresholding of updates) and the
 * clipping step of McMahan et al. 2018 (DP-FedAvg, Algorithm 1, without the noise), so a node sending
 * a 1e30 update moves the model by at most C·(its weight); and sample weights capped so that a node
 * announcing billions of rows cannot own the mean. It needs each update whole, so it never folds.
 */
export function boundedAggregator(inner: Aggregator, bounds: UpdateBounds): Aggregator {
  return {
    name: inner.name,
    foldable: false,
    nodeArgs: (input) => inner.nodeArgs(input),
    ...(inner.exchange ? { exchange: { ...inner.exchange, foldable: false } } : {}),
    aggregate(input) {
      let updates = input.updates;
      const { clipNorm, maxWeightFraction } = bounds;
      if (clipNorm !== undefined) updates = updates.map((u) => clipToNorm(u, input.global, clipNorm));
      if (maxWeightFraction !== undefined) {
        const weights = cappedWeights(
          updates.map((u) => u.samples),
          maxWeightFraction,
        );
        updates = updates.map((u, i) => ({ ...u, samples: weights[i] }));
      }
      return inner.aggregate({ ...input, updates });
    },
  };
}

/** The update with x + min(1, C/‖Δ‖)·Δ as its parameters (unchanged when ‖Δ‖ ≤ C). */
function clipToNorm(update: Update, global: Float32Array[], clipNorm: number): Update {
  let squares = 0;
  update.params.forEach((t, k) => {
    const g = global[k];
    for (let i = 0; i < t.length; i++) squares += (t[i] - g[i]) ** 2;
  });
  const norm = Math.sqrt(squares);
  // A norm that overflows float64 (a 1e300 update) is clipped hardest: the factor then rounds to 0.
  if (norm <= clipNorm) return update;
  const factor = Number.isFinite(norm) ? clipNorm / norm : 0;
  const params = update.params.map((t, k) => {
    const g = global[k];
    const out = new Float32Array(t.length);
    for (let i = 0; i < t.length; i++) out[i] = g[i] + factor * (t[i] - g[i]);
    return out;
  });
  return { ...update, params };
}

/**
 * Weights wᵢ = min(nᵢ, c) with the largest cap c for which no wᵢ passes `fraction` of Σw (water
 * filling over the sorted counts). When fraction < 1/n no cap can do that: every update then weighs
 * alike, the closest there is.
 */
export function cappedWeights(samples: number[], fraction: number): number[] {
  const n = samples.length;
  const total = samples.reduce((s, v) => s + v, 0);
  if (n === 0 || Math.max(...samples) <= fraction * total) return samples;
  const sorted = [...samples].sort((a, b) => b - a);
  // The k largest capped at c, the rest as they are: c = f·(k·c + rest), so c = f·rest / (1 − f·k).
  let rest = total;
  for (let k = 1; k < n && fraction * k < 1; k++) {
    rest -= sorted[k - 1];
    const cap = (fraction * rest) / (1 - fraction * k);
    if (sorted[k] <= cap) return samples.map((v) => Math.min(v, cap));
  }
  return samples.map(() => 1);
}

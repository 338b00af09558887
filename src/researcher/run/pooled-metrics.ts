import { metricsFromCounts, poolCounts } from "../../ml/metric-counts.js";
import type { TaskKind } from "../../ml/metrics.js";
import type { MetricValues } from "../../ml/types.js";
import { weightedMetrics } from "./selection.js";

/**
 * The validation metrics of several nodes' test rows together. Counts-based metrics (accuracy,
 * precision, recall, f1, mse, mae, r2) equal those of the concatenated predictions; auc is within
 * `aucError` of it (src/ml/metric-counts.ts); the loss, a mean over rows, is the sample-weighted mean.
 * Replies without counts (nodes of an older fbm) leave only the sample-weighted mean of their figures.
 */
export function pooledMetrics(
  items: (MetricValues | undefined)[],
  kind: TaskKind,
): { values?: Record<string, number>; aucError?: number } {
  const present = items.filter((m): m is MetricValues => m !== undefined && m.samples > 0);
  const weighted = weightedMetrics(present);
  if (present.length === 0 || present.some((m) => m.counts === undefined)) return { values: weighted };
  const names = [...new Set(present.flatMap((m) => Object.keys(m.values)))].filter((n) => n !== "loss").sort();
  let pooled: ReturnType<typeof poolCounts>;
  try {
    pooled = poolCounts(present.map((m) => m.counts!));
  } catch {
    return { values: weighted }; // nodes disagree on the number of classes: nothing to pool
  }
  if (!pooled) return { values: weighted };
  const { values, aucError } = metricsFromCounts(names, pooled, kind);
  const loss = weighted?.loss;
  return {
    values: Object.fromEntries(
      Object.entries({ ...values, ...(loss === undefined ? {} : { loss }) }).sort(([a], [b]) => a.localeCompare(b)),
    ),
    ...(aucError === undefined ? {} : { aucError }),
  };
}

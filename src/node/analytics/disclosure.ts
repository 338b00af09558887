import { type MetricCounts, mergeScoreRuns } from "../../ml/metric-counts.js";
import type { MetricValues } from "../../ml/types.js";
import type { FineBin, PublishedCount } from "../../wire/index.js";

/**
 * What a node lets out of its statistics (config `min_count`, `stats_minmax`); see README "Federated
 * statistics". Pure functions: every figure of an analytics reply passes through one of them.
 */

/** A count under `minCount`: exact when 0 or at least minCount, else "below". */
export function publishCount(n: number, minCount: number): PublishedCount {
  return n === 0 || n >= minCount ? n : "below";
}

/**
 * Counts that add up to a published total (a histogram's bins, a target's classes). Counts from 1 to
 * minCount − 1 become "below"; when that leaves a lone "below" (the total minus the others would give
 * it away), the smallest other non-zero count becomes "hidden" too.
 */
export function publishCells(cells: number[], minCount: number): PublishedCount[] {
  const out = cells.map((n) => publishCount(n, minCount));
  if (out.filter((c) => c === "below").length !== 1) return out;
  let pick = -1;
  cells.forEach((n, i) => {
    if (typeof out[i] === "number" && n > 0 && (pick < 0 || n < cells[pick])) pick = i;
  });
  if (pick >= 0) out[pick] = "hidden";
  return out;
}

/**
 * Minimum and maximum as the node may tell them: exact when `allowed`, else rounded outward to a grid
 * of 10^k, the largest power of ten not above max − min (so the true values stay inside one grid
 * step: min in [min', min' + grid), max in [max' − grid, max')).
 */
export function protectMinMax(min: number, max: number, allowed: boolean): { min: number; max: number; grid: number } {
  if (allowed) return { min, max, grid: 0 };
  const span = max - min;
  const scale = span > 0 ? span : Math.abs(max) > 0 ? Math.abs(max) : 1;
  const power = Math.floor(Math.log10(scale));
  // Multiples of 10^power, computed as k / 10^-power for negative powers so 0.1 steps stay exact decimals.
  const at = (k: number) => (power >= 0 ? k * 10 ** power : k / 10 ** -power);
  const step = (v: number) => (power >= 0 ? v / 10 ** power : v * 10 ** -power);
  let low = Math.floor(step(min));
  let high = Math.floor(step(max)) + 1;
  if (at(low) > min) low--; // the scaling rounded up across a grid point
  if (at(high) <= max) high++;
  return { min: at(low), max: at(high), grid: at(1) };
}

/**
 * Runs of fine bins for quantiles, only inside bins whose count is published exactly: each bin's fine
 * bins are grouped, in order, into runs of at least `minCount` values that tile the bin (a short last
 * run joins the one before). So no run reveals a count below minCount, nor one a published total does not.
 */
export function fineRuns(
  fineCounts: ArrayLike<number>,
  fine: number,
  published: PublishedCount[],
  minCount: number,
): FineBin[] {
  const runs: FineBin[] = [];
  published.forEach((count, bin) => {
    if (typeof count !== "number" || count === 0) return;
    const first = runs.length;
    let start = bin * fine;
    let held = 0;
    for (let i = bin * fine; i < (bin + 1) * fine; i++) {
      held += fineCounts[i];
      if (held >= minCount) {
        runs.push({ start, end: i + 1, count: held });
        start = i + 1;
        held = 0;
      }
    }
    // The bin holds at least minCount values, so it has a run: a short tail (or empty fine bins) joins the last.
    if (start < (bin + 1) * fine && runs.length > first) {
      const last = runs[runs.length - 1];
      last.end = (bin + 1) * fine;
      last.count += held;
    }
  });
  return runs;
}

/**
 * Validation metrics as a node lets them out. Confusion counts and regression sums go as they are: they
 * say no more than the precision, recall and error figures nodes have always sent. Scores are the new
 * disclosure (each test row's model output beside its label), so their runs hold at least `minCount`
 * rows each and tile the score range (mergeScoreRuns): no score of a single row leaves the node.
 */
export function discloseMetrics(metrics: MetricValues | undefined, minCount: number): MetricValues | undefined {
  if (!metrics?.counts) return metrics;
  const counts: MetricCounts = {
    ...metrics.counts,
    ...(metrics.counts.scores ? { scores: metrics.counts.scores.map((s) => mergeScoreRuns(s, minCount)) } : {}),
  };
  return { ...metrics, counts };
}

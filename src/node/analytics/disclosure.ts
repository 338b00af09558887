import { type MetricCounts, mergeScoreRuns } from "../../ml/metric-counts.js";
import type { ColumnStats, MetricValues } from "../../ml/types.js";
import type { DatasetInfo, FineBin, PublishedCount } from "../../wire/index.js";

/**
 * The node's one disclosure gate: everything it publishes about its data (statistics, normalization
 * sums and table profiles, validation metrics, dataset descriptions) passes through these pure
 * functions, under its config `min_count` and `stats_minmax`; see README "What a node lets out".
 * The rules are threshold rules with secondary suppression (Hundepool et al., Statistical Disclosure
 * Control, Wiley 2012, ch. 4.2 and 5.2): no count from 0 to min_count − 1 is published, and the
 * suppressed cells of a table add up to min_count or more, so no complement recovers one.
 */

/** A lone count under `minCount`: exact when at least minCount, else "below" (0 is published like 1). */
export function publishCount(n: number, minCount: number): PublishedCount {
  return n >= minCount ? n : "below";
}

/**
 * Counts that add up to a published total (a histogram's bins, a target's classes, any table a node
 * publishes). Primary suppression: every count under `minCount`, zero included (a zero told apart from
 * a small count would tell where a single patient is not). Secondary suppression: while the suppressed
 * counts add up to less than minCount, the smallest published non-zero count is suppressed too
 * (Hundepool et al. 2012, ch. 5.2: the total minus the published cells is the suppressed cells' sum,
 * which must not pin any of them). When anything is suppressed, every suppressed cell is sent as
 * "hidden" (any count): telling which ones are small would narrow each cell to [0, min_count − 1] and
 * a sum of those can still pin them (two cells summing to 2(min_count − 1)).
 */
export function discloseCounts(cells: number[], minCount: number): PublishedCount[] {
  const suppressed = cells.map((n) => n < minCount);
  if (!suppressed.includes(true)) return [...cells];
  let held = cells.reduce((s, n, i) => s + (suppressed[i] ? n : 0), 0);
  while (held < minCount) {
    let pick = -1;
    cells.forEach((n, i) => {
      if (!suppressed[i] && (pick < 0 || n < cells[pick])) pick = i;
    });
    if (pick < 0) break; // everything is suppressed: the table tells its total alone
    suppressed[pick] = true;
    held += cells[pick];
  }
  return cells.map((n, i) => (suppressed[i] ? "hidden" : n));
}

/**
 * Counts whose threshold is on the people behind them, not on the counted items: a medical folder's
 * voxels, where one subject holds thousands (the threshold rule counts contributors, Hundepool et al.
 * 2012, ch. 4.2). `holders[i]` are the subjects with items in cell i. Primary suppression: every cell
 * held by fewer than `minCount` subjects, empty ones included. Secondary: while the subjects of the
 * suppressed cells together are fewer than minCount, the published cell held by the fewest subjects is
 * suppressed too, so the total minus the published cells is a sum over minCount subjects or more.
 */
export function discloseByHolders(cells: number[], holders: ReadonlySet<number>[], minCount: number): PublishedCount[] {
  const suppressed = holders.map((h) => h.size < minCount);
  if (!suppressed.includes(true)) return [...cells];
  const held = new Set<number>();
  const hold = (i: number) => {
    for (const s of holders[i]) held.add(s);
  };
  for (const [i, s] of suppressed.entries()) if (s) hold(i);
  while (held.size < minCount) {
    let pick = -1;
    holders.forEach((h, i) => {
      if (!suppressed[i] && (pick < 0 || h.size < holders[pick].size)) pick = i;
    });
    if (pick < 0) break;
    suppressed[pick] = true;
    hold(pick);
  }
  return cells.map((n, i) => (suppressed[i] ? "hidden" : n));
}

/**
 * Named cells each held by `minCount` rows or more (classes, categories) beside the rows of the rarer
 * ones, whose names never leave the node. A remainder of 0 is structural (no rare name exists) and
 * tells nothing of a row; one of 1 to minCount − 1 is hidden with secondary suppression as in
 * discloseCounts, so the smallest named count is "hidden" too. Returns the named cells as published.
 */
export function discloseNamed(counts: number[], rest: number, minCount: number): PublishedCount[] {
  if (rest === 0) return [...counts];
  return discloseCounts([...counts, rest], minCount).slice(0, counts.length);
}

/** Rounds a size up to a multiple of `base` (0 stays 0): the sizes dataset descriptions and the approval check tell. */
export function roundCount(n: number, base: number): number {
  return base > 1 ? Math.ceil(n / base) * base : n;
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
 * Validation metrics as a node lets them out: none when the test rows are fewer than `minCount` (the
 * confusion counts or regression sums Σy, Σ(y − ŷ)² of a handful of rows are those rows' labels).
 * Otherwise confusion counts and regression sums go as they are, as sums over min_count rows or more
 * (the threshold rule of the statistics' sums); scores are the per-row disclosure, so their runs hold at
 * least `minCount` rows each and tile the score range (mergeScoreRuns).
 */
export function discloseMetrics(metrics: MetricValues | undefined, minCount: number): MetricValues | undefined {
  if (!metrics) return metrics;
  const rows = metrics.counts?.rows ?? metrics.samples;
  if (rows < minCount) return undefined;
  if (!metrics.counts) return metrics;
  const counts: MetricCounts = {
    ...metrics.counts,
    ...(metrics.counts.scores ? { scores: metrics.counts.scores.map((s) => mergeScoreRuns(s, minCount)) } : {}),
  };
  return { ...metrics, counts };
}

/** What the node lets out about its data: its config `min_count` and `stats_minmax`. */
export interface DisclosurePolicy {
  minCount: number;
  minMax: boolean;
}

/**
 * Per-column normalization sums and table profiles as the node lets them out. count, sum, sum of
 * squares go only when count ≥ min_count (as `stats` sends them), else all are 0; min and max are
 * rounded outward unless `stats_minmax` (protectMinMax); missing cells are rounded up to a multiple of
 * min_count. Categories (each held by min_count rows or more, see profileTable) and the rows of the rarer
 * ones together ("other") are one table: secondary suppression may drop the smallest category too, its
 * rows then counting as "other" (discloseCounts).
 */
export function discloseColumnStats(columns: ColumnStats[], policy: DisclosurePolicy): ColumnStats[] {
  const { minCount } = policy;
  return columns.map((c) => {
    const exact = c.count >= minCount;
    const range = exact ? protectMinMax(c.min, c.max, policy.minMax) : { min: 0, max: 0 };
    const out: ColumnStats = {
      name: c.name,
      count: exact ? c.count : 0,
      sum: exact ? c.sum : 0,
      sumSquares: exact ? c.sumSquares : 0,
      min: c.categories ? 0 : range.min,
      max: c.categories ? 0 : range.max,
    };
    if (c.missing !== undefined) out.missing = roundCount(c.missing, minCount);
    if (c.categories) {
      const rest = c.count - c.categories.reduce((s, k) => s + k.count, 0);
      const published = discloseNamed(
        c.categories.map((k) => k.count),
        rest,
        minCount,
      );
      out.categories = exact ? c.categories.filter((_, i) => typeof published[i] === "number") : [];
    }
    return out;
  });
}

/**
 * Normalization sums of one-hot inputs: each slot's sum is the number of rows in that category, so the
 * slots of one categorical column are a table of counts and pass discloseCounts. A suppressed slot
 * sends count, sum, sum of squares, min and max as 0 (the researcher scales it from the other nodes);
 * a published one sends min 0 and max 1, its values' range by construction.
 * `groups` lists, per one-hot column, the indexes of its slots in `columns`.
 */
export function discloseOneHot(columns: ColumnStats[], groups: number[][], minCount: number): ColumnStats[] {
  const out = [...columns];
  for (const group of groups) {
    const published = discloseCounts(
      group.map((i) => columns[i].sum),
      minCount,
    );
    group.forEach((i, k) => {
      const withheld = typeof published[k] !== "number";
      // A slot's values are 0 or 1 by construction: [0, 1] tells nothing, where rounding it outward would rescale it.
      out[i] = withheld
        ? { name: columns[i].name, count: 0, sum: 0, sumSquares: 0, min: 0, max: 0 }
        : { ...out[i], min: 0, max: 1 };
    });
  }
  return out;
}

/**
 * A dataset description as it leaves the node (`datasets`, search replies): its sample count and
 * class counts rounded up to a multiple of min_count (Hundepool et al. 2012, ch. 5.4, rounding), so
 * no exact size is there for a complement; everything else as toDatasetInfo gives it.
 */
export function discloseDatasetInfo(info: DatasetInfo, minCount: number): DatasetInfo {
  return {
    ...info,
    sampleCount: roundCount(info.sampleCount, minCount),
    classes: info.classes.map((c) => ({ name: c.name, count: roundCount(c.count, minCount) })),
  };
}

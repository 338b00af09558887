import type { HistogramGrid } from "../../ml/stats/histogram-grid.js";
import type { ColumnSummary } from "../../wire/index.js";

/** Fine bins in all, at least: the resolution quantiles are read at (before min_count coarsens them). */
export const FINE_BINS = 4096;

/**
 * The histogram grid every node counts on for one column, agreed before any counting: from the lowest
 * to the highest range the nodes proposed in the summary phase (their min and max, exact or rounded
 * outward, or a declared range such as 0–255 for pixels). A single value v gets [v − 0.5, v + 0.5], as numpy.
 */
export function agreeGrid(summaries: ColumnSummary[], bins: number): HistogramGrid | undefined {
  // A node proposes no range for a column it describes by counts (0/1 and text columns: histogramGrid 0).
  const counted = summaries.filter((s) => typeof s.count === "number" && s.count > 0 && s.histogramGrid > 0);
  if (counted.length === 0) return undefined;
  let lo = Math.min(...counted.map((s) => s.rangeLo));
  let hi = Math.max(...counted.map((s) => s.rangeHi));
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return undefined;
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  return { lo, hi, bins, fine: Math.ceil(FINE_BINS / bins) };
}

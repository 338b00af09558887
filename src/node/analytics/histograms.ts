import { InputError } from "../../common/errors.js";
import { fineBinCount, fineIndex, type HistogramGrid } from "../../ml/stats/histogram-grid.js";
import type { ColumnHistogram, HistogramRequest } from "../../wire/index.js";
import { discloseCounts, fineRuns } from "./disclosure.js";
import { gridCell, gridStep } from "./node-grid.js";
import type { ValueSource } from "./value-source.js";

/** Most bins a histogram request may ask for, and most fine bins in all (memory stays small). */
export const MAX_BINS = 1000;
export const MAX_FINE_BINS = 1 << 20;

/** Checks a histogram request from the researcher before anything is read. */
export function checkHistogramRequest(request: HistogramRequest): HistogramGrid {
  const { lo, hi, bins, fine } = request;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
    throw new InputError(
      `Cannot compute a histogram of column "${request.column}": its range [${lo}, ${hi}] is empty or not finite`,
    );
  }
  if (
    !(
      Number.isInteger(bins) &&
      bins >= 1 &&
      bins <= MAX_BINS &&
      Number.isInteger(fine) &&
      fine >= 1 &&
      bins * fine <= MAX_FINE_BINS
    )
  ) {
    throw new InputError(
      `Cannot compute a histogram of column "${request.column}": ${bins} bins of ${fine} fine bins; at most ${MAX_BINS} bins and ${MAX_FINE_BINS} fine bins`,
    );
  }
  return { lo, hi, bins, fine };
}

/**
 * The histogram phase: per column, bins over the agreed edges and runs of fine bins, as the policy lets
 * them out. Values are counted at the middle of their cell on the node's own grid (node-grid.ts), so
 * shifted edges cannot split a cell. The range must meet every non-empty cell: edges that cut off some
 * would let differences between two requests count the values in a sliver.
 */
export async function histogramColumns(
  source: ValueSource,
  selected: number[],
  grids: HistogramGrid[],
  minCount: number,
): Promise<ColumnHistogram[]> {
  const low = selected.map(() => Infinity);
  const high = selected.map(() => -Infinity);
  await source.scan(selected, (k, value) => {
    if (value < low[k]) low[k] = value;
    if (value > high[k]) high[k] = value;
  });
  const steps = selected.map((_, k) => (low[k] <= high[k] ? gridStep(low[k], high[k]) : 1));
  const fine = grids.map((grid) => new Float64Array(fineBinCount(grid)));
  let outside = -1;
  await source.scan(selected, (k, value) => {
    if (Number.isNaN(value)) return;
    const { lo, hi } = grids[k];
    const cell = gridCell(value, steps[k]);
    if (cell.lo > hi || cell.hi <= lo) outside = k;
    else fine[k][fineIndex(grids[k], Math.min(hi, Math.max(lo, cell.mid)))]++;
  });
  if (outside >= 0) {
    const { lo, hi } = grids[outside];
    throw new InputError(
      `Cannot compute a histogram of column "${source.columns[selected[outside]]}": the range [${lo}, ${hi}] does not hold all its values (the range comes from the summary phase)`,
    );
  }
  return selected.map((index, k) => histogram(source.columns[index], fine[k], grids[k], minCount));
}

/** One column's histogram from its fine counts. */
export function histogram(
  name: string,
  fineCounts: Float64Array,
  grid: HistogramGrid,
  minCount: number,
): ColumnHistogram {
  const bins = Array.from({ length: grid.bins }, (_, j) => {
    let n = 0;
    for (let i = j * grid.fine; i < (j + 1) * grid.fine; i++) n += fineCounts[i];
    return n;
  });
  const counts = discloseCounts(bins, minCount);
  return { name, counts, fine: fineRuns(fineCounts, grid.fine, counts, minCount) };
}

import { InputError } from "../../common/errors.js";
import { fineBinCount, fineIndex, type HistogramGrid } from "../../ml/stats/histogram-grid.js";
import type { ColumnHistogram, HistogramRequest, PublishedCount } from "../../wire/index.js";
import { discloseCounts, fineRuns } from "./disclosure.js";
import { addToCell, type CellCounts, emptyCells, gridCell } from "./node-grid.js";
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
 * The histogram phase: per column, the node counts its values on its own grid (node-grid.ts) and
 * publishes that cell table through the disclosure gate; each requested bin is then the sum of the
 * published cells whose middle falls in it, and "hidden" when one of them is (or none is). The range
 * must meet every non-empty cell: edges that cut off some would let two requests count a sliver.
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
  const cells = selected.map((_, k) => emptyCells(low[k] <= high[k] ? low[k] : 0, low[k] <= high[k] ? high[k] : 0));
  let outside = -1;
  await source.scan(selected, (k, value) => {
    if (Number.isNaN(value)) return;
    const { lo, hi } = grids[k];
    const cell = gridCell(value, cells[k].step);
    if (cell.lo > hi || cell.hi <= lo) outside = k;
    addToCell(cells[k], value);
  });
  if (outside >= 0) {
    const { lo, hi } = grids[outside];
    throw new InputError(
      `Cannot compute a histogram of column "${source.columns[selected[outside]]}": the range [${lo}, ${hi}] does not hold all its values (the range comes from the summary phase)`,
    );
  }
  return selected.map((index, k) => histogram(source.columns[index], cells[k], grids[k], minCount));
}

/**
 * One column's histogram from its cell counts, through the published cell table only: bins and the
 * fine runs inside exact bins are functions of the cells discloseCounts lets out (or `published`, the
 * cell table another rule of disclosure.ts let out). Every cell meets the
 * range (its ends hold the column's min and max), so its middle, clamped to the range, names its bin.
 */
export function histogram(
  name: string,
  cells: CellCounts,
  grid: HistogramGrid,
  minCount: number,
  published: PublishedCount[] = discloseCounts(cells.counts, minCount),
): ColumnHistogram {
  const fineCounts = new Float64Array(fineBinCount(grid));
  const sums = new Array<number>(grid.bins).fill(0);
  const open = new Array<boolean>(grid.bins).fill(false);
  const hidden = new Array<boolean>(grid.bins).fill(false);
  published.forEach((count, i) => {
    const mid = (cells.first + i + 0.5) * cells.step;
    const at = fineIndex(grid, Math.min(grid.hi, Math.max(grid.lo, mid)));
    const bin = Math.floor(at / grid.fine);
    open[bin] = true;
    if (typeof count !== "number") hidden[bin] = true;
    else {
      sums[bin] += count;
      fineCounts[at] += count;
    }
  });
  // A bin no cell falls in is empty by construction; it is "hidden" like an empty cell.
  const counts: PublishedCount[] = sums.map((n, j) => (open[j] && !hidden[j] ? n : "hidden"));
  return { name, counts, fine: fineRuns(fineCounts, grid.fine, counts, minCount) };
}

/**
 * The grid histograms share across nodes: `bins` equal-width bins over [lo, hi] (the last one includes
 * hi), each cut into `fine` equal fine bins. Node and researcher place values and edges with these
 * functions alone, so bins and fine bins nest exactly.
 */
export interface HistogramGrid {
  lo: number;
  hi: number;
  bins: number;
  fine: number;
}

/** Fine bins in all. */
export function fineBinCount(grid: HistogramGrid): number {
  return grid.bins * grid.fine;
}

/** The fine bin of `value`; values outside [lo, hi] go to the first or last bin. */
export function fineIndex(grid: HistogramGrid, value: number): number {
  const total = fineBinCount(grid);
  const i = Math.floor(((value - grid.lo) / (grid.hi - grid.lo)) * total);
  return i < 0 ? 0 : i >= total ? total - 1 : i;
}

/** The value at fine edge `e` (0 … bins × fine). */
export function fineEdge(grid: HistogramGrid, e: number): number {
  const total = fineBinCount(grid);
  return e === total ? grid.hi : grid.lo + ((grid.hi - grid.lo) * e) / total;
}

/** The bins + 1 edges of the (coarse) bins. */
export function binEdges(grid: HistogramGrid): number[] {
  return Array.from({ length: grid.bins + 1 }, (_, j) => fineEdge(grid, j * grid.fine));
}

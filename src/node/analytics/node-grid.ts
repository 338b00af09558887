/**
 * The grid a node counts histogram values on, fixed by the node from its own data, whatever edges the
 * researcher asks for. Cells are aligned to multiples of their width, a 1, 2 or 5 × 10^k step (as a
 * chart axis picks ticks) giving at most GRID_CELLS cells over the column's range: ages 18–93 get
 * 5-year cells. The node publishes its cell counts through the disclosure gate once, and every
 * histogram it answers is computed from that published table alone (histograms.ts), so no number of
 * queries with shifted edges tells more than the table: not a value within its cell, nor a suppressed cell.
 */

/** Most cells a column's range spans on its node's grid. */
export const GRID_CELLS = 20;

/** The cell width for a column whose values lie in [min, max]. */
export function gridStep(min: number, max: number): number {
  const span = max - min;
  const scale = span > 0 ? span / GRID_CELLS : Math.abs(max) > 0 ? Math.abs(max) / GRID_CELLS : 1;
  for (let power = Math.floor(Math.log10(scale)); ; power++) {
    for (const m of [1, 2, 5]) {
      // 10^power for negative powers as 1 / 10^-power, so 0.1 steps stay exact decimals.
      const step = power >= 0 ? m * 10 ** power : m / 10 ** -power;
      if (Math.floor(max / step) - Math.floor(min / step) + 1 <= GRID_CELLS) return step;
    }
  }
}

/** The cell [lo, hi) holding `value`, and its middle. */
export function gridCell(value: number, step: number): { lo: number; hi: number; mid: number } {
  const k = Math.floor(value / step);
  return { lo: k * step, hi: (k + 1) * step, mid: (k + 0.5) * step };
}

/** A column's values counted on its node's grid: `counts[i]` values lie in cell `first + i`. */
export interface CellCounts {
  step: number;
  first: number;
  counts: number[];
}

/** The empty cells from the one holding `min` to the one holding `max`. */
export function emptyCells(min: number, max: number): CellCounts {
  const step = gridStep(min, max);
  const first = Math.floor(min / step);
  return { step, first, counts: new Array<number>(Math.floor(max / step) - first + 1).fill(0) };
}

/** Counts `value` in its cell (a value of [min, max]). */
export function addToCell(cells: CellCounts, value: number): void {
  cells.counts[Math.floor(value / cells.step) - cells.first]++;
}

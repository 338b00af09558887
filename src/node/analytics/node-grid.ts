/**
 * The grid a node counts histogram values on, fixed by the node from its own data, whatever edges the
 * researcher asks for. Each value is counted at the middle of its grid cell, so every histogram (and
 * every fine run behind quantiles) is a function of the cell counts alone: differencing histograms with
 * shifted edges can tell at most how many values a cell holds, never a value more finely than a cell.
 * Cells are aligned to multiples of their width, a 1, 2 or 5 × 10^k step (as a chart axis picks ticks)
 * giving at most GRID_CELLS cells over the column's range: ages 18–93 get 5-year cells.
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

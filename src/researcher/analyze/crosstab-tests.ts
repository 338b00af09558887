import { chiSquareSf, logGamma } from "../../ml/stats/distributions.js";

/** Pearson's χ² test of independence on a complete table (rows × cols, row-major), without continuity correction. */
export function chiSquareTest(
  cells: number[],
  rows: number,
  cols: number,
): { chi_square: number; df: number; p: number; min_expected: number } {
  const rowSums = Array.from({ length: rows }, (_, r) =>
    cells.slice(r * cols, (r + 1) * cols).reduce((a, b) => a + b, 0),
  );
  const colSums = Array.from({ length: cols }, (_, c) => rowSums.reduce((s, _, r) => s + cells[r * cols + c], 0));
  const total = rowSums.reduce((a, b) => a + b, 0);
  let chi = 0;
  let minExpected = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const expected = (rowSums[r] * colSums[c]) / total;
      minExpected = Math.min(minExpected, expected);
      if (expected > 0) chi += (cells[r * cols + c] - expected) ** 2 / expected;
    }
  const df = (rows - 1) * (cols - 1);
  return { chi_square: chi, df, p: df > 0 ? chiSquareSf(chi, df) : 1, min_expected: minExpected };
}

/**
 * Fisher's exact test on a 2×2 table [a, b, c, d], two-sided as R's fisher.test: the probability of
 * every table with the same margins no more likely than the one seen (relative tolerance 1e-7).
 */
export function fisherExact(cells: number[]): number {
  const [a, b, c, d] = cells;
  const r1 = a + b;
  const c1 = a + c;
  const n = a + b + c + d;
  const logChoose = (m: number, k: number) => logGamma(m + 1) - logGamma(k + 1) - logGamma(m - k + 1);
  const prob = (x: number) => Math.exp(logChoose(r1, x) + logChoose(n - r1, c1 - x) - logChoose(n, c1));
  const seen = prob(a);
  let p = 0;
  for (let x = Math.max(0, c1 - (n - r1)); x <= Math.min(r1, c1); x++) {
    const px = prob(x);
    if (px <= seen * (1 + 1e-7)) p += px;
  }
  return Math.min(1, p);
}

import { fineBinCount, fineEdge, type HistogramGrid } from "../../ml/stats/histogram-grid.js";
import type { ColumnHistogram } from "../../wire/index.js";
import { cellBounds } from "./count-bounds.js";

/**
 * Pooled quantiles from the nodes' histograms, with a bound on their error. A node sends, for each bin
 * whose count it publishes, runs of fine bins holding at least min_count values each; so at every fine
 * edge the researcher knows bounds on how many of that node's values lie below it. Summed over nodes,
 * these bracket each order statistic between two fine edges; a quantile (pandas' linear interpolation
 * between order statistics) is reported as the middle of its bracket, the error as its half-width.
 */

/** Lower and upper bounds on how many values lie below each fine edge (index 0 … fine bins). */
export interface CumulativeBounds {
  lo: Float64Array;
  hi: Float64Array;
  total: number;
}

/** What one node's histogram tells about its cumulative counts; `total` is its exact value count. */
export function nodeCumulative(
  histogram: ColumnHistogram,
  grid: HistogramGrid,
  minCount: number,
  total: number,
): CumulativeBounds {
  const edges = fineBinCount(grid);
  const blocks = cellBounds(histogram.counts, minCount, total);
  const pieces: { start: number; end: number; lo: number; hi: number }[] = [];
  blocks.forEach(([lo, hi], j) => {
    const start = j * grid.fine;
    const end = start + grid.fine;
    const runs = histogram.fine.filter((r) => r.start >= start && r.end <= end).sort((a, b) => a.start - b.start);
    const tiles =
      runs.length > 0 &&
      runs[0].start === start &&
      runs.at(-1)!.end === end &&
      runs.every((r, i) => i === 0 || r.start === runs[i - 1].end) &&
      lo === hi &&
      runs.reduce((s, r) => s + r.count, 0) === lo;
    if (tiles) for (const r of runs) pieces.push({ start: r.start, end: r.end, lo: r.count, hi: r.count });
    else pieces.push({ start, end, lo, hi });
  });
  // Prefix sums by fine edge of lo and hi over pieces ending at or before it, and starting before it.
  const loEnd = new Float64Array(edges + 1);
  const hiEnd = new Float64Array(edges + 1);
  const loStart = new Float64Array(edges + 1);
  const hiStart = new Float64Array(edges + 1);
  for (const p of pieces) {
    loEnd[p.end] += p.lo;
    hiEnd[p.end] += p.hi;
    loStart[p.start + 1] += p.lo;
    hiStart[p.start + 1] += p.hi;
  }
  const sumLo = pieces.reduce((s, p) => s + p.lo, 0);
  const sumHi = pieces.reduce((s, p) => s + p.hi, 0);
  const lo = new Float64Array(edges + 1);
  const hi = new Float64Array(edges + 1);
  for (let e = 1; e <= edges; e++) {
    loEnd[e] += loEnd[e - 1];
    hiEnd[e] += hiEnd[e - 1];
    loStart[e] += loStart[e - 1];
    hiStart[e] += hiStart[e - 1];
  }
  for (let e = 0; e <= edges; e++) {
    // Below edge e: at least the pieces that end by it, and at least what the pieces past it cannot hold.
    lo[e] = Math.max(0, loEnd[e], total - (sumHi - hiEnd[e]));
    hi[e] = Math.min(total, hiStart[e], total - (sumLo - loStart[e]));
  }
  return { lo, hi, total };
}

/** Adds the nodes' cumulative bounds (all over the same grid). */
export function poolCumulative(nodes: CumulativeBounds[]): CumulativeBounds {
  const size = nodes[0].lo.length;
  const lo = new Float64Array(size);
  const hi = new Float64Array(size);
  for (const n of nodes) {
    for (let e = 0; e < size; e++) {
      lo[e] += n.lo[e];
      hi[e] += n.hi[e];
    }
  }
  return { lo, hi, total: nodes.reduce((s, n) => s + n.total, 0) };
}

/**
 * Quantiles (pandas' default: linear interpolation between order statistics) and the largest error of
 * any of them: each true quantile lies within ± error of its value. `clamp`: exact min and max, when known.
 */
export function bracketQuantiles(
  cumulative: CumulativeBounds,
  grid: HistogramGrid,
  quantiles: number[],
  clamp?: { min: number; max: number },
): { values: Record<string, number>; error: number } {
  const { lo, hi, total } = cumulative;
  const last = lo.length - 1;
  const bracket = (rank: number): [number, number] => {
    let below = 0; // the largest edge surely at or below the value of this rank
    while (below < last && hi[below + 1] <= rank) below++;
    let above = last; // the smallest edge surely above it (or the top edge)
    while (above > 0 && lo[above - 1] >= rank + 1) above--;
    let a = fineEdge(grid, below);
    let b = fineEdge(grid, above);
    if (clamp) {
      a = Math.min(Math.max(a, clamp.min), clamp.max);
      b = Math.max(Math.min(b, clamp.max), clamp.min);
    }
    return [a, b];
  };
  const values: Record<string, number> = {};
  let error = 0;
  for (const q of quantiles) {
    const h = (total - 1) * q;
    const r = Math.floor(h);
    const frac = h - r;
    const [a0, b0] = bracket(r);
    const [a1, b1] = frac > 0 ? bracket(r + 1) : [a0, b0];
    const low = a0 + frac * (a1 - a0);
    const high = b0 + frac * (b1 - b0);
    values[String(q)] = (low + high) / 2;
    error = Math.max(error, (high - low) / 2);
  }
  return { values, error };
}

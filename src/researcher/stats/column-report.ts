import { binEdges, type HistogramGrid } from "../../ml/stats/histogram-grid.js";
import { combineMoments, emptyMoments, type Moments, sampleVariance } from "../../ml/stats/moments.js";
import type { ColumnHistogram, ColumnSummary } from "../../wire/index.js";
import { addBounds, type Bounds, cellBounds, formatCount, formatPublished } from "./count-bounds.js";
import { bracketQuantiles, nodeCumulative, poolCumulative } from "./quantiles.js";
import type { ColumnReport, NodeAnswer } from "./stats-result.js";

/** One column's figures, per node and pooled, from what the nodes published. Pure. */

/** A column as one node described it. */
export function nodeColumn(
  answer: NodeAnswer,
  column: string,
  grid: HistogramGrid | undefined,
  quantiles: number[],
): ColumnReport | undefined {
  const s = answer.summaries.find((c) => c.name === column);
  if (!s) return undefined;
  const k = answer.minCount;
  const report: ColumnReport = { count: formatPublished(s.count, k), missing: formatPublished(s.missing, k) };
  if (countsOnly(s)) {
    if (valued(s)) Object.assign(report, momentFields({ ...s, count: s.count as number }), { min: s.min, max: s.max });
    const bounds = cellBounds(
      s.classes.map((c) => c.count),
      k,
      s.count as number,
    );
    const q = binaryQuantiles(new Map(s.classes.map((c, i) => [c.name, bounds[i]])), s.count as number, quantiles);
    if (q) Object.assign(report, { quantiles: q, quantile_error: 0 });
  } else if (counted(s)) {
    Object.assign(report, momentFields({ ...s, count: s.count as number }));
    report.min = s.min;
    report.max = s.max;
    if (s.minMaxGrid > 0) report.minmax_grid = s.minMaxGrid;
    const h = answer.histograms.find((c) => c.name === column);
    if (h && grid && h.counts.length === grid.bins) {
      if (quantiles.length > 0) {
        const q = bracketQuantiles(nodeCumulative(h, grid, k, s.count as number), grid, quantiles, exactRange([s]));
        report.quantiles = q.values;
        // The node counted each value at its grid cell's middle: half a cell more.
        report.quantile_error = q.error + s.histogramGrid / 2;
      }
      report.histogram = { edges: binEdges(grid), counts: h.counts.map((c) => formatPublished(c, k)) };
    }
  }
  if (s.classes.length > 0)
    report.classes = Object.fromEntries(s.classes.map((c) => [c.name, formatPublished(c.count, k)]));
  return report;
}

/**
 * A column pooled over the nodes that describe it: count, sum, mean and M2 combined exactly (Chan et
 * al.), suppressed counts as bounds, quantiles from the nodes' fine runs with their error bound.
 */
export function pooledColumn(
  answers: NodeAnswer[],
  column: string,
  grid: HistogramGrid | undefined,
  quantiles: number[],
): ColumnReport | undefined {
  const parts = answers.flatMap((a) => {
    const s = a.summaries.find((c) => c.name === column);
    return s ? [{ a, s, h: a.histograms.find((c) => c.name === column) }] : [];
  });
  if (parts.length === 0) return undefined;
  const sum = (bounds: Bounds[]) => formatCount(bounds.reduce(addBounds, [0, 0]));
  const report: ColumnReport = {
    count: sum(parts.map(({ a, s }) => cellBounds([s.count], a.minCount)[0])),
    missing: sum(parts.map(({ a, s }) => cellBounds([s.missing], a.minCount)[0])),
  };
  // Counted columns described by counts (0/1, text) pool their moments when sent, never histograms.
  const withValues = parts.filter(({ s }) => valued(s));
  const m = withValues.reduce<Moments>(
    (acc, { s }) => combineMoments(acc, { ...s, count: s.count as number }),
    emptyMoments(),
  );
  // Moments of some of the counted nodes only (a node kept its rare 0/1 counts) would not be the column's.
  if (m.count > 0 && withValues.length === parts.filter(({ s }) => counted(s)).length) {
    Object.assign(report, momentFields(m));
    report.min = m.min;
    report.max = m.max;
    const coarsest = Math.max(...withValues.map(({ s }) => s.minMaxGrid));
    if (coarsest > 0) report.minmax_grid = coarsest;
  }
  const histograms = withValues
    .filter(({ s }) => !countsOnly(s))
    .map(({ h }) => h)
    .filter((h): h is ColumnHistogram => h !== undefined && grid !== undefined && h.counts.length === grid.bins);
  if (grid && m.count > 0 && histograms.length === withValues.length) {
    if (quantiles.length > 0) {
      const cumulative = poolCumulative(
        withValues.map(({ a, s, h }) => nodeCumulative(h!, grid, a.minCount, s.count as number)),
      );
      const q = bracketQuantiles(cumulative, grid, quantiles, exactRange(withValues.map(({ s }) => s)));
      report.quantiles = q.values;
      report.quantile_error = q.error + Math.max(...withValues.map(({ s }) => s.histogramGrid)) / 2;
    }
    const perNode = withValues.map(({ a, s, h }) => cellBounds(h!.counts, a.minCount, s.count as number));
    report.histogram = {
      edges: binEdges(grid),
      counts: Array.from({ length: grid.bins }, (_, j) => sum(perNode.map((bounds) => bounds[j]))),
    };
  }
  const classes = poolClasses(
    parts.map(({ a, s }) => ({
      s,
      minCount: a.minCount,
      total: typeof s.count === "number" && column !== "pixels" ? s.count : a.dataset.sampleCount,
    })),
  );
  if (classes) report.classes = Object.fromEntries([...classes].map(([name, b]) => [name, formatCount(b)]));
  const counts = parts.filter(({ s }) => counted(s));
  if (classes && counts.length > 0 && counts.every(({ s }) => countsOnly(s)) && typeof report.count === "number") {
    const q = binaryQuantiles(classes, report.count, quantiles);
    if (q) Object.assign(report, { quantiles: q, quantile_error: 0 });
  }
  report.nodes = parts.filter(({ s }) => counted(s)).length;
  return report;
}

function poolClasses(parts: { s: ColumnSummary; minCount: number; total: number }[]): Map<string, Bounds> | undefined {
  const names = [...new Set(parts.flatMap(({ s }) => s.classes.map((c) => c.name)))];
  if (names.length === 0) return undefined;
  const totals = new Map<string, Bounds>(names.map((n) => [n, [0, 0]]));
  for (const { s, minCount, total } of parts) {
    const bounds = cellBounds(
      s.classes.map((c) => c.count),
      minCount,
      total,
    );
    for (const [i, c] of s.classes.entries()) totals.set(c.name, addBounds(totals.get(c.name)!, bounds[i]));
    // A name this node did not list (held by fewer than its min_count rows, suppressed, or absent there):
    // anything from 0 to what its listed counts leave of its total.
    const left = total - bounds.reduce((sum, [lo]) => sum + lo, 0);
    for (const n of names)
      if (!s.classes.some((c) => c.name === n)) totals.set(n, addBounds(totals.get(n)!, [0, Math.max(0, left)]));
  }
  return totals;
}

/**
 * Quantiles of a 0/1 column from its counts (pandas' linear interpolation over n0 zeros then ones),
 * when the counts' bounds pin them: the quantile falls as the zeros grow, so it is exact when it is the
 * same at both ends of their bounds. Only those are returned (a 0/1 median imputes missing cells);
 * undefined unless `counts` holds exactly the values 0 and 1 of `n` values.
 */
export function binaryQuantiles(
  counts: Map<string, Bounds>,
  n: number,
  quantiles: number[],
): Record<string, number> | undefined {
  const zeros = counts.get("0");
  if (!zeros || !counts.has("1") || counts.size !== 2 || n < 1) return undefined;
  const at = (n0: number, q: number) => {
    const h = (n - 1) * q;
    const r = Math.floor(h);
    const value = (i: number) => (i < n0 ? 0 : 1);
    return r + 1 < n ? value(r) + (h - r) * (value(r + 1) - value(r)) : value(r);
  };
  const pinned = quantiles.flatMap((q) => {
    const [a, b] = [at(zeros[0], q), at(Math.min(zeros[1], n), q)];
    return a === b ? [[String(q), a] as const] : [];
  });
  return pinned.length > 0 ? Object.fromEntries(pinned) : undefined;
}

/** A summary whose count is exact and above zero. */
function counted(s: ColumnSummary): boolean {
  return typeof s.count === "number" && s.count > 0;
}

/** A counted summary whose moments travelled: not NaN, which a node sends for text columns and rare 0/1 counts. */
function valued(s: ColumnSummary): boolean {
  return counted(s) && Number.isFinite(s.mean);
}

/**
 * A column the node describes by counts instead of a histogram: a 0/1 column (counts of 0 and 1) or a
 * text column (category counts). It proposes no histogram range (histogramGrid 0), so none is asked.
 */
export function countsOnly(s: ColumnSummary): boolean {
  return counted(s) && s.histogramGrid === 0;
}

function momentFields(
  m: Pick<Moments, "count" | "sum" | "mean" | "m2">,
): Pick<ColumnReport, "sum" | "mean" | "var" | "std"> {
  const variance = sampleVariance(m);
  return { sum: m.sum, mean: m.mean, var: variance ?? null, std: variance === undefined ? null : Math.sqrt(variance) };
}

/** The exact range of the values when every node told its exact min and max. */
function exactRange(summaries: ColumnSummary[]): { min: number; max: number } | undefined {
  if (summaries.some((s) => s.minMaxGrid > 0)) return undefined;
  return { min: Math.min(...summaries.map((s) => s.min)), max: Math.max(...summaries.map((s) => s.max)) };
}

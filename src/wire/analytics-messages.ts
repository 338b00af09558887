/**
 * Federated analytics as it travels (`fbm-researcher stats`): a summary phase, then a histogram phase
 * over edges the researcher agreed from every node's range. See README "Federated statistics".
 */

/**
 * A count as a node publishes it under its `min_count`: exact, `"below"` (a lone count from 0 to
 * min_count − 1, never sent), or `"hidden"` (a cell of a table withheld by primary or secondary
 * suppression: any count; src/node/analytics/disclosure.ts).
 */
export type PublishedCount = number | "below" | "hidden";

/** Equal-width bins over [lo, hi] (the last one includes hi), each cut into `fine` fine bins for quantiles. */
export interface HistogramRequest {
  column: string;
  lo: number;
  hi: number;
  bins: number;
  fine: number;
}

export type AnalyticsTaskBody =
  | { kind: "analytics"; phase: "summary"; datasetId: string; columns: string[] }
  | { kind: "analytics"; phase: "histogram"; datasetId: string; columns: string[]; histograms: HistogramRequest[] };

export interface ColumnSummary {
  name: string;
  count: PublishedCount;
  missing: PublishedCount;
  /** sum, mean and m2 (sum of squared deviations from the mean) are 0 unless `count` is exact. */
  sum: number;
  mean: number;
  m2: number;
  /** Exact when `minMaxGrid` is 0, else rounded outward to multiples of it (the node's stats_minmax is false). */
  min: number;
  max: number;
  minMaxGrid: number;
  /** The histogram range the node proposes. */
  rangeLo: number;
  rangeHi: number;
  /** Class counts of a classification target (csv) or of the labels (images); empty otherwise. */
  classes: { name: string; count: PublishedCount }[];
  /** Width of the cells the node counts histogram values on, each at its cell's middle (0: exact values). */
  histogramGrid: number;
}

/** A run of fine bins [start, end) holding `count` values (min_count or more). */
export interface FineBin {
  start: number;
  end: number;
  count: number;
}

export interface ColumnHistogram {
  name: string;
  counts: PublishedCount[];
  /** Runs of fine bins covering the bins whose count is exact. */
  fine: FineBin[];
}

export interface AnalyticsReplyBody {
  kind: "analytics";
  /** The node's min_count. */
  minCount: number;
  /** The dataset has fewer than min_count rows: nothing else is sent. */
  tooSmall: boolean;
  summaries: ColumnSummary[];
  histograms: ColumnHistogram[];
}

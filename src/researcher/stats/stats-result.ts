import type { ColumnHistogram, ColumnSummary, DatasetInfo } from "../../wire/index.js";

/**
 * What `fbm-researcher stats` prints with --json and `runStats` returns; README "Federated statistics".
 * Counts are numbers when exact, else strings: "<10" (1 to 9), ">=10", or a range "12-30" once pooled.
 */
export interface StatsResult {
  event: "stats";
  nodes: NodeReport[];
  pooled: Record<string, ColumnReport>;
}

export interface NodeReport {
  /** Node id, node name, dataset name and id. */
  node: string;
  name: string;
  dataset: string;
  dataset_id: string;
  /** The node's min_count: it sent no count from 1 to min_count − 1. */
  min_count: number;
  /** "<10" when the dataset has fewer rows than the node's min_count: then it told nothing else. */
  size?: string;
  /** Why this node's figures are missing (its error reply); it is left out of the pooled figures. */
  error?: string;
  columns: Record<string, ColumnReport>;
}

export type CountValue = number | string;

export interface ColumnReport {
  count: CountValue;
  missing: CountValue;
  sum?: number;
  mean?: number;
  /** Sample variance and standard deviation (n − 1, as pandas); null below 2 values. */
  var?: number | null;
  std?: number | null;
  /** Exact, unless minmax_grid is set: then rounded outward to multiples of it (a node's stats_minmax is false). */
  min?: number;
  max?: number;
  minmax_grid?: number;
  /** Keyed by the quantile as given ("0.5"); each within ± quantile_error of the exact value. */
  quantiles?: Record<string, number>;
  quantile_error?: number;
  histogram?: { edges: number[]; counts: CountValue[] };
  /**
   * Counts by value: of 0 and 1 (a 0/1 column, also a binary target), of each category (a text column;
   * categories held by fewer than a node's min_count rows are not named), of each class (a classification
   * target), or images per class (column "pixels").
   */
  classes?: Record<string, CountValue>;
  /** Pooled only: how many nodes' figures it combines. */
  nodes?: number;
}

/** One node's answers to the two phases, as the researcher gathered them. */
export interface NodeAnswer {
  node: string;
  name: string;
  dataset: DatasetInfo;
  minCount: number;
  tooSmall: boolean;
  summaries: ColumnSummary[];
  histograms: ColumnHistogram[];
  error?: string;
}

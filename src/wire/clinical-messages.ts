import type { PublishedCount } from "./analytics-messages.js";

/**
 * Clinical statistics as they travel (`fbm-researcher analyze`): category tables, GLM IRLS steps,
 * Kaplan–Meier interval counts and Cox partial-likelihood steps. See README "Clinical statistics".
 */

export type GlmFamily = "binomial" | "gaussian" | "poisson";
export type CoxTies = "breslow" | "efron";

/** A categorical covariate, treatment-coded: one indicator per level after the first (the reference). */
export interface Factor {
  column: string;
  levels: string[];
}

export type ClinicalQuery =
  /** Counts per level of `rows` (and of `cols` when given: a two-way table). */
  | { kind: "table"; rows: string; cols: string }
  /** XᵀWX, XᵀWz, deviance and log-likelihood at `beta` (intercept first, then x in order, then factors). */
  | { kind: "glm"; family: GlmFamily; y: string; x: string[]; factors: Factor[]; beta: number[] }
  /** The end (grid steps) of the shortest interval from cuts[0] this node allows, on a grid of `grid` time units. */
  | { kind: "km_cuts"; time: string; event: string; group: string; grid: number; cuts: number[] }
  /** Events and censorings per group and interval [cuts[i], cuts[i+1]) (the last one open), in grid steps. */
  | { kind: "km_counts"; time: string; event: string; group: string; grid: number; cuts: number[] }
  /** Log partial likelihood, its gradient and information at `beta`, summed over the node's strata. */
  | {
      kind: "cox";
      time: string;
      event: string;
      x: string[];
      factors: Factor[];
      strata: string;
      ties: CoxTies;
      beta: number[];
      /** Also count concordant pairs at beta (asked once, at the fitted β). */
      concordance?: boolean;
    };

export interface ClinicalTaskBody {
  kind: "clinical";
  datasetId: string;
  /** One analysis: the node counts the tasks of each (its iteration cap) and logs it by this id. */
  queryId: string;
  query: ClinicalQuery;
}

export type ClinicalResult =
  /** Row-major cells, rowLevels × colLevels (colLevels empty: one cell per row level). */
  | { kind: "table"; rowLevels: string[]; colLevels: string[]; cells: PublishedCount[] }
  /** xtwx is p×p row-major. */
  | { kind: "glm"; xtwx: number[]; xtwz: number[]; deviance: number; loglik: number }
  /** [end]; [] when the interval from the start asked must stay open; [start] when even that is too short. */
  | { kind: "km_cuts"; cuts: number[] }
  /** Group-major: events[g × intervals + i]. */
  | { kind: "km_counts"; groups: string[]; events: number[]; censored: number[] }
  /** information is p×p row-major (minus the Hessian). */
  | {
      kind: "cox";
      loglik: number;
      gradient: number[];
      information: number[];
      events: number;
      /** Comparable pairs within the node's strata (0 unless asked): risk order agrees, disagrees, ties. */
      concordant: number;
      discordant: number;
      tiedRisk: number;
    };

export interface ClinicalReplyBody {
  kind: "clinical";
  /** The node's min_count. */
  minCount: number;
  /** Rows the answer is computed from. */
  rows: number;
  /** Rows left out: a missing cell, a category held by fewer than min_count rows here, a small group. */
  excluded: PublishedCount;
  result: ClinicalResult;
}

import type { PublishedCount } from "../../wire/index.js";
import type { CoxFit } from "./cox-fit.js";
import type { GlmFit } from "./glm-fit.js";
import type { LogRank, SurvivalCurve } from "./kaplan-meier.js";

/** What `fbm-researcher analyze --json` prints: one object per analysis, in the file's order (README "Clinical statistics"). */
export type AnalyzeResult = GlmResult | KmResult | CrosstabResult | CoxResult;

/** Which nodes an answer pools: rows used and rows each left out ("below" when 1 to min_count − 1). */
export interface NodeUse {
  name: string;
  dataset: string;
  rows: number;
  excluded: PublishedCount;
}

export interface GlmResult extends GlmFit {
  event: "glm";
  name: string;
  y: string;
  nodes: NodeUse[];
}

export interface KmResult {
  event: "km";
  name: string;
  time: string;
  event_column: string;
  group: string | null;
  /** The time step asked for; intervals are whole runs of steps the nodes allowed (each ≥ min_count exits per node and group). */
  grid: number;
  curves: SurvivalCurve[];
  log_rank: LogRank | null;
  nodes: NodeUse[];
}

export interface CrosstabResult {
  event: "crosstab";
  name: string;
  rows: string;
  cols: string;
  row_levels: string[];
  col_levels: string[];
  /** Pooled counts; a string where a node withheld its cell: a range "12-20" (cells under min_count), or "hidden". */
  cells: (number | string)[][];
  /** χ² (and Fisher's exact p for a 2×2 table with an expected count below 5) when every cell is known. */
  chi_square: { chi_square: number; df: number; p: number; min_expected: number } | null;
  fisher_p: number | null;
  nodes: NodeUse[];
}

export interface CoxResult extends CoxFit {
  event: "cox";
  name: string;
  ties: "efron" | "breslow";
  /** Strata of the fit: always the node, and the strata column when given. */
  strata: string[];
  /** Harrell's C within strata at the fitted β (R's concordance), from the nodes' pair counts. */
  concordance: number;
  nodes: NodeUse[];
}

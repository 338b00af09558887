import type { MetricCounts } from "./metric-counts.js";

/** Plain types shared by training, the wire and the aggregators. No tfjs or protobuf types here. */

export type { DTypeName, NamedTensor } from "../common/tensors.js";

import type { NamedTensor } from "../common/tensors.js";

/** A dataset ready for training: `x` row-major, `rows × product(sampleShape)`; `y` one value per row (class index or target). */
export interface Dataset {
  /** Feature values; image pixels may stay bytes (4× less memory), read as `x[i] * xScale`. */
  x: Float32Array | Uint8Array;
  /** Factor applied to `x` values when read (e.g. 1/255 for byte pixels); default 1. */
  xScale?: number;
  sampleShape: number[];
  y: Float32Array;
  /** Per-row label shape when a row has many labels (segmentation: [height, width, 1]); absent: one label per row. */
  yShape?: number[];
  rows: number;
  /** Group index per row (medical folders: the subject of each slice); the test split keeps groups whole. */
  groups?: Int32Array;
  /** Feature column names (csv) in the order of `x`. */
  features?: string[];
  /** Class names (images, idx), index = label. */
  classes?: string[];
  /** A csv read through a preparation: per one-hot column, the rows of every category met (rare ones too; never sent). */
  categoryRows?: Record<string, Record<string, number>>;
  /** A csv read through a preparation: per column with a fill, the rows whose cell was missing and filled. */
  imputedRows?: Record<string, number[]>;
  /**
   * Rows read from disk on demand instead of held in `x` (then empty): copies row `row`'s values,
   * already multiplied by `xScale`, into `out` at `offset`.
   */
  readRow?: (row: number, out: Float32Array, offset: number) => void;
  /** Releases what `readRow` keeps open (a file descriptor). */
  close?: () => void;
}

/** Per-column sufficient statistics, summed across nodes before round 1. */
export interface ColumnStats {
  name: string;
  count: number;
  sum: number;
  sumSquares: number;
  min: number;
  max: number;
  /** Table profiles (see table-prep.ts): missing cells, left out of count/sum/min/max. */
  missing?: number;
  /** Table profiles of a one-hot column: its categories with min_count rows or more (rarer ones never named). */
  categories?: { name: string; count: number }[];
}

/** Global input scaling: x' = (x - shift) / scale, per feature column. */
export interface Normalization {
  method: "none" | "standard" | "minmax";
  columns: string[];
  shift: number[];
  scale: number[];
}

export interface TrainingArgs {
  /** Local epochs; ignored when `updates` > 0. */
  epochs: number;
  /** A fixed number of local batches (0: use epochs). */
  updates: number;
  batchSize: number;
  testRatio: number;
  testOnGlobal: boolean;
  testOnLocal: boolean;
  metrics: string[];
  seed: number;
  /** FedProx proximal coefficient (0: plain local training). */
  fedproxMu: number;
  /** Differential privacy of the experiment (src/privacy/dp/); absent: none. */
  dp?: DpArgs;
}

/**
 * local: DP-SGD on the node, per-sample gradients clipped to `clipNorm`, noise σ·clipNorm on their sum.
 * central: the node clips its update to `clipNorm`; noise σ·clipNorm goes on the aggregate; `sampleRate`
 * is the fraction of nodes sampled per round.
 */
export interface DpArgs {
  mode: "local" | "central";
  noiseMultiplier: number;
  clipNorm: number;
  delta: number;
  sampleRate?: number;
}

/** (ε, δ) spent, by the RDP accountant. */
export interface PrivacySpent {
  epsilon: number;
  delta: number;
}

export interface MetricValues {
  values: Record<string, number>;
  samples: number;
  /** Sufficient statistics for pooling across nodes (src/ml/metric-counts.ts). */
  counts?: MetricCounts;
}

export interface TrainResult {
  params: NamedTensor[];
  sampleCount: number;
  /** Mean training loss; absent when withheld (under dp it is computed on raw rows: see withholdUnderDp). */
  trainLoss?: number;
  globalMetrics?: MetricValues;
  localMetrics?: MetricValues;
  seconds: number;
  /** Local optimizer steps taken (SCAFFOLD's K); stays on the node. */
  steps?: number;
  /** Which engine ran the steps, e.g. "kernels, 2 threads" or "tfjs (…reason)"; stays on the node. */
  engine?: string;
  /** With DP: what this experiment has spent on the node's dataset so far (the node's ledger). */
  privacy?: PrivacySpent;
  /** Where the node's round went, in seconds per phase (round-phases.ts). */
  phases?: RoundPhases;
}

/**
 * A round's time on the node by phase, in seconds: data load (files, fingerprint, table preparation),
 * preparation (normalization, test split, augmentation), model build (tfjs layers and initial weights),
 * engine set-up (kernels memory, threads, the parameters in), steps, validation, parameter copies out.
 */
export interface RoundPhases {
  load: number;
  prepare: number;
  build: number;
  setup: number;
  steps: number;
  validate: number;
  copy: number;
}

/** Training progress a node reports while it trains. */
export interface ProgressEvent {
  epoch: number;
  step: number;
  totalSteps: number;
  loss: number;
}

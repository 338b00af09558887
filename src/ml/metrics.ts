import { InputError } from "../common/errors.js";
import type { Plan } from "./plan.js";

/**
 * Validation metrics as pure functions over flat arrays. `yTrue` holds one value per row (class index or
 * target); `yPred` holds `rows × outputs` probabilities (softmax), `rows × 1` (sigmoid) or values.
 */

export type TaskKind = "binary" | "multiclass" | "regression" | "segmentation";

export const classificationMetrics = [
  "accuracy",
  "precision",
  "recall",
  "f1",
  "auc",
  "precision_macro",
  "recall_macro",
  "f1_macro",
  "precision_micro",
  "recall_micro",
  "f1_micro",
] as const;
export const regressionMetrics = ["mse", "mae", "r2"] as const;
/**
 * Per-voxel overlap of the thresholded (≥ 0.5) output with the mask: 2TP/(2TP+FP+FN) and TP/(TP+FP+FN).
 * Multi-class label maps (softmax per voxel, argmax): the mean over the foreground classes 1..K−1, and
 * each class's own value as `dice_1`, `iou_2`, … beside it.
 */
export const segmentationMetrics = ["dice", "iou"] as const;

/** What a plan predicts, from its loss. */
export function taskKind(plan: Pick<Plan, "loss">): TaskKind {
  if (plan.loss === "binaryCrossentropy") return "binary";
  if (plan.loss === "dice" || plan.loss === "diceCrossentropy") return "segmentation";
  if (plan.loss.endsWith("Crossentropy")) return "multiclass";
  return "regression";
}

/** The metrics used when a training request names none. */
export function defaultMetrics(kind: TaskKind): string[] {
  if (kind === "segmentation") return ["dice"];
  return kind === "regression" ? ["mse"] : ["accuracy"];
}

/** Throws InputError unless every name is a metric for this kind of task or "loss" (the plan's loss). */
export function checkMetricNames(names: string[], kind: TaskKind): void {
  const allowed: readonly string[] = [...metricsOf(kind), "loss"];
  for (const name of names) {
    if (allowed.includes(name)) continue;
    const known = [...classificationMetrics, ...regressionMetrics, ...segmentationMetrics] as readonly string[];
    const reason = known.includes(name) ? `it does not apply to ${kind} plans` : "it is not a known metric";
    throw new InputError(`Cannot compute metric "${name}": ${reason} (use ${allowed.join(", ")})`);
  }
}

/** The metrics of a kind of task ("loss" aside). */
export function metricsOf(kind: TaskKind): readonly string[] {
  if (kind === "segmentation") return segmentationMetrics;
  return kind === "regression" ? regressionMetrics : classificationMetrics;
}

/** Voxel counts of a segmentation: outputs ≥ 0.5 are foreground; labels are 0/1. */
export interface VoxelCounts {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export function countVoxels(yTrue: Float32Array, yPred: Float32Array): VoxelCounts {
  if (yTrue.length !== yPred.length) {
    throw new InputError(`Cannot compute metrics: ${yPred.length} voxel outputs do not fit ${yTrue.length} labels`);
  }
  const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (let i = 0; i < yTrue.length; i++) {
    const truth = yTrue[i] > 0.5;
    const said = yPred[i] >= 0.5;
    if (truth && said) c.tp++;
    else if (said) c.fp++;
    else if (truth) c.fn++;
    else c.tn++;
  }
  return c;
}

/**
 * Outputs per label voxel: 1 for a mask (sigmoid), K for a label map of K classes (softmax over the
 * classes, class fastest, as a conv2d with K filters lays them out).
 */
export function segmentationClasses(yTrue: Float32Array, yPred: Float32Array): number {
  const k = yTrue.length === 0 ? 1 : yPred.length / yTrue.length;
  if (!Number.isInteger(k) || k < 1) {
    throw new InputError(`Cannot compute metrics: ${yPred.length} voxel outputs do not fit ${yTrue.length} labels`);
  }
  return k;
}

/** The K × K voxel confusion matrix (row-major, [true][predicted]) of a label map against the argmax of its outputs. */
export function voxelConfusion(yTrue: Float32Array, yPred: Float32Array, k: number): number[] {
  const m = new Array<number>(k * k).fill(0);
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i];
    if (!Number.isInteger(t) || t < 0 || t >= k) {
      throw new InputError(`Cannot compute metrics: label voxel ${i + 1} is ${t}, not a class 0..${k - 1}`);
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (yPred[i * k + c] > yPred[i * k + best]) best = c;
    m[t * k + best]++;
  }
  return m;
}

/** dice / iou per foreground class of a K × K voxel confusion matrix (`name_c`) and their mean (`name`). */
export function classOverlaps(names: string[], m: number[], k: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) {
    let sum = 0;
    for (let c = 1; c < k; c++) {
      let predicted = 0;
      let actual = 0;
      for (let j = 0; j < k; j++) {
        predicted += m[j * k + c];
        actual += m[c * k + j];
      }
      const tp = m[c * k + c];
      const value = overlapMetric(name, { tp, fp: predicted - tp, fn: actual - tp, tn: 0 });
      out[`${name}_${c}`] = value;
      sum += value;
    }
    out[name] = sum / (k - 1);
  }
  return out;
}

/** dice or iou of voxel counts; 1 when neither the mask nor the output has a foreground voxel. */
export function overlapMetric(name: string, c: VoxelCounts): number {
  const denominator = name === "dice" ? 2 * c.tp + c.fp + c.fn : c.tp + c.fp + c.fn;
  if (denominator === 0) return 1;
  return name === "dice" ? (2 * c.tp) / denominator : c.tp / denominator;
}

/**
 * Computes the named metrics; multiclass precision, recall, f1 and auc are macro averages (binary: of
 * class 1); `_macro` averages over every class that occurs, `_micro` pools every class's counts.
 */
export function computeMetrics(
  names: string[],
  yTrue: Float32Array,
  yPred: Float32Array,
  kind: TaskKind,
): Record<string, number> {
  checkMetricNames(names, kind);
  if (names.includes("loss"))
    throw new InputError(`Cannot compute metric "loss" from predictions alone: use evaluateModel()`);
  if (kind === "segmentation") {
    const k = segmentationClasses(yTrue, yPred);
    if (k > 1) return classOverlaps(names, voxelConfusion(yTrue, yPred, k), k);
    const counts = countVoxels(yTrue, yPred);
    return Object.fromEntries(names.map((name) => [name, overlapMetric(name, counts)]));
  }
  const rows = yTrue.length;
  if (rows === 0 || yPred.length % rows !== 0) {
    throw new InputError(`Cannot compute metrics: ${yPred.length} predictions do not fit ${rows} rows`);
  }
  const width = yPred.length / rows;
  const out: Record<string, number> = {};
  if (kind === "regression") {
    if (width !== 1) throw new InputError(`Cannot compute regression metrics: expected 1 output per row, got ${width}`);
    for (const name of names) out[name] = regression(name, yTrue, yPred);
    return out;
  }
  const classes = kind === "binary" ? 2 : Math.max(width, 2);
  const counts = confusion(yTrue, predictedClasses(yPred, rows, width, kind), classes);
  for (const name of names) {
    if (name === "auc") {
      const aucs = aucClasses(counts, kind).map((c) => rocAuc(yTrue, scores(yPred, rows, width, c), c));
      out[name] = mean(aucs, true);
    } else out[name] = confusionMetric(name, counts, kind);
  }
  return out;
}

/** The classes whose one-vs-rest AUC is averaged: class 1 (binary) or every class that occurs. */
export function aucClasses(m: number[][], kind: TaskKind): number[] {
  return kind === "binary" ? [1] : occurringClasses(m);
}

/** Like scikit-learn's macro average: the classes that occur in the labels or the predictions. */
function occurringClasses(m: number[][]): number[] {
  return [...m.keys()].filter((c) => m[c].some((v) => v > 0) || m.some((row) => row[c] > 0));
}

/** A metric of the confusion matrix `m` ([true][predicted]): anything but auc. */
export function confusionMetric(name: string, m: number[][], kind: TaskKind): number {
  const rows = m.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  const correct = m.reduce((s, row, c) => s + row[c], 0);
  if (name === "accuracy") return correct / rows;
  const [base, average] = name.split("_") as [string, string | undefined];
  // Single-label micro averages pool tp, fp and fn over classes: each equals accuracy.
  if (average === "micro") return correct / rows;
  const classes = average === "macro" || kind !== "binary" ? occurringClasses(m) : [1];
  return mean(
    classes.map((c) => perClass(base, m, c)),
    false,
  );
}

export function predictedClasses(yPred: Float32Array, rows: number, width: number, kind: TaskKind): Int32Array {
  const result = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    if (kind === "binary" && width === 1) {
      result[r] = yPred[r] >= 0.5 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let c = 1; c < width; c++) if (yPred[r * width + c] > yPred[r * width + best]) best = c;
    result[r] = best;
  }
  return result;
}

/** Score of class `c` per row; a single sigmoid column is the score of class 1. */
export function scores(yPred: Float32Array, rows: number, width: number, c: number): Float64Array {
  const s = new Float64Array(rows);
  for (let r = 0; r < rows; r++) s[r] = width === 1 ? (c === 1 ? yPred[r] : 1 - yPred[r]) : yPred[r * width + c];
  return s;
}

/** The confusion matrix [true][predicted] of class labels and predicted classes. */
export function confusion(yTrue: Float32Array, predicted: Int32Array, classes: number): number[][] {
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let r = 0; r < yTrue.length; r++) {
    const t = yTrue[r];
    if (!Number.isInteger(t) || t < 0 || t >= classes) {
      throw new InputError(`Cannot compute metrics: label ${t} on row ${r + 1} is not a class index below ${classes}`);
    }
    matrix[t][predicted[r]]++;
  }
  return matrix;
}

/** Precision, recall or f1 of one class; 0 when undefined (no predicted or no actual positives). */
function perClass(name: string, m: number[][], c: number): number {
  const tp = m[c][c];
  const predicted = m.reduce((sum, row) => sum + row[c], 0);
  const actual = m[c].reduce((a, b) => a + b, 0);
  const precision = predicted === 0 ? 0 : tp / predicted;
  const recall = actual === 0 ? 0 : tp / actual;
  if (name === "precision") return precision;
  if (name === "recall") return recall;
  return precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
}

/** ROC AUC by the rank-sum (Mann–Whitney) formula with average ranks for ties; NaN with one class only. */
export function rocAuc(yTrue: Float32Array, score: Float64Array, positive: number): number {
  const { wins, positives, negatives } = mannWhitney(yTrue, score, positive);
  if (positives === 0 || negatives === 0) return Number.NaN;
  return wins / (positives * negatives);
}

/**
 * The Mann–Whitney count of one class against the rest: positive/negative pairs where the positive
 * scores higher, ties counted ½ (average ranks), with the numbers of positives and negatives.
 */
export function mannWhitney(
  yTrue: Float32Array,
  score: Float64Array,
  positive: number,
): { wins: number; positives: number; negatives: number } {
  const order = [...score.keys()].sort((a, b) => score[a] - score[b]);
  let rankSum = 0;
  let nPos = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && score[order[j + 1]] === score[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++)
      if (yTrue[order[k]] === positive) {
        rankSum += rank;
        nPos++;
      }
    i = j + 1;
  }
  return { wins: rankSum - (nPos * (nPos + 1)) / 2, positives: nPos, negatives: order.length - nPos };
}

function regression(name: string, yTrue: Float32Array, yPred: Float32Array): number {
  const n = yTrue.length;
  let se = 0,
    ae = 0,
    sum = 0;
  for (let i = 0; i < n; i++) {
    const d = yTrue[i] - yPred[i];
    se += d * d;
    ae += Math.abs(d);
    sum += yTrue[i];
  }
  const mu = sum / n;
  let tot = 0;
  for (let i = 0; i < n; i++) tot += (yTrue[i] - mu) ** 2;
  return regressionMetric(name, { rows: n, sse: se, sae: ae, sst: tot });
}

/** mse, mae or r2 from sums: squared and absolute errors, and the total sum of squares about the mean. */
export function regressionMetric(name: string, s: { rows: number; sse: number; sae: number; sst: number }): number {
  if (name === "mse") return s.sse / s.rows;
  if (name === "mae") return s.sae / s.rows;
  // Like scikit-learn: a constant target gives 1 for a perfect fit, else 0.
  if (s.sst === 0) return s.sse === 0 ? 1 : 0;
  return 1 - s.sse / s.sst;
}

/** Mean of values; with `skipNaN`, classes whose metric is undefined are left out. */
function mean(values: number[], skipNaN: boolean): number {
  const kept = skipNaN ? values.filter((v) => !Number.isNaN(v)) : values;
  return kept.length === 0 ? Number.NaN : kept.reduce((a, b) => a + b, 0) / kept.length;
}

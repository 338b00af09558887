import type { TaskKind } from "./metrics.js";

/**
 * Predictions as a table: one row per sample with its id, the predicted class (classification) and the
 * probability of each class, or the predicted value(s) (regression). Written as CSV by `predict`.
 */

export interface PredictionTable {
  columns: string[];
  rows: (string | number)[][];
}

export interface PredictionInput {
  kind: TaskKind;
  /** `rows × outputs` model outputs: probabilities (softmax or sigmoid) or values. */
  values: Float32Array;
  rows: number;
  outputs: number;
  /** Row ids (default: the 0-based index). */
  ids?: string[];
  /** Class names, index = class (default: the index). */
  classes?: string[];
}

export function predictionTable(input: PredictionInput): PredictionTable {
  const { kind, values, outputs } = input;
  const id = (r: number) => input.ids?.[r] ?? r;
  const output = (r: number) => Array.from(values.subarray(r * outputs, (r + 1) * outputs), float32);
  const indices = Array.from({ length: input.rows }, (_, r) => r);
  if (kind === "regression") {
    const names = outputs === 1 ? ["value"] : output(0).map((_, i) => `value_${i}`);
    return { columns: ["id", ...names], rows: indices.map((r) => [id(r), ...output(r)]) };
  }
  // A binary model has one sigmoid output, p(class 1): both classes' probabilities are shown, and the
  // class is p ≥ 0.5 as the metrics count it.
  const sigmoid = kind === "binary" && outputs === 1;
  const probabilities = (r: number) => (sigmoid ? [float32(1 - values[r]), float32(values[r])] : output(r));
  const predicted = (r: number, p: number[]) => (sigmoid ? (values[r] >= 0.5 ? 1 : 0) : argmax(p));
  const classCount = sigmoid ? 2 : outputs;
  const className = (i: number) => input.classes?.[i] ?? String(i);
  const columns = ["id", "label", ...Array.from({ length: classCount }, (_, i) => `p_${className(i)}`)];
  return {
    columns,
    rows: indices.map((r) => {
      const p = probabilities(r);
      return [id(r), className(predicted(r, p)), ...p];
    }),
  };
}

/** A float32 output with the digits it has (7), not the noise of its float64 widening. */
const float32 = (value: number) => Number(value.toPrecision(7));

/** The first index of the largest value. */
function argmax(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The table as RFC 4180 CSV (fields with a comma, quote or line break quoted). */
export function toCsv(table: PredictionTable): string {
  const field = (value: string | number) => {
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [table.columns, ...table.rows]
    .map((row) => row.map(field).join(","))
    .join("\n")
    .concat("\n");
}

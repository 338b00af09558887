import { InputError } from "../common/errors.js";
import type { Dataset } from "./types.js";

/** Values per row: the product of the sample shape. */
export function rowWidth(data: Dataset): number {
  return data.sampleShape.reduce((a, b) => a * b, 1);
}

/** Labels per row: the product of `yShape` (segmentation masks), else 1. */
export function labelWidth(data: Pick<Dataset, "yShape">): number {
  return data.yShape ? data.yShape.reduce((a, b) => a * b, 1) : 1;
}

/** Checks that a dataset's sizes agree (rows read from disk have no `x` to check). */
export function checkDataset(data: Dataset, options: { labels: "required" | "optional" }): void {
  const width = rowWidth(data);
  const valuesOk = data.readRow !== undefined || data.x.length === data.rows * width;
  const labelsOk =
    data.y.length === data.rows * labelWidth(data) || (options.labels === "optional" && data.y.length === 0);
  if (!valuesOk || !labelsOk) {
    throw new InputError(
      `Invalid dataset: ${data.readRow ? "rows on disk" : `${data.x.length} values`} and ${data.y.length} labels do not make ` +
        `${data.rows} rows of shape [${data.sampleShape.join(", ")}]`,
    );
  }
}

/**
 * Copies one row's values, as float32 in their final scale (`xScale` applied), into `out` at
 * `offset`, whether the dataset holds them in memory or reads them from disk.
 */
export function readRowInto(data: Dataset, row: number, out: Float32Array, offset: number): void {
  if (data.readRow) {
    data.readRow(row, out, offset);
    return;
  }
  const width = rowWidth(data);
  const from = row * width;
  const k = data.xScale ?? 1;
  if (k === 1 && data.x instanceof Float32Array) {
    out.set(data.x.subarray(from, from + width), offset);
  } else {
    for (let c = 0; c < width; c++) out[offset + c] = data.x[from + c] * k;
  }
}

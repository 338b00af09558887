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

/** Copies one row's values, as float32 in their final scale, into `out` at `offset` (see `rowReader`). */
export type RowReader = (row: number, out: Float32Array, offset: number) => void;

/** Each dataset's reader, made on first use (a dataset's values never change once loaded). */
const readers = new WeakMap<Dataset, RowReader>();

/**
 * Copies one row's values, as float32 in their final scale (`xScale` applied), into `out` at
 * `offset`, whether the dataset holds them in memory or reads them from disk.
 */
export function readRowInto(data: Dataset, row: number, out: Float32Array, offset: number): void {
  let read = readers.get(data);
  if (!read) {
    read = rowReader(data);
    readers.set(data, read);
  }
  read(row, out, offset);
}

/**
 * A row reader specialized once for how `data` holds its values. Training gathers every batch through
 * it, on the training thread while the other threads wait (engine/kernel-runner.ts), so it matters:
 * byte pixels (idx, images) go through a 256-entry table of their scaled values — the same float32 as
 * `byte * xScale`, about 4× faster than that product per value (a 64-row batch of 28×28 images: ~250
 * against ~60 µs on a loaded 2-core Xeon) — and float32 values at scale 1 are one block copy a row.
 */
export function rowReader(data: Dataset): RowReader {
  if (data.readRow) {
    const readRow = data.readRow;
    return (row, out, offset) => readRow.call(data, row, out, offset);
  }
  const width = rowWidth(data);
  const k = data.xScale ?? 1;
  const x = data.x;
  if (x instanceof Float32Array) {
    if (k === 1) return (row, out, offset) => out.set(x.subarray(row * width, (row + 1) * width), offset);
    return (row, out, offset) => {
      for (let c = 0, from = row * width; c < width; c++) out[offset + c] = x[from + c] * k;
    };
  }
  const scaled = Float32Array.from({ length: 256 }, (_, v) => v * k);
  return (row, out, offset) => {
    for (let c = 0, from = row * width; c < width; c++) out[offset + c] = scaled[x[from + c]];
  };
}

import * as tf from "@tensorflow/tfjs";
import { InputError } from "../common/errors.js";
import type { Augmenter } from "./augment.js";
import { positionScaling } from "./normalize.js";
import { createRng, deriveSeed } from "./rng.js";
import { checkDataset, labelWidth, readRowInto, rowWidth } from "./rows.js";
import type { Dataset, Normalization } from "./types.js";

/** Row selection and batch tensors: the dataset stays one flat array; batches are gathered (and scaled) on demand. */

/**
 * Seeded train/test split of row indices: the same seed and row count always give the same split. A
 * split with test rows holds at least `minTest` of them (a node's min_count) while one row is left to train.
 */
export function splitRows(
  rows: number,
  testRatio: number,
  seed: number,
  minTest = 1,
): { train: Int32Array; test: Int32Array } {
  if (!(testRatio >= 0 && testRatio < 1)) {
    throw new InputError(`Invalid test ratio ${testRatio}: use a number from 0 up to (not including) 1`);
  }
  let testCount = Math.round(rows * testRatio);
  if (testRatio > 0 && rows >= 2) testCount = Math.min(Math.max(testCount, minTest, 1), rows - 1);
  const all = new Int32Array(rows);
  for (let i = 0; i < rows; i++) all[i] = i;
  // No test rows: the sorted shuffle is every row in order (a node's every round pays this, so skip it).
  if (testCount === 0) return { test: new Int32Array(0), train: all };
  const order = createRng(deriveSeed(seed, "split")).shuffle(all);
  return { test: order.slice(0, testCount).sort(), train: order.slice(testCount).sort() };
}

/** Gathers rows of a dataset into batch tensors, applying the normalization if one is given. */
export interface RowSource {
  readonly data: Dataset;
  /** x of the given rows, shape [n, ...sampleShape]. */
  x(indices: ArrayLike<number>): tf.Tensor;
  /** The same values written into `out` (row after row) instead of a new tensor. */
  xInto(indices: ArrayLike<number>, out: Float32Array): void;
  /**
   * Whether each row's values depend on that row alone, so a batch may be gathered in parts, in any order
   * (kernel-runner.ts gathers the training threads' rows first). Not with an augmenter: it draws a batch's
   * transforms in one sequence.
   */
  readonly rowwise?: boolean;
  /**
   * Set when each row is just the dataset's bytes times `scale` (no normalization, augmentation or rows
   * read from disk): a training thread may then take its rows as bytes and convert them itself
   * (kernel-runner.ts), to the same float32s as `xInto`'s (rows.ts bytesToFloats).
   */
  readonly bytes?: { values: Uint8Array; scale: number };
  /** y of the given rows as a flat array (`labelWidth` values per row: one, or a mask). */
  y(indices: ArrayLike<number>): Float32Array;
}

/**
 * A row source; with an `augmenter` (training batches of images), each batch is augmented after it is
 * gathered and before it is normalized, its per-voxel labels (segmentation) moved alike.
 */
export function createRowSource(data: Dataset, normalization?: Normalization, augmenter?: Augmenter): RowSource {
  // No labels at all is fine for prediction; some labels is a broken dataset.
  checkDataset(data, { labels: "optional" });
  const width = rowWidth(data);
  const scaling = normalization && normalization.method !== "none" ? positionScaling(data, normalization) : undefined;
  function xInto(indices: ArrayLike<number>, out: Float32Array): void {
    const at = (r: number) => augmenter?.source?.(indices[r]) ?? indices[r];
    for (let r = 0; r < indices.length; r++) readRowInto(data, at(r), out, r * width);
    augmenter?.batch(out, indices.length, indices);
    if (scaling) {
      for (let r = 0; r < indices.length; r++) {
        for (let c = 0, i = r * width; c < width; c++, i++) out[i] = (out[i] - scaling.shift[c]) / scaling.scale[c];
      }
    }
  }
  const plainBytes = !augmenter && !scaling && !data.readRow && data.x instanceof Uint8Array;
  return {
    data,
    rowwise: augmenter === undefined,
    ...(plainBytes ? { bytes: { values: data.x as Uint8Array, scale: data.xScale ?? 1 } } : {}),
    x(indices) {
      const out = new Float32Array(indices.length * width);
      xInto(indices, out);
      return tf.tensor(out, [indices.length, ...data.sampleShape]);
    },
    xInto,
    y(indices) {
      const k = labelWidth(data);
      const out = new Float32Array(indices.length * k);
      const at = (r: number) => augmenter?.source?.(indices[r]) ?? indices[r];
      if (k === 1) for (let r = 0; r < indices.length; r++) out[r] = data.y[at(r)];
      else for (let r = 0; r < indices.length; r++) out.set(data.y.subarray(at(r) * k, (at(r) + 1) * k), r * k);
      augmenter?.labels?.(out, indices);
      return out;
    },
  };
}

/** All row indices 0..rows-1. */
export function allRows(rows: number): Int32Array {
  return Int32Array.from({ length: rows }, (_, i) => i);
}

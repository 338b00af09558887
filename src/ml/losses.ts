import * as tf from "@tensorflow/tfjs";
import { InputError } from "../common/errors.js";
import { isSegmentationLoss, type Plan } from "./plan.js";
import type { Dataset } from "./types.js";

/**
 * The plan's loss on model outputs that are probabilities (sigmoid/softmax) or values, as Keras computes
 * it with `from_logits=false`, and the label tensors each loss expects.
 */

type LossName = Plan["loss"];
const epsilon = 1e-7;

/**
 * Mean loss of a batch; `yTrue` comes from `labelTensor`. Segmentation labels of rank 3 ([rows, voxels,
 * classes], one-hot) are multi-class: `yPred` holds each voxel's softmax over the classes.
 */
export function computeLoss(loss: LossName, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    switch (loss) {
      case "binaryCrossentropy": {
        const p = tf.clipByValue(yPred, epsilon, 1 - epsilon);
        const terms = tf.add(tf.mul(yTrue, tf.log(p)), tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p))));
        return tf.neg(tf.mean(terms));
      }
      case "categoricalCrossentropy":
      case "sparseCategoricalCrossentropy": {
        const p = tf.clipByValue(yPred, epsilon, 1 - epsilon);
        return tf.neg(tf.mean(tf.sum(tf.mul(yTrue, tf.log(p)), -1)));
      }
      case "meanSquaredError":
        return tf.mean(tf.square(tf.sub(yTrue, yPred)));
      case "meanAbsoluteError":
        return tf.mean(tf.abs(tf.sub(yTrue, yPred)));
      case "dice":
        return softDice(yTrue, tf.reshape(yPred, yTrue.shape));
      case "diceCrossentropy": {
        const p = tf.reshape(yPred, yTrue.shape);
        const crossentropy = yTrue.rank === 3 ? "categoricalCrossentropy" : "binaryCrossentropy";
        return tf.add(softDice(yTrue, p), computeLoss(crossentropy, yTrue, p));
      }
      case "huberLoss": {
        const error = tf.abs(tf.sub(yTrue, yPred));
        const quadratic = tf.minimum(error, 1);
        return tf.mean(tf.add(tf.mul(0.5, tf.square(quadratic)), tf.sub(error, quadratic)));
      }
    }
  }) as tf.Scalar;
}

/**
 * Soft Dice over every voxel of the batch (as MONAI's DiceLoss with batch=True), smoothed by 1 so that
 * slices without foreground do not divide by zero: 1 − (2 Σ p·y + 1) / (Σ p + Σ y + 1). Multi-class
 * (one-hot labels of rank 3): that Dice per class, averaged over every class, background included (as
 * MONAI's default include_background=True), so a rare class weighs as much as a common one.
 */
function softDice(yTrue: tf.Tensor, p: tf.Tensor): tf.Scalar {
  const axes = yTrue.rank === 3 ? [0, 1] : undefined;
  const overlap = tf.sum(tf.mul(p, yTrue), axes);
  const total = tf.add(tf.sum(p, axes), tf.sum(yTrue, axes));
  return tf.sub(1, tf.mean(tf.div(tf.add(tf.mul(2, overlap), 1), tf.add(total, 1)))) as tf.Scalar;
}

/**
 * Labels as the loss wants them: one-hot rows for the categorical losses (labels are class indices for
 * both), a column of 0/1 or target values otherwise. Segmentation: 0/1 masks as [rows, voxels]; with
 * `classes` (plan.data.classes, voxels labelled 0..classes−1) one-hot voxels as [rows, voxels, classes].
 */
export function labelTensor(loss: LossName, y: Float32Array, units: number, classes?: number): tf.Tensor {
  if (loss === "categoricalCrossentropy" || loss === "sparseCategoricalCrossentropy") {
    return tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(y), "int32"), units).toFloat());
  }
  if (isSegmentationLoss(loss) && classes !== undefined) {
    const voxels = units / classes;
    return tf.tidy(() =>
      tf.reshape(tf.oneHot(tf.tensor1d(Int32Array.from(y), "int32"), classes).toFloat(), [
        y.length / voxels,
        voxels,
        classes,
      ]),
    );
  }
  // dice: `units` voxel labels per row.
  if (isSegmentationLoss(loss)) return tf.tensor2d(y, [y.length / units, units]);
  return tf.tensor2d(y, [y.length, 1]);
}

/** Throws InputError unless per-voxel labels (segmentation masks) and the dice loss come together. */
export function checkLabelShape(loss: LossName, data: Pick<Dataset, "yShape">): void {
  if (isSegmentationLoss(loss) && data.yShape === undefined)
    throw new InputError(
      `Cannot train: the ${loss} loss needs per-voxel labels (a medical-folder dataset with a label target)`,
    );
  if (!isSegmentationLoss(loss) && data.yShape !== undefined)
    throw new InputError(
      `Cannot train: per-voxel labels (segmentation) need plan.loss dice or diceCrossentropy, not ${loss}`,
    );
}

/**
 * The index of the first value of `y` for which `test` holds, or -1: `y.findIndex(test)` without its cost.
 * The builtin calls `test` with every float boxed as a new heap number (~1 MiB of garbage a call at
 * 60,000 labels, on every round of a node: it ran into the next round's steps as a collection); a loop
 * lets the optimizer inline `test` and keep the values unboxed.
 */
function firstWhere(y: Float32Array, test: (v: number) => boolean): number {
  for (let i = 0; i < y.length; i++) if (test(y[i])) return i;
  return -1;
}

/**
 * Throws InputError when labels do not fit the loss and the model's output units (`classes`: a
 * multi-class segmentation's plan.data.classes, one softmax output per class and voxel).
 */
export function checkLabels(loss: LossName, y: Float32Array, units: number, classes?: number): void {
  if (isSegmentationLoss(loss) && classes !== undefined) {
    if (units % classes !== 0 || y.length % (units / classes) !== 0) {
      throw new InputError(
        `Cannot train: ${loss} with plan.data.classes ${classes} needs ${classes} outputs per label voxel (a last conv2d with ${classes} filters and softmax); the model has ${units} outputs per sample for ${y.length} labels`,
      );
    }
    const bad = firstWhere(y, (v) => !Number.isInteger(v) || v < 0 || v >= classes);
    if (bad >= 0)
      throw new InputError(
        `Cannot train: label voxel ${bad + 1} is ${y[bad]}, not a class 0..${classes - 1} (plan.data.classes ${classes})`,
      );
    return;
  }
  if (isSegmentationLoss(loss)) {
    if (y.length % units !== 0) {
      throw new InputError(
        `Cannot train: ${loss} needs one output per label voxel; the model has ${units} outputs per sample, which do not divide the ${y.length} labels`,
      );
    }
    const bad = firstWhere(y, (v) => v !== 0 && v !== 1);
    if (bad >= 0) throw new InputError(`Cannot train: ${loss} needs 0/1 masks, label voxel ${bad + 1} is ${y[bad]}`);
    return;
  }
  const rowClasses = loss === "binaryCrossentropy" ? 2 : units;
  if (loss === "binaryCrossentropy" && units !== 1) {
    throw new InputError(
      `Cannot train: binaryCrossentropy needs a last layer with 1 unit (sigmoid), the model has ${units}`,
    );
  }
  if (!loss.endsWith("Crossentropy")) {
    if (units !== 1)
      throw new InputError(`Cannot train: ${loss} needs a last layer with 1 unit, the model has ${units}`);
    const bad = firstWhere(y, (v) => !Number.isFinite(v));
    if (bad >= 0) throw new InputError(`Cannot train: the target on row ${bad + 1} is not a finite number (${y[bad]})`);
    return;
  }
  const bad = firstWhere(y, (v) => !Number.isInteger(v) || v < 0 || v >= rowClasses);
  if (bad >= 0) {
    throw new InputError(
      `Cannot train: label ${y[bad]} on row ${bad + 1} is not a class index below ${rowClasses} ` +
        `(${loss} with a last layer of ${units} unit${units === 1 ? "" : "s"})`,
    );
  }
}

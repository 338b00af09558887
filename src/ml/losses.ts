import * as tf from "@tensorflow/tfjs";
import { InputError } from "../common/errors.js";
import type { Plan } from "./plan.js";

/**
 * The plan's loss on model outputs that are probabilities (sigmoid/softmax) or values, as Keras computes
 * it with `from_logits=false`, and the label tensors each loss expects.
 */

type LossName = Plan["loss"];
const epsilon = 1e-7;

/** Mean loss of a batch; `yTrue` comes from `labelTensor`. */
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
      case "huberLoss": {
        const error = tf.abs(tf.sub(yTrue, yPred));
        const quadratic = tf.minimum(error, 1);
        return tf.mean(tf.add(tf.mul(0.5, tf.square(quadratic)), tf.sub(error, quadratic)));
      }
    }
  }) as tf.Scalar;
}

/**
 * Labels as the loss wants them: one-hot rows for the categorical losses (labels are class indices for
 * both), a column of 0/1 or target values otherwise.
 */
export function labelTensor(loss: LossName, y: Float32Array, units: number): tf.Tensor {
  if (loss === "categoricalCrossentropy" || loss === "sparseCategoricalCrossentropy") {
    return tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(y), "int32"), units).toFloat());
  }
  return tf.tensor2d(y, [y.length, 1]);
}

/** Throws InputError when labels do not fit the loss and the model's output units. */
export function checkLabels(loss: LossName, y: Float32Array, units: number): void {
  const classes = loss === "binaryCrossentropy" ? 2 : units;
  if (loss === "binaryCrossentropy" && units !== 1) {
    throw new InputError(
      `Cannot train: binaryCrossentropy needs a last layer with 1 unit (sigmoid), the model has ${units}`,
    );
  }
  if (!loss.endsWith("Crossentropy")) {
    if (units !== 1)
      throw new InputError(`Cannot train: ${loss} needs a last layer with 1 unit, the model has ${units}`);
    const bad = y.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InputError(`Cannot train: the target on row ${bad + 1} is not a finite number (${y[bad]})`);
    return;
  }
  const bad = y.findIndex((v) => !Number.isInteger(v) || v < 0 || v >= classes);
  if (bad >= 0) {
    throw new InputError(
      `Cannot train: label ${y[bad]} on row ${bad + 1} is not a class index below ${classes} ` +
        `(${loss} with a last layer of ${units} unit${units === 1 ? "" : "s"})`,
    );
  }
}

import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/common/errors.js";
import { selectBackend } from "../../src/ml/backend.js";
import { checkLabels, computeLoss, labelTensor } from "../../src/ml/losses.js";
import type { Plan } from "../../src/ml/plan.js";

before(() => selectBackend({ prefer: "cpu" }));

function lossOf(loss: Plan["loss"], y: number[], pred: number[], units = 1): number {
  return tf.tidy(
    () =>
      computeLoss(
        loss,
        labelTensor(loss, Float32Array.from(y), units),
        tf.tensor2d(pred, [y.length, units]),
      ).dataSync()[0],
  );
}
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-5, `${a} ≠ ${b}`);

describe("computeLoss", () => {
  it("binaryCrossentropy averages −log of the probability given to the true label", () => {
    close(lossOf("binaryCrossentropy", [1, 0], [0.8, 0.3]), -(Math.log(0.8) + Math.log(0.7)) / 2);
  });

  it("categorical and sparse categorical cross-entropy take class indices and agree", () => {
    const pred = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6];
    const expected = -(Math.log(0.7) + Math.log(0.6)) / 2;
    close(lossOf("categoricalCrossentropy", [0, 2], pred, 3), expected);
    close(lossOf("sparseCategoricalCrossentropy", [0, 2], pred, 3), expected);
  });

  it("stays finite for probabilities of exactly 0 and 1", () => {
    assert.ok(Number.isFinite(lossOf("binaryCrossentropy", [1, 0], [0, 1])));
  });

  it("regression losses: mean squared, mean absolute and Huber (delta 1)", () => {
    close(lossOf("meanSquaredError", [1, 3], [1.5, 1]), (0.25 + 4) / 2);
    close(lossOf("meanAbsoluteError", [1, 3], [1.5, 1]), (0.5 + 2) / 2);
    close(lossOf("huberLoss", [1, 3], [1.5, 1]), (0.125 + (0.5 + 1)) / 2);
  });
});

describe("labelTensor", () => {
  it("one-hot encodes class indices for categorical losses and keeps a column otherwise", () => {
    const oneHot = labelTensor("categoricalCrossentropy", Float32Array.from([2, 0]), 3);
    assert.deepEqual(oneHot.arraySync(), [
      [0, 0, 1],
      [1, 0, 0],
    ]);
    const column = labelTensor("meanSquaredError", Float32Array.from([2.5, -1]), 1);
    assert.deepEqual(column.arraySync(), [[2.5], [-1]]);
    tf.dispose([oneHot, column]);
  });
});

describe("checkLabels", () => {
  it("accepts labels that fit and throws InputError for those that do not", () => {
    assert.doesNotThrow(() => checkLabels("binaryCrossentropy", Float32Array.from([0, 1]), 1));
    assert.throws(
      () => checkLabels("binaryCrossentropy", Float32Array.from([0, 2]), 1),
      (e) => e instanceof InputError && /label 2 on row 2 is not a class index below 2/.test(e.message),
    );
    assert.throws(
      () => checkLabels("binaryCrossentropy", Float32Array.from([0]), 2),
      /needs a last layer with 1 unit \(sigmoid\), the model has 2/,
    );
    assert.throws(() => checkLabels("sparseCategoricalCrossentropy", Float32Array.from([0, 3]), 3), /label 3 on row 2/);
    assert.throws(() => checkLabels("meanSquaredError", Float32Array.from([0]), 2), /needs a last layer with 1 unit/);
    assert.throws(() => checkLabels("huberLoss", Float32Array.from([1, NaN]), 1), /row 2 is not a finite number/);
  });
});

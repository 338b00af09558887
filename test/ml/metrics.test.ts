import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError } from "../../src/common/errors.js";
import { checkMetricNames, computeMetrics, defaultMetrics, rocAuc, taskKind } from "../../src/ml/metrics.js";

const f32 = (values: number[]) => Float32Array.from(values);
const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} ≠ ${expected}`);

describe("computeMetrics (binary, sigmoid outputs)", () => {
  // Predicted classes at 0.5: [1, 1, 0, 0, 1, 0]; labels [1, 0, 1, 0, 1, 0] → tp 2, fp 1, fn 1, tn 2.
  const yTrue = f32([1, 0, 1, 0, 1, 0]);
  const yPred = f32([0.9, 0.6, 0.4, 0.1, 0.7, 0.3]);

  it("computes accuracy, precision, recall and f1 of the positive class", () => {
    const m = computeMetrics(["accuracy", "precision", "recall", "f1"], yTrue, yPred, "binary");
    close(m.accuracy, 4 / 6);
    close(m.precision, 2 / 3);
    close(m.recall, 2 / 3);
    close(m.f1, 2 / 3);
  });

  it("computes AUC as the share of correctly ranked positive/negative pairs", () => {
    // Positives 0.9, 0.4, 0.7; negatives 0.6, 0.1, 0.3: pairs won 3 + 2 + 3 = 8 of 9.
    close(computeMetrics(["auc"], yTrue, yPred, "binary").auc, 8 / 9);
  });

  it("counts tied scores as half a win in AUC", () => {
    // Positive 0.5 ties negative 0.5 (½), beats 0.2 (1); positive 0.8 beats both (2): 3.5 of 4.
    close(rocAuc(f32([1, 0, 1, 0]), Float64Array.from([0.5, 0.5, 0.8, 0.2]), 1), 3.5 / 4);
    close(computeMetrics(["auc"], f32([1, 0, 1, 0]), f32([0.5, 0.5, 0.5, 0.5]), "binary").auc, 0.5);
  });

  it("gives AUC NaN when the labels hold one class only, and 0 precision without predicted positives", () => {
    assert.ok(Number.isNaN(computeMetrics(["auc"], f32([1, 1]), f32([0.2, 0.9]), "binary").auc));
    const m = computeMetrics(["precision", "recall", "f1"], f32([1, 0]), f32([0.1, 0.2]), "binary");
    assert.deepEqual(m, { precision: 0, recall: 0, f1: 0 });
  });
});

describe("computeMetrics (multiclass, softmax outputs)", () => {
  const yTrue = f32([0, 1, 2, 2]);
  // argmax per row: 0, 2, 2, 1
  const yPred = f32([0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.2, 0.6, 0.1, 0.5, 0.4]);

  it("computes accuracy and macro-averaged precision, recall and f1", () => {
    const m = computeMetrics(["accuracy", "precision", "recall", "f1"], yTrue, yPred, "multiclass");
    close(m.accuracy, 0.5);
    // class 0: p 1, r 1; class 1: p 0 (1 predicted, 0 right), r 0; class 2: p 1/2, r 1/2.
    close(m.precision, (1 + 0 + 0.5) / 3);
    close(m.recall, (1 + 0 + 0.5) / 3);
    close(m.f1, (1 + 0 + 0.5) / 3);
  });

  it("computes AUC one-vs-rest, macro-averaged", () => {
    // class 0: scores [.7 | .1 .2 .1] → 1; class 1: [.3 | .2 .2 .5] → 2/3; class 2: [.6 .4 | .1 .6] → (1+.5+1+0)/4
    close(computeMetrics(["auc"], yTrue, yPred, "multiclass").auc, (1 + 2 / 3 + 2.5 / 4) / 3);
  });

  it("rejects labels that are not class indices", () => {
    assert.throws(() => computeMetrics(["accuracy"], f32([0, 5]), f32([1, 0, 0, 1]), "multiclass"), /label 5 on row 2/);
  });
});

describe("computeMetrics (regression)", () => {
  it("computes mse, mae and r2", () => {
    const m = computeMetrics(["mse", "mae", "r2"], f32([1, 2, 3, 4]), f32([1.5, 2, 2, 4]), "regression");
    close(m.mse, (0.25 + 0 + 1 + 0) / 4);
    close(m.mae, (0.5 + 0 + 1 + 0) / 4);
    close(m.r2, 1 - 1.25 / 5);
  });

  it("gives r2 of 1 for a perfect fit of a constant target and 0 otherwise", () => {
    assert.equal(computeMetrics(["r2"], f32([2, 2]), f32([2, 2]), "regression").r2, 1);
    assert.equal(computeMetrics(["r2"], f32([2, 2]), f32([2, 3]), "regression").r2, 0);
  });
});

describe("metric names", () => {
  it("throws InputError for unknown names and names of the other task kind", () => {
    assert.throws(
      () => computeMetrics(["kappa"], f32([1]), f32([1]), "binary"),
      (e) => e instanceof InputError && /metric "kappa": it is not a known metric/.test(e.message),
    );
    assert.throws(() => checkMetricNames(["r2"], "binary"), /does not apply to binary plans/);
    assert.throws(() => checkMetricNames(["auc"], "regression"), InputError);
    assert.doesNotThrow(() => checkMetricNames(["loss", "mae"], "regression"));
  });

  it("derives the task kind and default metrics from the plan's loss", () => {
    assert.equal(taskKind({ loss: "binaryCrossentropy" }), "binary");
    assert.equal(taskKind({ loss: "sparseCategoricalCrossentropy" }), "multiclass");
    assert.equal(taskKind({ loss: "huberLoss" }), "regression");
    assert.deepEqual(defaultMetrics("multiclass"), ["accuracy"]);
    assert.deepEqual(defaultMetrics("regression"), ["mse"]);
  });
});

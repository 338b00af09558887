import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/ml/backend.js";
import { createOptimizer } from "../../src/ml/optimizer.js";
import type { Plan } from "../../src/ml/plan.js";

before(() => selectBackend({ prefer: "cpu" }));

/** Runs `steps` steps from w = 1 with a constant gradient and returns w. */
function run(spec: Plan["optimizer"], gradient: number, steps = 1): number {
  const initial = tf.scalar(1);
  const w = tf.variable(initial, true, `w${Math.random()}`);
  initial.dispose();
  const optimizer = createOptimizer(spec);
  for (let i = 0; i < steps; i++) {
    const g = tf.scalar(gradient);
    optimizer.step([w], { [w.name]: g });
    g.dispose();
  }
  const value = w.dataSync()[0];
  optimizer.dispose();
  w.dispose();
  return value;
}
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-5, `${a} ≠ ${b}`);

describe("createOptimizer", () => {
  it("sgd steps by −lr·gradient; momentum accumulates velocity", () => {
    close(run({ name: "sgd", learning_rate: 0.1 }, 0.5), 0.95);
    // v1 = 0.5, v2 = 0.9·0.5 + 0.5 = 0.95: w = 1 − 0.1·(0.5 + 0.95)
    close(run({ name: "sgd", learning_rate: 0.1, momentum: 0.9 }, 0.5, 2), 1 - 0.1 * 1.45);
  });

  it("adam's first step moves by about lr against the gradient's sign", () => {
    close(run({ name: "adam", learning_rate: 0.1 }, 3), 0.9);
  });

  it("adamw shrinks weights by lr·weight_decay independently of the gradient", () => {
    close(run({ name: "adamw", learning_rate: 0.1, weight_decay: 0.5 }, 0), 0.95);
    close(run({ name: "adamw", learning_rate: 0.1 }, 0), 1 - 0.1 * 0.01);
  });

  it("other optimizers add weight_decay·w to the gradient (L2)", () => {
    close(run({ name: "sgd", learning_rate: 0.1, weight_decay: 0.5 }, 0), 0.95);
  });

  it("rmsprop and adagrad move against the gradient", () => {
    assert.ok(run({ name: "rmsprop", learning_rate: 0.01 }, 1) < 1);
    assert.ok(run({ name: "adagrad", learning_rate: 0.1 }, -1) > 1);
  });

  it("does not leak tensors", () => {
    const before = tf.memory().numTensors;
    run({ name: "adamw", learning_rate: 0.1, weight_decay: 0.1 }, 1, 3);
    run({ name: "rmsprop", learning_rate: 0.1, weight_decay: 0.1 }, 1, 3);
    run({ name: "sgd", learning_rate: 0.1, momentum: 0.5 }, 1, 3);
    assert.equal(tf.memory().numTensors, before);
  });
});

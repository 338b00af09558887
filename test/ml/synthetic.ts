import { type Plan, parsePlan } from "../../src/ml/plan.js";
import { createRng } from "../../src/ml/rng.js";
import type { Dataset, TrainingArgs } from "../../src/ml/types.js";

/** Test fixtures made by code: small synthetic datasets and plans. */

/** Linearly separable rows: label 1 when Σ (c+1)·x_c > 0, features uniform in [-1, 1]. */
export function separableData(rows: number, features = 4, seed = 7): Dataset {
  const rng = createRng(seed);
  const x = new Float32Array(rows * features);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < features; c++) {
      const v = rng.next() * 2 - 1;
      x[r * features + c] = v;
      s += v * (c + 1);
    }
    y[r] = s > 0 ? 1 : 0;
  }
  return { x, y, rows, sampleShape: [features], features: Array.from({ length: features }, (_, i) => `f${i}`) };
}

/** Three classes by the sign pattern of two features (class = quadrant-ish band). */
export function threeClassData(rows: number, seed = 3): Dataset {
  const rng = createRng(seed);
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const a = rng.next() * 3;
    const b = rng.next();
    x[r * 2] = a;
    x[r * 2 + 1] = b;
    y[r] = Math.min(2, Math.floor(a));
  }
  return { x, y, rows, sampleShape: [2], features: ["a", "b"] };
}

/** y = 2·x0 − x1 + 0.5. */
export function linearData(rows: number, seed = 5): Dataset {
  const rng = createRng(seed);
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    x[r * 2] = rng.next() * 2 - 1;
    x[r * 2 + 1] = rng.next() * 2 - 1;
    y[r] = 2 * x[r * 2] - x[r * 2 + 1] + 0.5;
  }
  return { x, y, rows, sampleShape: [2], features: ["x0", "x1"] };
}

/** Tiny images [h, w, 1]: class 1 has a bright left half, class 0 a bright right half. */
export function imageData(rows: number, size = 6, seed = 11): Dataset {
  const rng = createRng(seed);
  const x = new Float32Array(rows * size * size);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    y[r] = r % 2;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const bright = j < size / 2 === (y[r] === 1);
        x[r * size * size + i * size + j] = (bright ? 0.8 : 0.1) + rng.next() * 0.1;
      }
    }
  }
  return { x, y, rows, sampleShape: [size, size, 1], classes: ["right", "left"] };
}

/** dense 8 relu → dense 1 sigmoid, binary cross-entropy, sgd lr 0.1. */
export function logisticPlan(overrides: Partial<Record<string, unknown>> = {}): Plan {
  return parsePlan({
    data: {},
    model: [{ dense: { units: 8, activation: "relu" } }, { dense: { units: 1, activation: "sigmoid" } }],
    loss: "binaryCrossentropy",
    optimizer: { name: "sgd", learning_rate: 0.1 },
    ...overrides,
  });
}

export function trainingArgs(overrides: Partial<TrainingArgs> = {}): TrainingArgs {
  return {
    epochs: 1,
    updates: 0,
    batchSize: 16,
    testRatio: 0.25,
    testOnGlobal: false,
    testOnLocal: false,
    metrics: [],
    seed: 1,
    fedproxMu: 0,
    ...overrides,
  };
}

import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/ml/backend.js";
import type { KernelInstance } from "../../../src/ml/engine/kernels.js";
import { createRng } from "../../../src/ml/rng.js";
import { assertClose, place } from "../../support/engines.js";

/**
 * fbm's normalization kernels against tfjs's cpu backend: batch normalization with batch statistics
 * (tf.moments then tf.batchNorm, as tfjs's layer trains) and layer normalization over the last axis, with
 * their gradients (tf.grads through the statistics) on seeded random inputs.
 */

before(() => selectBackend({ prefer: "cpu" }));

const rng = createRng(11);
const random = (n: number, scale = 1, shift = 0) =>
  Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale + shift);

/** Rows of C channels: a dense batch (one position per sample) and image batches (batch·h·w positions). */
const shapes = [
  { name: "dense batch 16, 7 units", dims: [16, 7] },
  { name: "images 3×5×4×8", dims: [3, 5, 4, 8] },
  { name: "images 2×3×3×5", dims: [2, 3, 3, 5] },
] as const;

/** The ε both normalizations add to the variance here. */
const EPS = 1e-3;

/**
 * One case's seeded input x, output gradient dy and, with `affine`, γ and β (drawn in that order). Without
 * them the kernels take none (pointer 0), tfjs takes γ = 1 and β = 0: the same layer.
 */
function normalizationCase(shape: readonly number[], affine: boolean) {
  const dims = [...shape];
  const C = dims[dims.length - 1];
  const n = dims.reduce((a, b) => a * b, 1);
  const x = random(n, 2, 0.5);
  const gamma = affine ? random(C, 0.5, 1) : new Float32Array(C).fill(1);
  const beta = affine ? random(C) : new Float32Array(C);
  return { dims, C, n, rows: n / C, x, gamma, beta, dy: random(n) };
}

/** The kernels' output and x/γ/β gradients at these pointers equal tfjs's of `f` (tf.grads through the statistics). */
function assertLikeTfjs(
  f: (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor,
  input: { dims: number[]; x: Float32Array; gamma: Float32Array; beta: Float32Array; dy: Float32Array },
  at: { k: KernelInstance; y: number; dx: number; dg: number; db: number },
): void {
  const { dims, x, gamma, beta, dy } = input;
  const expected = tf.tidy(() => {
    const tx = tf.tensor(x, dims);
    const [tg, tb] = [tf.tensor1d(gamma), tf.tensor1d(beta)];
    const grads = tf.grads(f)([tx, tg, tb], tf.tensor(dy, dims));
    return { y: f(tx, tg, tb).dataSync(), dx: grads[0].dataSync(), dg: grads[1].dataSync(), db: grads[2].dataSync() };
  });
  const [n, C] = [x.length, gamma.length];
  assertClose(at.k.f32(at.y, n), expected.y, 1e-4, "output");
  assertClose(at.k.f32(at.dx, n), expected.dx, 1e-4, "input gradient");
  assertClose(at.k.f32(at.dg, C), expected.dg, 1e-4, "γ gradient");
  assertClose(at.k.f32(at.db, C), expected.db, 1e-4, "β gradient");
}

describe("batch normalization with batch statistics", () => {
  for (const shape of shapes) {
    for (const affine of [true, false]) {
      it(`forward, x/γ/β gradients and batch moments match tfjs: ${shape.name}${affine ? "" : ", no γ or β"}`, () => {
        const { dims, C, n, rows, x, gamma, beta, dy } = normalizationCase(shape.dims, affine);
        const { k, ptrs } = place([x, gamma, beta, dy, C, C, C, n, n, C, C, n]);
        const [px, pg, pb, pdy, mean, variance, invStd, xhat, y, dg, db, dx] = ptrs;
        const kk = k.kernels;
        kk.channelMoments(px, rows, C, mean, variance);
        kk.normalize(px, rows, C, mean, variance, EPS, invStd, affine ? pg : 0, affine ? pb : 0, xhat, y);
        kk.batchNormBackward(pdy, xhat, rows, C, affine ? pg : 0, invStd, dg, db, dx);
        const axes = dims.slice(0, -1).map((_, i) => i);
        const moments = tf.tidy(() => {
          const m = tf.moments(tf.tensor(x, dims), axes);
          return { mean: m.mean.dataSync(), variance: m.variance.dataSync() };
        });
        assertClose(k.f32(mean, C), moments.mean, 1e-5, "mean");
        assertClose(k.f32(variance, C), moments.variance, 1e-5, "variance");
        assertLikeTfjs(
          (a, g, b) => {
            const m = tf.moments(a, axes);
            return tf.batchNorm(a, m.mean, m.variance, b, g, EPS);
          },
          { dims, x, gamma, beta, dy },
          { k, y, dx, dg, db },
        );
      });
    }
  }

  it("updates moving statistics as Keras: moving − (moving − batch)·(1 − momentum)", () => {
    const moving = random(9);
    const batch = random(9, 3);
    const { k, ptrs } = place([moving, batch]);
    k.kernels.movingAverage(9, 0.9, ptrs[0], ptrs[1]);
    const expected = moving.map((m, i) => m - (m - batch[i]) * (1 - 0.9));
    assertClose(k.f32(ptrs[0], 9), expected, 1e-6, "moving average");
  });
});

describe("layer normalization over the last axis", () => {
  for (const shape of shapes) {
    for (const affine of [true, false]) {
      it(`forward, x/γ/β gradients match tfjs: ${shape.name}${affine ? "" : ", no γ or β"}`, () => {
        const { dims, C, n, rows, x, gamma, beta, dy } = normalizationCase(shape.dims, affine);
        const { k, ptrs } = place([x, gamma, beta, dy, n, rows, n, C, C, n]);
        const [px, pg, pb, pdy, xhat, invStd, y, dg, db, dx] = ptrs;
        k.kernels.layerNorm(px, rows, C, EPS, affine ? pg : 0, affine ? pb : 0, xhat, invStd, y);
        k.kernels.layerNormBackward(pdy, xhat, invStd, rows, C, affine ? pg : 0, dg, db, dx);
        assertLikeTfjs(
          (a, g, b) => {
            const m = tf.moments(a, dims.length - 1, true);
            const h = tf.mul(tf.sub(a, m.mean), tf.rsqrt(tf.add(m.variance, EPS)));
            return tf.add(tf.mul(h, g), b);
          },
          { dims, x, gamma, beta, dy },
          { k, y, dx, dg, db },
        );
      });
    }
  }

  it("equals group normalization with one group per position, to the bit (normalize.ts keeps both for speed)", () => {
    for (const shape of shapes) {
      for (const affine of [true, false]) {
        const { C, n, rows, x, gamma, beta, dy } = normalizationCase(shape.dims, affine);
        const { k, ptrs } = place([x, gamma, beta, dy, n, rows, n, C, C, n, n, rows, n, C, C, n]);
        const [px, pg, pb, pdy] = ptrs;
        const [g, b] = affine ? [pg, pb] : [0, 0];
        const [layer, group] = [ptrs.slice(4, 10), ptrs.slice(10, 16)];
        k.kernels.layerNorm(px, rows, C, EPS, g, b, layer[0], layer[1], layer[2]);
        k.kernels.layerNormBackward(pdy, layer[0], layer[1], rows, C, g, layer[3], layer[4], layer[5]);
        k.kernels.groupNorm(px, rows, 1, C, 1, EPS, g, b, group[0], group[1], group[2]);
        k.kernels.groupNormBackward(pdy, group[0], group[1], rows, 1, C, 1, g, group[3], group[4], group[5]);
        for (const [i, what] of ["x̂", "1/σ", "output", "γ gradient", "β gradient", "input gradient"].entries()) {
          const length = [n, rows, n, C, C, n][i];
          assert.deepEqual(k.f32(group[i], length), k.f32(layer[i], length), `${shape.name}: ${what}`);
        }
      }
    }
  });

  it("matches tfjs's layerNormalization layer itself (its formula, not only the one above)", () => {
    const dims = [4, 3, 2, 6];
    const n = 4 * 3 * 2 * 6;
    const x = random(n, 3, 1);
    const layer = tf.layers.layerNormalization({ epsilon: 1e-3, inputShape: [3, 2, 6] });
    const model = tf.sequential({ layers: [layer] });
    const [gamma, beta] = [random(6, 0.5, 1), random(6)];
    layer.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta)]);
    const { k, ptrs } = place([x, gamma, beta, n]);
    k.kernels.layerNorm(ptrs[0], n / 6, 6, 1e-3, ptrs[1], ptrs[2], 0, 0, ptrs[3]);
    const expected = tf.tidy(() => (model.predict(tf.tensor(x, dims)) as tf.Tensor).dataSync());
    assertClose(k.f32(ptrs[3], n), expected, 1e-5, "output");
    model.dispose();
  });
});

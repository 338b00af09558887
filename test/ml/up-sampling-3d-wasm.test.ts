import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/ml/backend.js";
import { parsePlan } from "../../src/ml/plan.js";
import { createRng } from "../../src/ml/rng.js";
import { UpSampling3D } from "../../src/ml/up-sampling-3d.js";
import { trainWith } from "../support/engines.js";
import { trainingArgs } from "./synthetic.js";

// Its own file: nodes train on tfjs's wasm backend when the kernels do not cover a plan (dp, FBM_ENGINE=tfjs),
// and gather's gradient, which upSampling3d once used, has no wasm kernel (UnsortedSegmentSum).
before(async () => {
  assert.equal(await selectBackend({ prefer: "wasm", env: {} }), "wasm");
});

describe("upSampling3d on the wasm backend", () => {
  it("repeats voxels forward and sums its copies' gradients backward", () => {
    const layer = new UpSampling3D({ size: [2, 1, 3] });
    const x = tf.tensor5d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1, 1]);
    const y = layer.apply(x) as tf.Tensor;
    assert.deepEqual(y.shape, [2, 4, 2, 3, 1]);
    assert.deepEqual(Array.from(y.dataSync()).slice(0, 12), [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2]);
    const w = tf.range(0, 48).reshape([2, 4, 2, 3, 1]);
    const grad = tf.grad((input: tf.Tensor) => (layer.apply(input) as tf.Tensor).mul(w).sum())(x);
    // Input voxel (b, z, y) collects the weights of its 2 × 3 copies: depth 2z, 2z + 1, width 0..2.
    const want: number[] = [];
    for (let b = 0; b < 2; b++)
      for (let z = 0; z < 2; z++)
        for (let y = 0; y < 2; y++) {
          let sum = 0;
          for (const d of [2 * z, 2 * z + 1]) for (let k = 0; k < 3; k++) sum += ((b * 4 + d) * 2 + y) * 3 + k;
          want.push(sum);
        }
    assert.deepEqual(Array.from(grad.dataSync()), want);
    tf.dispose([x, y, w, grad]);
  });

  it("a 3D U-Net on whole volumes trains on tfjs's general path (wasm) and its Dice loss falls", async () => {
    const plan = parsePlan({
      data: {},
      model: [
        { conv3d: { filters: 2, kernelSize: 3, activation: "relu", padding: "same" }, name: "e1" },
        { maxPooling3d: {} },
        { conv3d: { filters: 2, kernelSize: 3, activation: "relu", padding: "same" } },
        { upSampling3d: {}, name: "up" },
        { concatenate: {}, inputs: ["up", "e1"] },
        { conv3d: { filters: 1, kernelSize: 1, activation: "sigmoid" } },
      ],
      loss: "dice",
      optimizer: { name: "adam", learning_rate: 0.05 },
    });
    // Bright cubes as the lesions: the mask is the bright voxels.
    const rng = createRng(3);
    const rows = 6;
    const x = new Float32Array(rows * 64);
    const y = new Float32Array(rows * 64);
    for (let r = 0; r < rows; r++)
      for (let i = 0; i < 64; i++) {
        y[r * 64 + i] = (i >> 4) % 4 >= 2 && (i >> 2) % 4 < 2 && i % 4 !== r % 4 ? 1 : 0;
        x[r * 64 + i] = y[r * 64 + i] + 0.2 * rng.next();
      }
    const data = { x, y, rows, sampleShape: [4, 4, 4, 1], yShape: [4, 4, 4, 1] };
    const first = await trainWith("tfjs", {
      plan,
      data,
      args: trainingArgs({ epochs: 1, batchSize: 3, testRatio: 0 }),
    });
    const later = await trainWith("tfjs", {
      plan,
      data,
      args: trainingArgs({ epochs: 20, batchSize: 3, testRatio: 0 }),
    });
    assert.match(first.engine ?? "", /^tfjs/);
    assert.ok(later.trainLoss < first.trainLoss, `loss ${later.trainLoss} after 20 epochs, ${first.trainLoss} after 1`);
  });
});

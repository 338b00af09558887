import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/ml/backend.js";
import { chooseEngine } from "../../src/ml/engine/choose-engine.js";
import { buildModel, paramNames } from "../../src/ml/model.js";
import { parsePlan } from "../../src/ml/plan.js";
import { planCost, planShapes } from "../../src/ml/plan-size.js";
import { UpSampling3D } from "../../src/ml/up-sampling-3d.js";

before(() => selectBackend({ prefer: "cpu" }));

const plan = (model: unknown[], loss = "dice") =>
  parsePlan({ data: { target: "y" }, model, loss, optimizer: { name: "adam", learning_rate: 0.01 } });

/** Each new layer on a sample shape, with its expected output shape, parameters and forward FLOPs. */
const cases: [string, unknown, number[], number[], number, number][] = [
  // conv3d 3×3×3, 2 → 4 filters, valid on 6×6×6: 4×4×4×4 outputs of 54 multiply-adds.
  ["conv3d", { conv3d: { filters: 4, kernel_size: 3 } }, [6, 6, 6, 2], [4, 4, 4, 4], 27 * 2 * 4 + 4, 2 * 54 * 256],
  [
    "conv3d strided same",
    { conv3d: { filters: 3, kernel_size: [1, 3, 3], strides: 2, padding: "same", use_bias: false } },
    [5, 6, 6, 1],
    [3, 3, 3, 3],
    9 * 3,
    2 * 9 * 81,
  ],
  ["maxPooling3d", { maxPooling3d: {} }, [4, 6, 6, 2], [2, 3, 3, 2], 0, 8 * 36],
  ["averagePooling3d", { averagePooling3d: { pool_size: [1, 2, 2] } }, [4, 6, 6, 2], [4, 3, 3, 2], 0, 4 * 72],
  ["upSampling2d", { upSampling2d: { size: [2, 3] } }, [3, 3, 2], [6, 9, 2], 0, 108],
  ["upSampling2d bilinear", { upSampling2d: { interpolation: "bilinear" } }, [3, 3, 2], [6, 6, 2], 0, 72],
  ["upSampling3d", { upSampling3d: { size: [1, 2, 2] } }, [2, 3, 3, 2], [2, 6, 6, 2], 0, 144],
  // Transposed: each of 3×3×2 inputs spreads 2×2×5 multiply-adds per filter... 2·k·c·f per input position.
  [
    "conv2dTranspose",
    { conv2dTranspose: { filters: 5, kernel_size: 2, strides: 2 } },
    [3, 3, 2],
    [6, 6, 5],
    4 * 2 * 5 + 5,
    2 * 4 * 5 * 18,
  ],
  [
    "conv2dTranspose valid overlap",
    { conv2dTranspose: { filters: 1, kernel_size: 3 } },
    [4, 4, 1],
    [6, 6, 1],
    10,
    2 * 9 * 16,
  ],
  [
    "conv3dTranspose",
    { conv3dTranspose: { filters: 2, kernel_size: 2, strides: 2, padding: "same" } },
    [2, 3, 3, 1],
    [4, 6, 6, 2],
    8 * 2 + 2,
    2 * 8 * 2 * 18,
  ],
  ["layerNormalization", { layerNormalization: {} }, [3, 3, 4], [3, 3, 4], 8, 5 * 36],
  ["batchNormalization", { batchNormalization: {} }, [3, 3, 4], [3, 3, 4], 16, 5 * 36],
];

describe("3D, upsampling and transposed layers", () => {
  for (const [what, layer, input, output, params, forward] of cases) {
    it(`${what}: plan-size's shape, parameters and FLOPs match tfjs's model`, () => {
      const p = plan([layer]);
      assert.deepEqual(planShapes(p, input), [output]);
      const cost = planCost(p, input);
      assert.deepEqual(cost, { params, flops: 3 * forward });
      const model = buildModel(p, input, { seed: 3 });
      try {
        assert.deepEqual(model.outputs[0].shape.slice(1), output);
        assert.equal(model.countParams(), params);
        const x = tf.randomNormal([2, ...input], 0, 1, "float32", 4);
        const y = model.predict(x) as tf.Tensor;
        assert.deepEqual(y.shape, [2, ...output]);
        tf.dispose([x, y]);
      } finally {
        model.dispose();
      }
    });
  }

  it("refuse normalization of volumes (tf.batchNorm stops at rank 4), naming the layer", () => {
    for (const kind of ["batchNormalization", "layerNormalization"])
      assert.throws(
        () => buildModel(plan([{ conv3d: { filters: 2, kernel_size: 1 } }, { [kind]: {} }]), [2, 3, 3, 1], { seed: 1 }),
        new RegExp(
          `Cannot build the model: layer "${kind}#2" \\(${kind}\\) normalizes samples of up to 3 axes in tfjs, not volumes like \\[2, 3, 3, 2\\]$`,
        ),
      );
  });

  it("refuse a 3D layer on images and a 2D layer on volumes, naming the layer", () => {
    assert.throws(
      () => buildModel(plan([{ conv3d: { filters: 2, kernel_size: 3 } }]), [8, 8, 1], { seed: 1 }),
      /layer "conv3d#1" \(conv3d\) needs \[depth, height, width, channels\] inputs, gets \[8, 8, 1\] per sample/,
    );
    const p = plan([
      { conv2d: { filters: 2, kernel_size: 3 }, name: "a" },
      { upSampling2d: {}, inputs: ["a"] },
    ]);
    assert.equal(planCost(p, [4, 8, 8, 1]).params, 0);
    assert.throws(() => buildModel(p, [4, 8, 8, 1], { seed: 1 }));
  });

  it("upSampling3d repeats each voxel and passes summed gradients back", () => {
    const layer = new UpSampling3D({ size: [2, 1, 3] });
    const x = tf.tensor5d([1, 2, 3, 4], [1, 2, 2, 1, 1]);
    const y = layer.apply(x) as tf.Tensor;
    assert.deepEqual(y.shape, [1, 4, 2, 3, 1]);
    assert.deepEqual(
      Array.from(y.dataSync()),
      [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4],
    );
    // d(Σ w·y)/dx: each input voxel collects the weights of its 6 copies.
    const w = tf.range(0, 24).reshape([1, 4, 2, 3, 1]);
    const grad = tf.grad((input: tf.Tensor) => (layer.apply(input) as tf.Tensor).mul(w).sum())(x);
    assert.deepEqual(Array.from(grad.dataSync()), [
      0 + 1 + 2 + 6 + 7 + 8,
      3 + 4 + 5 + 9 + 10 + 11,
      12 + 13 + 14 + 18 + 19 + 20,
      15 + 16 + 17 + 21 + 22 + 23,
    ]);
    tf.dispose([x, y, w, grad]);
  });

  it("a small 3D U-Net builds, names its weights from the plan and trains on the kernels on one thread (Dice); so does a 3D sequence", () => {
    const p = plan([
      { conv3d: { filters: 2, kernel_size: 3, padding: "same", activation: "relu" }, name: "e1" },
      { maxPooling3d: {} },
      { conv3d: { filters: 4, kernel_size: 3, padding: "same", activation: "relu" } },
      { conv3dTranspose: { filters: 2, kernel_size: 2, strides: 2 }, name: "up" },
      { concatenate: {}, inputs: ["up", "e1"] },
      { conv3d: { filters: 1, kernel_size: 1, activation: "sigmoid" } },
    ]);
    const model = buildModel(p, [4, 8, 8, 1], { seed: 5 });
    try {
      assert.equal(model.countParams(), planCost(p, [4, 8, 8, 1]).params);
      assert.deepEqual(paramNames(model).slice(4, 6), ["3.conv3dTranspose.kernel", "3.conv3dTranspose.bias"]);
      const choice = chooseEngine({ model, plan: p, backend: "wasm", batchSize: 4, env: {} });
      assert.equal(choice.engine, "kernels");
      assert.ok(choice.engine === "kernels" && choice.spec.segmentation === "dice" && choice.spec.inputs);
      assert.equal(choice.threads, 1, "Dice is a whole batch's figure");
      const sequence = plan([{ conv3d: { filters: 1, kernel_size: 1, activation: "sigmoid" } }], "binaryCrossentropy");
      const flat = buildModel(
        plan(
          [{ conv3d: { filters: 1, kernel_size: 3 } }, { flatten: {} }, { dense: { units: 1, activation: "sigmoid" } }],
          "binaryCrossentropy",
        ),
        [3, 3, 3, 1],
        { seed: 1 },
      );
      // A sequence of 3D layers is the kernels' too (engine/network.ts).
      assert.equal(
        chooseEngine({ model: flat, plan: sequence, backend: "wasm", batchSize: 4, env: {} }).engine,
        "kernels",
      );
      flat.dispose();
    } finally {
      model.dispose();
    }
  });
});

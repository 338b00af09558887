import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildModel } from "../../src/ml/model.js";
import { parsePlan } from "../../src/ml/plan.js";
import { countPlanParams, planCost, sampleShapeOf } from "../../src/ml/plan-size.js";

const plan = (model: unknown[], data: Record<string, unknown> = { target: "y" }) =>
  parsePlan({ data, model, loss: "meanSquaredError", optimizer: { name: "sgd", learning_rate: 0.1 } });

describe("countPlanParams() counts a model's parameters from layer shapes alone", () => {
  const cases: [string, unknown[], number[]][] = [
    ["an MLP", [{ dense: { units: 16, activation: "relu" } }, { dense: { units: 1 } }], [4]],
    [
      "dense layers without bias",
      [{ dense: { units: 8, useBias: false } }, { dropout: { rate: 0.5 } }, { dense: { units: 2 } }],
      [5],
    ],
    [
      "batch normalization (4 per feature, moving statistics included)",
      [{ dense: { units: 6 } }, { batchNormalization: {} }, { dense: { units: 1 } }],
      [3],
    ],
    [
      "a CNN with valid padding, strides and pooling",
      [
        { conv2d: { filters: 4, kernelSize: 3, activation: "relu" } },
        { maxPooling2d: {} },
        { conv2d: { filters: 6, kernelSize: [3, 2], strides: 2, padding: "same" } },
        { averagePooling2d: { poolSize: [2, 1], strides: 1 } },
        { flatten: {} },
        { dense: { units: 3, activation: "softmax" } },
      ],
      [28, 28, 1],
    ],
    [
      "global average pooling on colour images",
      [
        { conv2d: { filters: 5, kernelSize: 5, useBias: false } },
        { batchNormalization: {} },
        { globalAveragePooling2d: {} },
        { dense: { units: 2 } },
      ],
      [16, 12, 3],
    ],
    [
      "a 3-D CNN: conv3d, pooling3d with strides and same padding",
      [
        { conv3d: { filters: 3, kernelSize: [3, 2, 2], activation: "relu" } },
        { maxPooling3d: { poolSize: 2, padding: "same" } },
        { conv3d: { filters: 4, kernelSize: 2, strides: [1, 2, 2], padding: "same", useBias: false } },
        { averagePooling3d: { poolSize: [1, 2, 2], strides: 1 } },
        { flatten: {} },
        { dense: { units: 2 } },
      ],
      [7, 9, 8, 2],
    ],
    [
      "a decoder: conv2dTranspose (same and valid) and upSampling2d",
      [
        { conv2dTranspose: { filters: 3, kernelSize: 2, strides: 2, padding: "same" } },
        { upSampling2d: { size: [2, 1] } },
        { conv2dTranspose: { filters: 2, kernelSize: [3, 2], strides: [2, 1] } },
        { flatten: {} },
        { dense: { units: 1 } },
      ],
      [5, 4, 2],
    ],
  ];
  for (const [name, layers, shape] of cases) {
    it(`${name}: the same count as TensorFlow.js's countParams()`, () => {
      const p = plan(layers);
      const model = buildModel(p, shape, { seed: 1 });
      try {
        assert.equal(countPlanParams(p, shape), model.countParams());
      } finally {
        model.dispose();
      }
    });
  }

  it("counts a huge model without allocating it", () => {
    const p = plan([{ flatten: {} }, { dense: { units: 65536 } }, { dense: { units: 65536 } }], {
      input: { height: 4096, width: 4096, channels: 3 },
    });
    assert.equal(countPlanParams(p, [4096, 4096, 3]), 4096 * 4096 * 3 * 65536 + 65536 + 65536 * 65536 + 65536);
  });

  it("stops at the first layer that does not fit its input (tfjs would fail there)", () => {
    const p = plan([
      { dense: { units: 10 } },
      { conv2d: { filters: 1000, kernelSize: 3 } },
      { dense: { units: 1000 } },
    ]);
    assert.equal(countPlanParams(p, [4]), 4 * 10 + 10);
  });
});

describe("planCost() estimates a training sample's FLOPs from layer shapes alone", () => {
  it("an MLP: 2 per multiply-add forward, 3 × forward with the backward pass", () => {
    const p = plan([{ dense: { units: 16, activation: "relu" } }, { dense: { units: 1 } }]);
    assert.deepEqual(planCost(p, [4]), { params: 4 * 16 + 16 + 16 + 1, flops: 3 * (2 * 4 * 16 + 2 * 16 * 1) });
    // The real input width decides: 1,000 one-hot inputs cost 250 times the 4.
    assert.equal(planCost(p, [1000]).flops, 3 * (2 * 1000 * 16 + 2 * 16 * 1));
  });

  it("a CNN: conv multiply-adds per output element, pooling windows, flatten free", () => {
    const p = plan([
      { conv2d: { filters: 4, kernelSize: 3 } }, // 26 × 26 × 4 outputs, 3 × 3 × 1 multiply-adds each
      { maxPooling2d: {} }, // 13 × 13 × 4 outputs, a 2 × 2 window each
      { flatten: {} },
      { dense: { units: 3 } },
    ]);
    const forward = 2 * 9 * 26 * 26 * 4 + 4 * 13 * 13 * 4 + 2 * 13 * 13 * 4 * 3;
    assert.equal(planCost(p, [28, 28, 1]).flops, 3 * forward);
    assert.equal(planCost(p, [28, 28, 1]).params, countPlanParams(p, [28, 28, 1]));
  });
});

describe("sampleShapeOf() is the per-sample input a plan sees on a catalogued dataset", () => {
  const csv = {
    type: "csv",
    shape: [100, 4],
    columns: ["a", "b", "c", "y"].map((name) => ({ name, dtype: "float64" })),
  };
  it("csv: every column but the target, or the plan's features", () => {
    assert.deepEqual(sampleShapeOf(plan([{ dense: { units: 1 } }]), csv), [3]);
    assert.deepEqual(sampleShapeOf(plan([{ dense: { units: 1 } }], { target: "y", features: ["a"] }), csv), [1]);
  });
  it("images: the plan's input size, else the dataset's image size", () => {
    const images = { type: "idx", shape: [60000, 28, 28, 1], columns: [] };
    assert.deepEqual(sampleShapeOf(plan([{ flatten: {} }]), images), [28, 28, 1]);
    assert.deepEqual(
      sampleShapeOf(plan([{ flatten: {} }], { input: { height: 8, width: 9, channels: 3 } }), images),
      [8, 9, 3],
    );
  });
});

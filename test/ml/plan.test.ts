import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonicalJson } from "../../src/common/canonical-json.js";
import { InputError } from "../../src/common/errors.js";
import { isClassification, parsePlan, planId, planJson, planLayers } from "../../src/ml/plan.js";

const plan = {
  data: { target: "diagnosis", normalize: "standard" },
  model: [
    { dense: { units: 16, activation: "relu" } },
    { dropout: { rate: 0.1 } },
    { dense: { units: 1, activation: "sigmoid" } },
  ],
  loss: "binaryCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.05 },
};

/** The same object with every key order reversed, at every depth. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reversed(v)]),
    );
  }
  return value;
}

describe("plan id", () => {
  it("is the sha256 of the canonical JSON, stable under key order", () => {
    const a = parsePlan(plan);
    const b = parsePlan(reversed(plan));
    assert.equal(JSON.stringify(reversed(plan)) === JSON.stringify(plan), false);
    assert.equal(planJson(a), planJson(b));
    assert.equal(planId(a), planId(b));
    assert.match(planId(a), /^[0-9a-f]{64}$/);
  });

  it("of a sequential plan is what it was before graph plans existed", () => {
    // Computed on main before layers could carry name, inputs and trainable: approvals stay valid.
    assert.equal(planId(parsePlan(plan)), "0a024dee6104e649eed07b98f163da7c223e4c9cd6fbc30b271ce4733d8fbd6e");
  });

  it("changes when anything in the plan changes, including layer order", () => {
    const base = planId(parsePlan(plan));
    assert.notEqual(planId(parsePlan({ ...plan, optimizer: { name: "sgd", learning_rate: 0.051 } })), base);
    assert.notEqual(planId(parsePlan({ ...plan, model: [...plan.model].reverse() })), base);
  });

  it("sorts keys at every depth and drops undefined", () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: undefined } }),
      '{"a":{"d":[3,{"e":2,"f":1}]},"b":1}',
    );
  });
});

describe("parsePlan", () => {
  it("fills defaults and lists layers with their options", () => {
    const p = parsePlan({
      ...plan,
      data: { target: "y" },
      model: [{ flatten: null }, { dense: { units: 2, activation: "softmax" } }],
      loss: "categoricalCrossentropy",
    });
    assert.equal(p.data.normalize, "none");
    assert.deepEqual(planLayers(p), [
      { name: "flatten", options: {}, label: "flatten#1", inputs: [-1], trainable: true },
      { name: "dense", options: { units: 2, activation: "softmax" }, label: "dense#2", inputs: [0], trainable: true },
    ]);
    assert.equal(isClassification(p), true);
    assert.equal(isClassification(parsePlan({ ...plan, loss: "meanSquaredError" })), false);
  });

  it("accepts volume and decoder layers, sizes as one number or one per axis, options in either spelling", () => {
    const p = parsePlan({
      ...plan,
      model: [
        { conv3d: { filters: 2, kernel_size: [3, 3, 1], strides: 1, padding: "same" } },
        { maxPooling3d: null },
        { maxPooling3d: { pool_size: [1, 2, 2] } },
        { averagePooling3d: { poolSize: 2, strides: [1, 1, 2] } },
        { flatten: {} },
        { dense: { units: 1 } },
      ],
    });
    const { name, options } = planLayers(p)[0];
    assert.deepEqual(
      { name, options },
      {
        name: "conv3d",
        options: { filters: 2, kernelSize: [3, 3, 1], strides: 1, padding: "same" },
      },
    );
    const decoder = parsePlan({
      ...plan,
      model: [{ conv2dTranspose: { filters: 2, kernelSize: 2, strides: [2, 1] } }, { upSampling2d: { size: [2, 3] } }],
    });
    assert.deepEqual(
      planLayers(decoder).map((l) => l.name),
      ["conv2dTranspose", "upSampling2d"],
    );
  });

  const bad: [string, unknown, RegExp][] = [
    [
      "a 3-D kernel given two sizes",
      { ...plan, model: [{ conv3d: { filters: 2, kernelSize: [3, 3] } }] },
      /plan\.model\[0\]\.conv3d\.kernelSize: /,
    ],
    ["an unknown layer", { ...plan, model: [{ lstm: { units: 4 } }] }, /plan\.model\[0\]: unknown layer "lstm"/],
    [
      "an unknown option",
      { ...plan, model: [{ dense: { units: 4, kernelRegularizer: "l2" } }] },
      /plan\.model\[0\]\.dense: unknown key "kernelRegularizer"/,
    ],
    [
      "two layers in one entry",
      { ...plan, model: [{ dense: { units: 4 }, dropout: { rate: 0.1 } }] },
      /plan\.model\[0\]: a layer is one key/,
    ],
    ["a wrong option type", { ...plan, model: [{ dense: { units: "many" } }] }, /plan\.model\[0\]\.dense\.units: /],
    [
      "an activation that is not allowed",
      { ...plan, model: [{ dense: { units: 4, activation: "eval" } }] },
      /plan\.model\[0\]\.dense\.activation: /,
    ],
    ["an unknown loss", { ...plan, loss: "hinge" }, /plan\.loss: /],
    ["an unknown optimizer", { ...plan, optimizer: { name: "lbfgs", learning_rate: 1 } }, /plan\.optimizer\.name: /],
    [
      "a negative learning rate",
      { ...plan, optimizer: { name: "sgd", learning_rate: -1 } },
      /plan\.optimizer\.learning_rate: /,
    ],
    ["an unknown top-level key", { ...plan, code: "import os" }, /unknown key "code"/],
    ["an empty model", { ...plan, model: [] }, /plan\.model: /],
  ];
  for (const [what, value, message] of bad) {
    it(`rejects ${what} with an InputError naming the key path`, () => {
      assert.throws(
        () => parsePlan(value),
        (e: unknown) => e instanceof InputError && message.test(e.message),
      );
    });
  }
});

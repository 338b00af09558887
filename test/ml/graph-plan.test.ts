import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/common/errors.js";
import { buildModel, getParams, paramNames, setParams } from "../../src/ml/model.js";
import { isGraphPlan, parsePlan, planId, planLayers } from "../../src/ml/plan.js";
import { checkPlanShapes, planCost, planShapes } from "../../src/ml/plan-size.js";

/** A two-level U-Net on 8×8 single-channel images: skip connections by concatenation. */
export const unetModel = [
  { conv2d: { filters: 4, kernel_size: 3, padding: "same", activation: "relu" }, name: "enc1" },
  { maxPooling2d: { pool_size: 2 }, name: "down1" },
  { conv2d: { filters: 8, kernel_size: 3, padding: "same", activation: "relu" }, name: "bottom" },
  { upSampling2d: { size: 2 }, name: "up1" },
  { concatenate: {}, name: "skip1", inputs: ["up1", "enc1"] },
  { conv2d: { filters: 4, kernel_size: 3, padding: "same", activation: "relu" }, name: "dec1" },
  { conv2d: { filters: 1, kernel_size: 1, activation: "sigmoid" }, name: "mask" },
];

const plan = (model: unknown[], loss = "dice") =>
  parsePlan({
    data: { target: "y" },
    model,
    loss,
    optimizer: { name: "adam", learning_rate: 0.01 },
  });

function error(model: unknown[]): string {
  try {
    plan(model);
  } catch (e) {
    assert.ok(e instanceof InputError);
    return e.message;
  }
  assert.fail("the plan was accepted");
}

describe("graph plans", () => {
  it("resolve inputs by name, the previous layer by default", () => {
    const p = plan(unetModel);
    assert.equal(isGraphPlan(p), true);
    assert.deepEqual(
      planLayers(p).map((l) => [l.label, l.inputs]),
      [
        ["enc1", [-1]],
        ["down1", [0]],
        ["bottom", [1]],
        ["up1", [2]],
        ["skip1", [3, 0]],
        ["dec1", [4]],
        ["mask", [5]],
      ],
    );
    // Names alone, or inputs naming the layer before, keep the plan a sequence.
    assert.equal(
      isGraphPlan(
        plan([
          { dense: { units: 2 }, name: "a" },
          { dense: { units: 1 }, inputs: ["a"] },
        ]),
      ),
      false,
    );
  });

  it("hash names and inputs", () => {
    const named = plan(unetModel);
    const renamed = plan(
      unetModel
        .map((l) => (l.name === "enc1" ? { ...l, name: "e1" } : l))
        .map((l) => (l.inputs ? { ...l, inputs: ["up1", "e1"] } : l)),
    );
    assert.notEqual(planId(named), planId(renamed));
  });

  const bad: [string, unknown[], RegExp][] = [
    [
      "an unknown input",
      [
        { dense: { units: 2 }, name: "a" },
        { dense: { units: 1 }, inputs: ["b"] },
      ],
      /plan\.model\[1\]\.inputs: layer "dense#2" \(dense\) reads "b", which no earlier layer is named/,
    ],
    [
      "a cycle",
      [
        { dense: { units: 2 }, name: "a", inputs: ["b"] },
        { dense: { units: 1 }, name: "b" },
      ],
      /plan\.model\[0\]\.inputs: layer "a" \(dense\) reads "b", a later layer: .*no cycles/,
    ],
    [
      "a join of one input",
      [
        { dense: { units: 2 }, name: "a" },
        { add: {}, inputs: ["a"] },
      ],
      /plan\.model\[1\]\.inputs: layer "add#2" \(add\) joins layers: give inputs naming two or more/,
    ],
    [
      "two inputs to a dense layer",
      [
        { dense: { units: 2 }, name: "a" },
        { dense: { units: 1 }, inputs: ["a", "input"] },
      ],
      /layer "dense#2" \(dense\) reads one input/,
    ],
    [
      "a duplicate name",
      [
        { dense: { units: 2 }, name: "a" },
        { dense: { units: 1 }, name: "a" },
      ],
      /plan\.model\[1\]\.name: layer "a" \(dense\) has the name of layer 1/,
    ],
    [
      "a dangling layer",
      [
        { dense: { units: 2 }, name: "a" },
        { dense: { units: 3 }, inputs: ["input"] },
      ],
      /plan\.model\[0\]: layer "a" \(dense\) is read by no later layer/,
    ],
    ["the input's name", [{ dense: { units: 2 }, name: "input" }], /plan\.model\[0\]\.name: .*names the model's input/],
    ["a bad trainable", [{ dense: { units: 2 }, trainable: "no" }], /plan\.model\[0\]\.trainable/],
  ];
  for (const [what, model, message] of bad) {
    it(`refuse ${what} with one line naming the layer`, () => {
      const text = error(model);
      assert.match(text, message);
      assert.equal(text.includes("\n"), false, text);
    });
  }

  it("refuse joins of unequal shapes, naming the layer", () => {
    const p = plan([
      { conv2d: { filters: 4, kernel_size: 3 }, name: "a" },
      { conv2d: { filters: 4, kernel_size: 3, padding: "same" }, name: "b", inputs: ["input"] },
      { concatenate: {}, inputs: ["a", "b"] },
    ]);
    assert.throws(
      () => checkPlanShapes(p, [8, 8, 1]),
      (e) =>
        e instanceof InputError &&
        /layer "concatenate#3" \(concatenate\) joins \[6, 6, 4\] and \[8, 8, 4\]/.test(e.message),
    );
    assert.throws(
      () => buildModel(p, [8, 8, 1], { seed: 1 }),
      (e) => e instanceof InputError && /^Cannot build the model: layer "concatenate#3"/.test(e.message),
    );
    const add = plan([
      { dense: { units: 4 }, name: "a" },
      { dense: { units: 3 }, name: "b", inputs: ["input"] },
      { add: {}, inputs: ["a", "b"] },
    ]);
    assert.throws(() => checkPlanShapes(add, [5]), /layer "add#3" \(add\) adds \[4\] and \[3\]/);
  });

  it("count parameters and shapes as tfjs builds them", () => {
    const p = plan(unetModel);
    const shapes = planShapes(p, [8, 8, 1]);
    assert.deepEqual(shapes.at(-1), [8, 8, 1]);
    assert.deepEqual(shapes[4], [8, 8, 12]);
    const model = buildModel(p, [8, 8, 1], { seed: 1 });
    try {
      assert.equal(planCost(p, [8, 8, 1]).params, model.countParams());
      assert.deepEqual(model.outputs[0].shape, [null, 8, 8, 1]);
    } finally {
      model.dispose();
    }
  });

  it("name parameters from the plan, the same in every build and process", () => {
    const p = plan(unetModel);
    // Other models built first move tfjs's global name counters; the names must not move with them.
    tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [2] })] }).dispose();
    const a = buildModel(p, [8, 8, 1], { seed: 7 });
    const b = buildModel(p, [8, 8, 1], { seed: 7 });
    try {
      assert.deepEqual(paramNames(a), [
        "0.conv2d.kernel",
        "0.conv2d.bias",
        "2.conv2d.kernel",
        "2.conv2d.bias",
        "5.conv2d.kernel",
        "5.conv2d.bias",
        "6.conv2d.kernel",
        "6.conv2d.bias",
      ]);
      assert.deepEqual(paramNames(a), paramNames(b));
      assert.deepEqual(getParams(a), getParams(b));
      const changed = getParams(a).map((t) => ({ ...t, data: t.data.map((v) => v + 1) as Float32Array }));
      setParams(b, changed);
      assert.deepEqual(getParams(b), changed);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it("build a ResNet block with add", () => {
    const p = plan(
      [
        { conv2d: { filters: 4, kernel_size: 3, padding: "same", activation: "relu" }, name: "stem" },
        { conv2d: { filters: 4, kernel_size: 3, padding: "same", activation: "relu" }, name: "c1" },
        { batchNormalization: {}, name: "bn" },
        { add: {}, name: "res", inputs: ["bn", "stem"] },
        { globalAveragePooling2d: {} },
        { dense: { units: 2, activation: "softmax" } },
      ],
      "categoricalCrossentropy",
    );
    const model = buildModel(p, [6, 6, 1], { seed: 2 });
    try {
      assert.equal(planCost(p, [6, 6, 1]).params, model.countParams());
      assert.ok(paramNames(model).includes("2.batchNormalization.moving_mean"));
    } finally {
      model.dispose();
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePlan } from "../../../src/ml/plan.js";
import { planInput } from "../../../src/ml/plan-input.js";
import { commonInput } from "../../../src/researcher/run/sample-shape.js";
import type { DatasetInfo } from "../../../src/wire/index.js";

describe("inputs across nodes", () => {
  const plan = parsePlan({
    data: { target: "y" },
    model: [{ dense: { units: 1 } }],
    loss: "meanSquaredError",
    optimizer: { name: "sgd", learning_rate: 0.1 },
  });
  const csv = (columns: string[]): DatasetInfo => ({
    id: "d",
    name: "d",
    type: "csv",
    tags: [],
    description: "",
    shape: [10, columns.length],
    sampleCount: 10,
    columns: columns.map((name) => ({ name, dtype: "float64" })),
    classes: [],
    target: "y",
    createdAt: "",
  });

  it("uses every column but the target as features", () => {
    assert.deepEqual(planInput(plan, csv(["a", "y", "b"])), { sampleShape: [2], features: ["a", "b"] });
  });

  it("leaves out the columns in drop, and refuses augment on a csv", () => {
    const dropping = parsePlan({ ...plan, data: { target: "y", drop: ["id"] } });
    assert.deepEqual(planInput(dropping, csv(["id", "a", "y", "b"])), { sampleShape: [2], features: ["a", "b"] });
    const augmenting = parsePlan({ ...plan, data: { target: "y", augment: { flip: "horizontal" } } });
    assert.throws(() => planInput(augmenting, csv(["a", "y"])), /plan.data.augment applies to image and idx datasets/);
  });

  it("refuses nodes whose columns differ, naming both", () => {
    assert.throws(
      () =>
        commonInput(plan, [
          { name: "north", dataset: csv(["a", "b", "y"]) },
          { name: "south", dataset: csv(["a", "c", "y"]) },
        ]),
      /Node south's dataset "d" has inputs \[a, c\] but north's has \[a, b\]/,
    );
  });
});

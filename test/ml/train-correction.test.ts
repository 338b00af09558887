import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { selectBackend } from "../../src/ml/backend.js";
import { trainLocal } from "../../src/ml/train.js";
import { logisticPlan, separableData, trainingArgs } from "./synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));

describe("trainLocal with a SCAFFOLD gradient correction", () => {
  const data = separableData(40);
  const plan = logisticPlan(); // sgd, learning_rate 0.1, no momentum
  const args = trainingArgs({ updates: 1, epochs: 0, batchSize: 8, testRatio: 0 });

  it("shifts an SGD step by exactly −lr × correction on the corrected weights only", async () => {
    const plain = await trainLocal({ plan, data, args });
    const correction = plain.params
      .filter((p) => p.name.startsWith("1.dense"))
      .map((p) => ({ ...p, data: Float32Array.from(p.data, (_, i) => (i % 2 ? 0.5 : -0.25)) }));
    const corrected = await trainLocal({ plan, data, args, gradientCorrection: correction });
    assert.equal(corrected.steps, 1);
    for (const p of corrected.params) {
      const before = plain.params.find((q) => q.name === p.name)!;
      const c = correction.find((q) => q.name === p.name);
      // Both runs take their one step from the same weights with the same batch: only −0.1 × c differs.
      p.data.forEach((v, i) => {
        assert.ok(Math.abs(v - before.data[i] - (c ? -0.1 * c.data[i] : 0)) < 1e-6, `${p.name}[${i}]`);
      });
    }
  });

  it("refuses a correction whose shape does not match its weight", async () => {
    await assert.rejects(
      trainLocal({
        plan,
        data,
        args,
        gradientCorrection: [{ name: "1.dense.bias", shape: [3], dtype: "float32", data: new Float32Array(3) }],
      }),
      /correction "1.dense.bias" has shape \[3\]/,
    );
  });
});

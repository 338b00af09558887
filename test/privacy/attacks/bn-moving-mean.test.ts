import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { attackPlan, createTrainingNode, type TrainingNode } from "../../support/training-node.js";

// 20 patients, three measurements each with 4 decimals: no two rows alike.
const rows = Array.from({ length: 20 }, (_, i) => [
  Number((40 + i * 1.2345).toFixed(4)),
  Number((120 + i * 3.1234).toFixed(4)),
  Number((5 + ((i * 7) % 11) * 0.5123).toFixed(4)),
  i % 2,
]);

describe("attack: batch normalization's moving mean under local DP", () => {
  let node: TrainingNode;
  before(async () => {
    node = await createTrainingNode({ header: ["age", "sbp", "ldl", "label"], rows });
  });
  after(() => node.close());

  it("the curious researcher sends momentum ~0, batch 1, one update: the node refuses the plan, no row comes back", async () => {
    const plan = attackPlan(
      [{ batchNormalization: { momentum: 1e-9 } }, { dense: { units: 1, activation: "sigmoid" } }],
      "binaryCrossentropy",
    );
    const { reply } = await node.train({
      plan,
      args: { batchSize: 1, updates: 1, dp: { mode: "local", noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 } },
    });
    // Before the fix the reply was a trained model whose 0.batchNormalization.moving_mean was one patient's row.
    if (reply.kind === "train") {
      const mean = reply.result.params.find((p) => p.name === "0.batchNormalization.moving_mean");
      const leaked = rows.find((row) => mean && row.slice(0, 3).every((v, i) => Math.abs(mean.data[i] - v) < 1e-3));
      assert.equal(leaked, undefined, `the moving mean is patient row [${leaked}]`);
    }
    assert.equal(reply.kind, "error");
    assert.ok(reply.kind === "error");
    assert.equal(reply.code, "dp_unsupported");
    assert.match(reply.message, /layer 0 \(batchNormalization\)/);
    assert.match(reply.message, /layerNormalization/);
  });

  it("central DP is refused the same way (the node's update is only clipped; the statistics are not)", async () => {
    const plan = attackPlan(
      [{ batchNormalization: { momentum: 0.5 } }, { dense: { units: 1, activation: "sigmoid" } }],
      "binaryCrossentropy",
    );
    const { reply } = await node.train({
      plan,
      args: { dp: { mode: "central", noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 } },
    });
    assert.equal(reply.kind === "error" && reply.code, "dp_unsupported");
  });

  it("the alternative, layerNormalization, trains under local DP and returns only trained weights", async () => {
    const plan = attackPlan(
      [{ layerNormalization: {} }, { dense: { units: 1, activation: "sigmoid" } }],
      "binaryCrossentropy",
    );
    const { reply } = await node.train({
      plan,
      args: { batchSize: 4, updates: 3, dp: { mode: "local", noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 } },
    });
    assert.equal(reply.kind, "train", reply.kind === "error" ? reply.message : "");
    assert.ok(reply.kind === "train");
    assert.deepEqual(
      reply.result.params.map((p) => p.name),
      ["0.layerNormalization.gamma", "0.layerNormalization.beta", "1.dense.kernel", "1.dense.bias"],
    );
  });
});

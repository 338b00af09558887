import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { attackPlan, createTrainingNode, type TrainingNode } from "../../support/training-node.js";

// 20 patients; the label (say a lab value) has 4 decimals and no two alike.
const rows = Array.from({ length: 20 }, (_, i) => [i % 3, (i * 7) % 5, Number((3.1 + i * 0.2371).toFixed(4))]);
const labels = rows.map((r) => r[2]);
const dp = { mode: "local" as const, noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 };
// All-zero weights: every prediction is 0, so the squared error of a row is its label squared.
const plan = attackPlan([{ dense: { units: 1, kernelInitializer: "zeros" } }], "meanSquaredError", 0.01);

describe("attack: the loss and metrics of a DP round", () => {
  let node: TrainingNode;
  before(async () => {
    node = await createTrainingNode({ header: ["sex", "stage", "label"], rows });
  });
  after(() => node.close());

  it("batch 1, one update, zero weights: the reply and the progress carry no loss from which a label follows", async () => {
    const { reply, feedback } = await node.train({ plan, args: { batchSize: 1, updates: 1, dp } });
    assert.equal(reply.kind, "train", reply.kind === "error" ? reply.message : "");
    assert.ok(reply.kind === "train");
    const losses = [reply.result.trainLoss, ...feedback.map((f) => (f.kind === "progress" ? f.loss : undefined))];
    for (const loss of losses) {
      // Before the fix trainLoss was y² of the sampled patient, to the float.
      const label = loss === undefined ? undefined : labels.find((y) => Math.abs(Math.sqrt(loss) - y) < 1e-4);
      assert.equal(label, undefined, `the loss ${loss} gives away the label ${label}`);
    }
    assert.equal(reply.result.trainLoss, undefined);
    assert.ok(feedback.length > 0, "the node reported progress");
    for (const f of feedback) assert.equal(f.kind === "progress" && "loss" in f, false);
    // What may leave: the DP parameters and the ledger's ε.
    assert.ok(reply.result.privacy && reply.result.privacy.epsilon > 0);
  });

  it("the metrics of the trained model on the node's test rows are withheld too (local and central DP)", async () => {
    for (const mode of ["local", "central"] as const) {
      const { reply } = await node.train({
        plan,
        args: { batchSize: 2, updates: 1, testRatio: 0.25, testOnLocal: true, dp: { ...dp, mode } },
      });
      assert.ok(reply.kind === "train", reply.kind === "error" ? reply.message : "");
      assert.equal(reply.result.localMetrics, undefined, mode);
      assert.equal(reply.result.trainLoss, undefined, mode);
    }
  });

  it("without dp the loss and metrics are released as before", async () => {
    const { reply } = await node.train({
      plan,
      args: { batchSize: 2, updates: 1, testRatio: 0.25, testOnLocal: true },
    });
    assert.ok(reply.kind === "train");
    assert.equal(typeof reply.result.trainLoss, "number");
    assert.ok(reply.result.localMetrics);
  });
});

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { attackPlan, createTrainingNode, type TrainingNode } from "../../support/training-node.js";

// 20 rows; the caps of a node whose operator set max_updates 500, max_epochs 50, max_task_seconds 0.2.
const rows = Array.from({ length: 20 }, (_, i) => [i % 3, (i * 7) % 5, i % 2]);
const plan = attackPlan([{ dense: { units: 1, activation: "sigmoid" } }], "binaryCrossentropy", 0.1);
const limits = { maxUpdates: 500, maxEpochs: 50, maxTaskSeconds: 0.2 };

describe("attack: a train task that keeps the hospital's machine busy for days", () => {
  let node: TrainingNode;
  let generous: TrainingNode;
  before(async () => {
    node = await createTrainingNode({ header: ["a", "b", "label"], rows }, { limits });
    generous = await createTrainingNode(
      { header: ["a", "b", "label"], rows },
      { limits: { ...limits, maxUpdates: 1e9 } },
    );
  });
  after(async () => {
    await node.close();
    await generous.close();
  });

  it("updates 1e8 is refused at once with task_too_large, naming the config key", async () => {
    const started = performance.now();
    const { reply, feedback } = await node.train({ plan, args: { updates: 1e8, batchSize: 1 } });
    assert.ok(reply.kind === "error", reply.kind);
    assert.equal(reply.code, "task_too_large");
    assert.match(reply.message, /100,000,000 optimizer steps, more than this node's max_updates 500/);
    assert.match(reply.message, /fbm-node config set max_updates N/);
    assert.equal(feedback.length, 0, "nothing was trained");
    assert.ok(performance.now() - started < 5000);
  });

  it("epochs past max_epochs, and epochs × batches past max_updates, are refused too", async () => {
    const many = await node.train({ plan, args: { updates: 0, epochs: 51, batchSize: 20 } });
    assert.ok(many.reply.kind === "error" && many.reply.code === "task_too_large");
    assert.match(many.reply.message, /51 epochs, more than this node's max_epochs 50/);
    // 30 epochs of batch 1 on 20 rows: 600 steps, past 500; 25 epochs (500 steps) is the cap itself and runs.
    const steps = await node.train({ plan, args: { updates: 0, epochs: 30, batchSize: 1 } });
    assert.ok(steps.reply.kind === "error" && steps.reply.code === "task_too_large");
    assert.match(steps.reply.message, /600 optimizer steps/);
    const within = await node.train({ plan, args: { updates: 0, epochs: 25, batchSize: 1 } });
    assert.equal(within.reply.kind, "train", within.reply.kind === "error" ? within.reply.message : "");
  });

  it("a task running past max_task_seconds is aborted with task_timeout", async () => {
    const { reply } = await generous.train({ plan, args: { updates: 10_000_000, batchSize: 1 } });
    assert.ok(reply.kind === "error", reply.kind);
    assert.equal(reply.code, "task_timeout");
    assert.match(reply.message, /max_task_seconds \(0.2 s\) and was stopped/);
  });

  it("the operator's bounds on batch size, test_ratio and DP σ refuse a task outside them with task_out_of_bounds", async () => {
    const bounded = await createTrainingNode(
      { header: ["a", "b", "label"], rows },
      {
        limits: {
          ...limits,
          maxTaskSeconds: 60,
          minBatchSize: 4,
          maxBatchSize: 10,
          minTestRatio: 0.2,
          minDpSigma: 0.8,
        },
      },
    );
    try {
      const dp = { mode: "local" as const, noiseMultiplier: 0.5, clipNorm: 1, delta: 1e-5 };
      const cases: [Parameters<TrainingNode["train"]>[0]["args"], RegExp][] = [
        [
          { batchSize: 1, testRatio: 0.2 },
          /batch size 1, below this node's min_batch_size 4.*config set min_batch_size N/,
        ],
        [{ batchSize: 11, testRatio: 0.2 }, /batch size 11, above this node's max_batch_size 10/],
        [{ batchSize: 4, testRatio: 0.1 }, /test_ratio 0.1, below this node's min_test_ratio 0.2/],
        [
          { batchSize: 4, testRatio: 0.2, dp },
          /local DP with noise multiplier 0.5, below this node's min_dp_sigma 0.8/,
        ],
      ];
      for (const [args, message] of cases) {
        const { reply, feedback } = await bounded.train({ plan, args });
        assert.ok(reply.kind === "error", JSON.stringify(args));
        assert.equal(reply.code, "task_out_of_bounds");
        assert.match(reply.message, message);
        assert.equal(feedback.length, 0, "nothing was trained");
      }
      const within = await bounded.train({
        plan,
        args: { batchSize: 4, testRatio: 0.2, dp: { ...dp, noiseMultiplier: 0.8 } },
      });
      assert.equal(within.reply.kind, "train", within.reply.kind === "error" ? within.reply.message : "");
    } finally {
      await bounded.close();
    }
  });

  it("a task past max_task_flops (the plan's FLOPs per sample × batch × steps) is refused", async () => {
    // Two inputs into one unit: 3 × 2 × 2 = 12 FLOPs a training sample, 4 a validated one (20 rows: 80).
    const capped = await createTrainingNode(
      { header: ["a", "b", "label"], rows },
      { limits: { ...limits, maxTaskFlops: 12 * 4 * 100 + 80 } },
    );
    try {
      const over = await capped.train({ plan, args: { updates: 101, batchSize: 4 } });
      assert.ok(over.reply.kind === "error" && over.reply.code === "task_too_large", over.reply.kind);
      assert.match(over.reply.message, /about 4\.93e\+3 FLOPs, more than this node's max_task_flops 4\.88e\+3/);
      const at = await capped.train({ plan, args: { updates: 100, batchSize: 4 } });
      assert.equal(at.reply.kind, "train", at.reply.kind === "error" ? at.reply.message : "");
    } finally {
      await capped.close();
    }
  });
});

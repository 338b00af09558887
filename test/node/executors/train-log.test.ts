import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { attackPlan, createTrainingNode } from "../../support/training-node.js";

describe("the node's round log line", () => {
  const rows = Array.from({ length: 64 }, (_, i) => [i % 7, (i * 3) % 5, i % 2]);
  const node = createTrainingNode({ header: ["a", "b", "label"], rows });
  after(async () => (await node).close());

  it("names the round's seconds, engine and the process's CPU seconds (every thread) over the round", async () => {
    const n = await node;
    const plan = attackPlan([{ dense: { units: 2, activation: "softmax" } }], "sparseCategoricalCrossentropy", 0.1);
    await n.train({ plan, args: { updates: 50, batchSize: 8 } });
    const line = n.logs.find((l) => l.startsWith("Round 1: trained on"));
    assert.ok(line, n.logs.join("\n"));
    const match = /\(64 samples\) in ([\d.]+) s \(([^)]+)\), ([\d.]+) s of CPU, loss [\d.]+$/.exec(line);
    assert.ok(match, line);
    // The round builds a network and runs 50 steps: some CPU time, and a figure, not a placeholder.
    assert.ok(Number(match[3]) > 0, line);
  });
});

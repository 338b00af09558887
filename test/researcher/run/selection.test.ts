import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { selectNodes, weightedMetrics } from "../../../src/researcher/run/selection.js";

const nodes = ["e", "a", "d", "c", "b", "f", "g", "h", "i", "j"].map((node) => ({ node }));

describe("selectNodes", () => {
  it("takes every node at sample 1.0, sorted by id", () => {
    assert.deepEqual(
      selectNodes(nodes, { sample: 1, min: 1, seed: 1, round: 1 })
        .map((n) => n.node)
        .join(""),
      "abcdefghij",
    );
  });

  it("takes ceil(sample × nodes), never fewer than min", () => {
    assert.equal(selectNodes(nodes, { sample: 0.25, min: 1, seed: 1, round: 1 }).length, 3);
    assert.equal(selectNodes(nodes, { sample: 0.1, min: 4, seed: 1, round: 1 }).length, 4);
  });

  it("draws the same nodes for the same seed and round (a resumed run), others for other rounds", () => {
    const pick = (round: number, seed = 7) =>
      selectNodes(nodes, { sample: 0.3, min: 1, seed, round })
        .map((n) => n.node)
        .join("");
    assert.equal(pick(3), pick(3));
    const rounds = new Set([1, 2, 3, 4, 5, 6].map((r) => pick(r)));
    assert.ok(rounds.size > 1, "sampling varies across rounds");
    assert.notEqual([1, 2, 3, 4].map((r) => pick(r, 7)).join(), [1, 2, 3, 4].map((r) => pick(r, 8)).join());
  });
});

describe("weightedMetrics", () => {
  it("weights each node's metrics by its test samples and skips missing values", () => {
    const m = weightedMetrics([
      { values: { accuracy: 0.5, auc: 0.6 }, samples: 10 },
      { values: { accuracy: 1 }, samples: 30 },
      { values: undefined, samples: 50 },
      { values: { accuracy: 0 }, samples: 0 },
    ]);
    assert.deepEqual(m, { accuracy: (0.5 * 10 + 30) / 40, auc: 0.6 });
  });

  it("is undefined when no node reported metrics", () => {
    assert.equal(weightedMetrics([{ values: undefined, samples: 3 }]), undefined);
  });
});

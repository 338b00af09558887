import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closestMatch, editDistance } from "../../src/common/did-you-mean.js";

describe("editDistance()", () => {
  const cases: [string, string, number][] = [
    ["", "", 0],
    ["rounds", "rounds", 0],
    ["round", "rounds", 1],
    ["roudns", "rounds", 1],
    ["rnuods", "rounds", 2],
    ["tags", "", 4],
    ["Epochs", "epochs", 0],
    ["kitten", "sitting", 3],
  ];
  for (const [a, b, expected] of cases)
    it(`counts ${expected} edit(s) from "${a}" to "${b}", a swap of neighbours as one`, () => {
      assert.equal(editDistance(a, b), expected);
      assert.equal(editDistance(b, a), expected);
    });
});

describe("closestMatch()", () => {
  const keys = ["name", "tags", "rounds", "nodes", "plan", "training", "aggregator"];
  it("finds the key a typo stands for", () => {
    assert.equal(closestMatch("trainig", keys), "training");
    assert.equal(closestMatch("agregator", keys), "aggregator");
    assert.equal(closestMatch("node", keys), "nodes");
  });
  it("matches camelCase to snake_case and back", () => {
    assert.equal(closestMatch("batchSize", ["batch_size", "seed"]), "batch_size");
    assert.equal(closestMatch("kernel_size", ["kernelSize", "filters"]), "kernelSize");
  });
  it("suggests nothing when no key is close", () => {
    assert.equal(closestMatch("colour", keys), undefined);
    assert.equal(closestMatch("xy", ["name"]), undefined);
    assert.equal(closestMatch("anything", []), undefined);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkLabels } from "../../src/ml/losses.js";
import { createRng } from "../../src/ml/rng.js";

/**
 * The median heap growth of `run` over 30 calls: a round's per-row work must leave no garbage (issue 28:
 * ~1.4 MiB a round of a node at 60,000 rows, collected during the next round's steps). The median, not
 * one call: a collection (negative growth) or the first, unoptimized calls may fall in any one.
 */
function medianGrowth(run: () => void): number {
  const growth: number[] = [];
  for (let call = 0; call < 30; call++) {
    const before = process.memoryUsage().heapUsed;
    run();
    growth.push(process.memoryUsage().heapUsed - before);
  }
  return growth.sort((a, b) => a - b)[growth.length >> 1];
}

describe("per-row work of a round leaves no garbage", () => {
  const rows = 60_000;

  it("checks 60,000 class labels without boxing each one (findIndex did: ~940 KiB a call)", () => {
    const y = Float32Array.from({ length: rows }, (_, i) => i % 10);
    assert.ok(medianGrowth(() => checkLabels("sparseCategoricalCrossentropy", y, 10)) < 64 * 1024);
    // Still finds a bad label.
    y[rows - 1] = 10;
    assert.throws(() => checkLabels("sparseCategoricalCrossentropy", y, 10), /label 10 on row 60000/);
  });

  it("shuffles 60,000 row indices without boxing the generator's state (~470 KiB a call before)", () => {
    const rng = createRng(1);
    const order = Int32Array.from({ length: rows }, (_, i) => i);
    assert.ok(medianGrowth(() => rng.shuffle(order)) < 64 * 1024);
  });
});

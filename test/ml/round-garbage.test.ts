import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkLabels } from "../../src/ml/losses.js";
import { createRng } from "../../src/ml/rng.js";
import { copyByteRows } from "../../src/ml/rows.js";

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

  it("hands a round's worker rows over as bytes without a view per row (~0.6 MiB a round of 200 steps before)", () => {
    const width = 784;
    const stored = 1000;
    const values = Uint8Array.from({ length: stored * width }, (_, i) => (i * 31) & 255);
    const batch = Int32Array.from({ length: 64 }, (_, i) => (i * 389) % stored);
    const into = new Uint8Array(batch.length * width);
    const round = () => {
      for (let step = 0; step < 200; step++) copyByteRows(values, batch, 32, width, into);
    };
    assert.ok(medianGrowth(round) < 64 * 1024);
    // Rows 32… land at their places in the batch; the rows before are the training thread's, left alone.
    for (const r of [31, 32, 45, 63]) {
      const expected = r < 32 ? new Uint8Array(width) : values.subarray(batch[r] * width, (batch[r] + 1) * width);
      assert.deepEqual(into.subarray(r * width, (r + 1) * width), expected);
    }
    // Rows whose width is not a whole number of words, and a misaligned view, are copied byte by byte.
    const odd = values.subarray(1, 1 + 10 * 7);
    const out = new Uint8Array(3 * 7);
    copyByteRows(odd, Int32Array.of(4, 9, 0), 1, 7, out);
    assert.deepEqual([...out], [...new Uint8Array(7), ...odd.subarray(63, 70), ...odd.subarray(0, 7)]);
  });
});
